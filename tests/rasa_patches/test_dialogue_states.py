"""Dialogue states from the kept replay equal Rasa's, call by call (bot/rasa_patches/dialogue_states.py)."""
import copy

import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, DefinePrevUserUtteredFeaturization, EntitiesAdded, SlotSet,
                                     UserUttered, UserUtteranceReverted)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_patches import dialogue_states
from tests.conftest import run_async
from tests.rasa_patches.test_graph_runner import MESSAGES, MODEL

# a form (callback), a handoff, a crisis, a restart, an undone message and the same question twice
VISITS = [MESSAGES, ["hi", "/restart", "is klonopin addictive", "is klonopin addictive", "/back", "thanks"]]


@pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model (make train)")
def test_every_call_gives_rasas_states_on_the_projects_model(monkeypatch):
    compared, resumed, hidden = [], [], []
    original_points = dialogue_states._points

    def points(domain, tracker, omit_unset_slots):
        replay = (getattr(tracker, dialogue_states.REPLAY, None) or {}).get(omit_unset_slots)
        if replay is not None and replay.applied:
            resumed.append(len(replay.applied))
        return original_points(domain, tracker, omit_unset_slots)

    def both(self, tracker, omit_unset_slots=False, ignore_rule_only_turns=False, rule_only_data=None):
        args = (omit_unset_slots, ignore_rule_only_turns, rule_only_data)
        theirs = dialogue_states._rasa_states_for_tracker_history(self, tracker, *args)
        ours = dialogue_states.states_for_tracker_history(self, tracker, *args)
        assert ours == theirs, f"after {len(tracker.events)} events, {args}"
        compared.append(len(theirs))
        hidden.extend(e for e in tracker.events if isinstance(e, ActionExecuted) and e.hide_rule_turn)
        return ours

    monkeypatch.setattr(dialogue_states, "_points", points)
    monkeypatch.setattr(Domain, "states_for_tracker_history", both)

    async def talk():
        agent = Agent.load(str(MODEL))
        for number, visit in enumerate(VISITS):
            for text in visit:
                await agent.handle_message(UserMessage(text, CollectingOutputChannel(), f"visitor-{number}"))

    run_async(talk())
    assert len(compared) > 50 and max(compared) > 10
    assert resumed, "no call replayed only the new events"
    assert hidden, "no rule-only turn: the hidden-turn handling was not compared"


def test_an_undone_message_or_a_new_slot_value_is_seen():
    domain = Domain.from_yaml("""
intents: [greet, bye]
entities: [person]
slots:
  topic: {type: text, mappings: [{type: custom}]}
actions: [utter_hi]
responses: {utter_hi: [{text: hi}]}
""")
    tracker = DialogueStateTracker.from_events("v", [ActionExecuted("action_listen"),
                                                     UserUttered("hi", {"name": "greet", "confidence": 1.0})],
                                               slots=domain.slots)

    def check():
        for ignore in (False, True):
            assert (dialogue_states.states_for_tracker_history(domain, tracker, ignore_rule_only_turns=ignore)
                    == dialogue_states._rasa_states_for_tracker_history(domain, tracker,
                                                                         ignore_rule_only_turns=ignore))

    check()
    for event in (ActionExecuted("utter_hi"), SlotSet("topic", "rehab"), ActionExecuted("action_listen"),
                  UserUttered("bye", {"name": "bye", "confidence": 1.0}), UserUtteranceReverted(),
                  UserUttered("hi", {"name": "greet", "confidence": 1.0})):
        tracker.update(event)
        check()
    # events that change the last user message in place (as an action returning a message may)
    for event in (ActionExecuted("action_listen"), UserUttered("my son", {"name": "greet", "confidence": 1.0}),
                  ActionExecuted("action_listen"), DefinePrevUserUtteredFeaturization(False),
                  EntitiesAdded([{"entity": "person", "value": "son", "start": 3, "end": 6}])):
        tracker.update(event)
        check()
    # a copy of the tracker does not take the replay with it
    assert copy.deepcopy(tracker).__dict__[dialogue_states.REPLAY] == {False: None}
    check()


def test_install_puts_it_in_place(monkeypatch):
    monkeypatch.setattr(Domain, "states_for_tracker_history", dialogue_states._rasa_states_for_tracker_history)
    dialogue_states.install()
    assert Domain.states_for_tracker_history is dialogue_states.states_for_tracker_history
