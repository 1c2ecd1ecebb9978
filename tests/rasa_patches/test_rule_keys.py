"""The rule look-up that stops early finds the rules Rasa's own finds (bot/rasa_patches/rule_keys.py)."""
import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.policies.rule_policy import RulePolicy

from bot.rasa_patches import rule_keys
from tests.conftest import run_async
from tests.rasa_patches.test_graph_runner import MESSAGES, MODEL


@pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model (make train)")
def test_the_early_stop_finds_the_same_rules_on_the_projects_model(monkeypatch):
    compared = []

    def both(self, lookup, states):
        theirs = rule_keys._rasa_get_possible_keys(self, lookup, states)
        ours = rule_keys.get_possible_keys(self, lookup, states)
        # the same keys in the same order: the policy takes the first of the longest
        assert list(ours) == list(theirs), f"after {len(states)} states"
        compared.append((len(states), len(theirs), max(len(self._rule_key_to_state(k)) for k in lookup)))
        return ours

    monkeypatch.setattr(RulePolicy, "_get_possible_keys", both)

    async def talk():
        agent = Agent.load(str(MODEL))
        for visitor in ("visitor-1", "visitor-2"):
            for text in MESSAGES + ["/restart"] + MESSAGES[:4]:
                await agent.handle_message(UserMessage(text, CollectingOutputChannel(), visitor))

    run_async(talk())
    assert len(compared) > 50
    assert any(found for _, found, _ in compared), "no rule ever matched: the comparison proves nothing"
    # conversations longer than the longest rule: the case where the walk stops early
    assert any(states > longest for states, _, longest in compared)


def test_install_puts_it_in_place(monkeypatch):
    monkeypatch.setattr(RulePolicy, "_get_possible_keys", rule_keys._rasa_get_possible_keys)
    rule_keys.install()
    assert RulePolicy._get_possible_keys is rule_keys.get_possible_keys


def test_the_order_of_equally_long_keys_is_rasas():
    """Sets of keys built anew once per state, as Rasa builds them: ties between equally long
    rules go the same way."""
    import json
    import random

    policy = object.__new__(RulePolicy)
    chooser = random.Random(7)
    differ = 0
    for _ in range(300):
        # rules that differ only in slots a conversation never sets: they all match, so the
        # longest ones tie
        lookup = {json.dumps([{"prev_action": {"action_name": "action_listen"}, "user": {"intent": "greet"},
                               "slots": {f"slot_{n}": "should_not_be_set"}}] * chooser.randint(1, 3)): f"utter_{n}"
                  for n in range(chooser.randint(2, 64))}
        states = [{"prev_action": {"action_name": "action_listen"}, "user": {"intent": "greet"}}
                  for _ in range(chooser.randint(1, 12))]
        ours = rule_keys.get_possible_keys(policy, lookup, states)
        theirs = rule_keys._rasa_get_possible_keys(policy, lookup, states)
        assert list(ours) == list(theirs)
        differ += list(stopped_without_rebuilding(policy, lookup, states)) != list(theirs)
    assert differ, "no case where building the set again changes its order: the test proves nothing"


def stopped_without_rebuilding(policy, lookup, states):
    keys = set(lookup)
    for i, state in enumerate(reversed(states)):
        if all(len(policy._rule_key_to_state(key)) <= i for key in keys):
            break
        keys = set(filter(lambda _key: policy._is_rule_applicable(_key, i, state), keys))
    return keys
