"""When the action server cannot answer, run the custom action inside the Rasa server.

Rasa 3.6 waits up to 300 s for the action server and, when it is down or fails, logs the
error and drops the action: a visitor who asked for a person would get no answer, and no
handoff or callback would be recorded. Installed when Rasa makes any of the project's channels
(bot/rasa_patches/__init__.py), this changes what a remote action does:

1. the action server gets ``HELPLINE_ACTION_TIMEOUT`` seconds (default 5; it normally
   answers in milliseconds);
2. when it cannot be reached, times out or fails, the same action runs in this process
   (rasa-sdk's executor over the project's ``actions`` package, in a worker thread so its
   database calls do not hold up other conversations), so the handoff or the callback is
   still recorded and the visitor gets the usual reply;
3. when that fails too, an action that must never be silent sends a fixed reply with the
   phone lines (``LAST_RESORT``).

A rejection by the action server (a form slot that did not validate) is not a failure and
passes through unchanged.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, List, Optional

from rasa.core.actions.action import ActionBotResponse, ActionExecutionRejection, RemoteAction
from rasa.shared.core import events as rasa_events
from rasa.shared.exceptions import RasaException

from bot import config

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
ACTIONS_PACKAGE = "actions"
# actions whose failure would leave the visitor without an answer, and the reply they get then
LAST_RESORT = {
    "action_request_handoff": "utter_handoff_unavailable",
    "action_submit_callback": "utter_handoff_unavailable",
}

_original_run = RemoteAction.run
_executor = None
_executor_lock = threading.Lock()


def action_timeout() -> float:
    """HELPLINE_ACTION_TIMEOUT (bot/config.py), else DEFAULT_TIMEOUT."""
    return config.action_timeout(DEFAULT_TIMEOUT)


def install() -> None:
    """Make every remote action time out early and fall back to this process (idempotent)."""
    RemoteAction.run = _run_with_fallback


def _local_executor():
    global _executor
    with _executor_lock:
        if _executor is None:
            from rasa_sdk.executor import ActionExecutor

            executor = ActionExecutor()
            executor.register_package(ACTIONS_PACKAGE)
            _executor = executor
        return _executor


def _run_in_thread(call: dict) -> Optional[dict]:
    """Run one action call with rasa-sdk in a fresh event loop (called in a worker thread)."""
    from rasa_sdk.interfaces import ActionExecutionRejection as SdkRejection

    try:
        return asyncio.run(_local_executor().run(call))
    except SdkRejection as rejection:
        raise ActionExecutionRejection(rejection.action_name, rejection.message) from rejection


async def _run_with_fallback(self: RemoteAction, output_channel, nlg, tracker, domain) -> List[Any]:
    timeout = action_timeout()
    try:
        return await asyncio.wait_for(_original_run(self, output_channel, nlg, tracker, domain), timeout)
    except ActionExecutionRejection:
        raise
    except asyncio.TimeoutError:
        logger.error("The action server did not answer '%s' within %s s; running it in the Rasa server",
                     self.name(), timeout)
    except RasaException as problem:  # connection refused, HTTP 5xx, bad response
        logger.error("The action server failed on '%s' (%s); running it in the Rasa server", self.name(), problem)

    try:
        call = self._action_call_format(tracker, domain)
        result = await asyncio.to_thread(_run_in_thread, call)
        self._validate_action_result(result)
        bot_messages = await self._utter_responses(result.get("responses", []), output_channel, nlg, tracker)
        return list(bot_messages) + rasa_events.deserialise_events(result.get("events", []))
    except ActionExecutionRejection:
        raise
    except Exception:
        logger.exception("Running '%s' in the Rasa server failed too", self.name())
        reply = LAST_RESORT.get(self.name())
        if reply is None:
            raise
        return await ActionBotResponse(reply).run(output_channel, nlg, tracker, domain)
