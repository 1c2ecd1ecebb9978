"""Rasa's rule look-up, stopped once no rule reaches further back.

To predict an action, ``RulePolicy._get_possible_keys`` keeps the rules that match the
conversation's states, walking back from the latest state to the first one. A rule of n
states matches any state older than its n-th, so once every rule left is shorter than the
distance walked, the rest of the walk keeps every key: Rasa still checks each of them
against each older state (a conversation of 40 states and 60 rules: 2,400 checks per
prediction, three or four predictions per message). ``_get_possible_keys`` below stops
checking there and returns the same set, in the same order (tests/rasa_patches/test_rule_keys.py
compares the two).

``install()``: through bot/rasa_patches/__init__.py.
"""
from __future__ import annotations

from typing import Any, Dict, List, Set, Text

from rasa.core.policies.rule_policy import RulePolicy

_rasa_get_possible_keys = RulePolicy._get_possible_keys


def get_possible_keys(self: RulePolicy, lookup: Dict[Text, Text], states: List[Dict[Text, Any]]) -> Set[Text]:
    possible_keys = set(lookup.keys())
    lengths = {key: len(self._rule_key_to_state(key)) for key in possible_keys}
    for i, state in enumerate(reversed(states)):
        if all(lengths[key] <= i for key in possible_keys):
            # Rasa's check keeps every one of them, but Rasa builds the set anew for each state,
            # and a set built again can iterate in another order; the rule policy takes the
            # first of the longest keys (max), so the set is built as often as Rasa builds it
            possible_keys = set(key for key in possible_keys)
        else:
            possible_keys = set(filter(lambda _key: self._is_rule_applicable(_key, i, state), possible_keys))
    return possible_keys


def install() -> None:
    RulePolicy._get_possible_keys = get_possible_keys  # type: ignore[assignment]
