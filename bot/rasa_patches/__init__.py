"""Where this project replaces a step of Rasa 3.6's own code, and why. Each module says what it
replaces and has a test against Rasa's own code (tests/rasa_patches/):

- ``action_fallback``: ``RemoteAction.run``: an action server that is down, hangs or fails no
  longer leaves the visitor without an answer; the action runs in this process instead;
- ``graph_runner``: ``DaskGraphRunner``: the model's graph run in a plain loop, not through dask;
- ``rule_keys``: ``RulePolicy._get_possible_keys``: the rule look-up stops once no rule reaches
  further back;
- ``dialogue_states``: ``Domain.states_for_tracker_history``: the dialogue states replayed once
  per message, not five times;
- ``event_classes``: ``Event.resolve_by_type``: an event's class looked up once, not for each
  event read back;
- and the log handlers get the masking filter (bot/privacy/logmask.py).

The speed-ups give the same results as Rasa's code (``make bench`` measures them). ``install()``
puts them all in place (idempotent). It is called in one place for the servers: constructing
any of the project's input channels (``InstallPatches``, the base of the web chat and the REST
channel), which Rasa does from credentials.yml when a server starts, whichever channels a
deployment lists. ``bot.ops.rasa_cli`` calls it too for `rasa test` and `rasa shell`, which make
no channel of the project's, so the conversation tests run the code the servers run. Training
is unchanged.
"""
from __future__ import annotations

from typing import Any

from bot.privacy import logmask
from bot.rasa_patches import action_fallback, dialogue_states, event_classes, graph_runner, rule_keys


def install() -> None:
    action_fallback.install()
    graph_runner.install()
    rule_keys.install()
    dialogue_states.install()
    event_classes.install()
    logmask.install()


class InstallPatches:
    """Base of the project's input channels: making one installs the patches (see above), in
    ``__new__`` so that a channel's own ``__init__`` cannot leave it out."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        install()
        return super().__new__(cls)
