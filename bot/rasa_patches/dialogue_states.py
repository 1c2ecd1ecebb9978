"""The dialogue states of a conversation, replayed once per message instead of five times.

Before each prediction Rasa's policies turn the conversation into one state per action
(``Domain.states_for_tracker_history``): a fresh copy of the tracker replays every event
of the session and the state is read off before each action. Per message that happens
five times on the project's policies (the rule and memoization policies, after the
visitor's message and again after the answer), each from the first event.

``states_for_tracker_history`` below keeps, on the tracker, the replay and the state read
at each action. A later call on the same tracker replays only the events added since,
when the events applied before are still the same objects in the same order (an undone
message or a restart changes them, and two events change an earlier message in place: the
replay then starts again from the first event). Each
call gets fresh copies of the states and runs Rasa's own loop over them, so callers may
change what they get, as they do; tests/rasa_patches/test_dialogue_states.py compares every call with
Rasa's function on the project's model.

``install()``: through bot/rasa_patches/__init__.py (serving and testing a model; training is unchanged).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text, Tuple

import rasa.shared.core.constants as constants
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import (ActionExecuted, DefinePrevUserUtteredFeaturization, EntitiesAdded, Event)
from rasa.shared.core.trackers import DialogueStateTracker

_rasa_states_for_tracker_history = Domain.states_for_tracker_history
REPLAY = "_helpline_replay"
# events that change the visitor's last message itself (the object other events hold): the
# states read before them are read again
CHANGE_A_USER_MESSAGE = (DefinePrevUserUtteredFeaturization, EntitiesAdded)

# at an action: the state, its hide_rule_turn, whether the turn keeps the previous turn's
# hidden flag (a follow-up action or the active loop's own action), the previous action
Point = Tuple[State, bool, bool, Optional[Dict[Text, Any]]]


class _Replay:
    """The replay of one tracker for one domain and slot setting (kept out of copies)."""

    def __init__(self, domain: Domain, tracker: DialogueStateTracker) -> None:
        self.domain = domain
        self.tracker = tracker.init_copy()
        self.applied: List[Event] = []
        self.points: List[Point] = []

    def __deepcopy__(self, memo: Dict) -> None:
        return None

    def __copy__(self) -> None:
        return None

    def __reduce__(self) -> Tuple:
        return (type(None), ())


def _point(domain: Domain, tracker: DialogueStateTracker, omit_unset_slots: bool, hide: bool) -> Point:
    return (domain.get_active_state(tracker, omit_unset_slots=omit_unset_slots), hide,
            bool(tracker.followup_action) or tracker.latest_action_name == tracker.active_loop_name,
            tracker.latest_action)


def _points(domain: Domain, tracker: DialogueStateTracker, omit_unset_slots: bool) -> List[Point]:
    """What Rasa's ``generate_all_prior_trackers`` gives, read at each action and at the end."""
    replays = getattr(tracker, REPLAY, None)
    if not isinstance(replays, dict):
        replays = {}
        setattr(tracker, REPLAY, replays)
    applied = tracker.applied_events()
    replay = replays.get(omit_unset_slots)
    if (replay is None or replay.domain is not domain or len(applied) < len(replay.applied)
            or any(old is not new for old, new in zip(replay.applied, applied))
            or any(isinstance(event, CHANGE_A_USER_MESSAGE) for event in applied[len(replay.applied):])):
        replay = replays[omit_unset_slots] = _Replay(domain, tracker)
    for event in applied[len(replay.applied):]:
        if isinstance(event, ActionExecuted):
            replay.points.append(_point(domain, replay.tracker, omit_unset_slots, event.hide_rule_turn))
        replay.tracker.update(event)
    replay.applied = applied
    return [*replay.points, _point(domain, replay.tracker, omit_unset_slots, False)]


def _fresh(value: Optional[Dict[Text, Any]]) -> Optional[Dict[Text, Any]]:
    return dict(value) if value is not None else None


def states_for_tracker_history(self: Domain, tracker: DialogueStateTracker, omit_unset_slots: bool = False,
                               ignore_rule_only_turns: bool = False,
                               rule_only_data: Optional[Dict[Text, Any]] = None) -> List[State]:
    """Rasa's ``Domain.states_for_tracker_history``, on the kept replay (see above)."""
    states: List[State] = []
    last_ml_action_sub_state = None
    turn_was_hidden = False
    for state, hide_rule_turn, keeps_hidden, previous_action in _points(self, tracker, omit_unset_slots):
        if ignore_rule_only_turns:
            if not turn_was_hidden:
                last_ml_action_sub_state = _fresh(previous_action)
            if not keeps_hidden:
                turn_was_hidden = hide_rule_turn
            if turn_was_hidden:
                continue
        state = {state_type: dict(sub_state) for state_type, sub_state in state.items()}
        if ignore_rule_only_turns:
            self._remove_rule_only_features(state, rule_only_data)
            if states:
                self._substitute_rule_only_user_input(state, states[-1])
            if last_ml_action_sub_state:
                state[constants.PREVIOUS_ACTION] = last_ml_action_sub_state
        states.append(self._clean_state(state))
    return states


def install() -> None:
    Domain.states_for_tracker_history = states_for_tracker_history  # type: ignore[assignment]
