"""Rasa's steps for answering a message, replaced by faster ones that give the same results.

Each module says what it replaces and has a test comparing it with Rasa's own on the
project's model:

- ``bot/graph_runner.py``: the model's graph run in a plain loop instead of through dask;
- ``bot/rule_keys.py``: the rule look-up stops once no rule reaches further back;
- ``bot/dialogue_states.py``: the dialogue states replayed once per message, not five times.

``install()`` is called by the web chat channel when a server starts and by
``bot.rasa_cli`` for the commands that serve or test a model; training is unchanged.
"""
from __future__ import annotations

from bot import dialogue_states, graph_runner, rule_keys


def install() -> None:
    graph_runner.install()
    rule_keys.install()
    dialogue_states.install()
