"""The REST channel (``POST /webhooks/rest/webhook``) with its input checked.

Rasa's own ``rest`` channel passes whatever JSON it gets to the dialogue: a body that is
a list or not JSON fails with a 500, a missing or numeric ``message`` is answered with an
empty list after a traceback in the log, a missing ``sender`` puts the message in one
conversation named "default" shared by every such caller, and a message of any length
goes through the NLU pipeline. This channel answers those with a 4xx and a JSON
``{"error": ...}``, applies the web chat's limits (2,000 characters, control characters
and lone surrogates dropped, small metadata only, the flood limit per ``sender``) and
otherwise behaves like Rasa's (same URL, same reply format, ``?stream=true``).
Registered in credentials.yml.

Over the flood limit (bot/channels/guard.py, the web chat's settings) a message gets a
429 with the reason and a ``Retry-After``, unless it has to be answered: a crisis found by
the model's NLU (its crisis screen, bot/crisis/decide.py), a message that could not be
screened, or a "no" right after the crisis reply's "Are you safe right now?".
"""
from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple, Union

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from bot import rasa_patches
from bot.privacy import logmask
from bot.channels import guard
from bot.channels.guard import MAX_MESSAGE_CHARS
from bot.crisis import decide

logger = logging.getLogger(__name__)

MAX_SENDER_CHARS = 128
MAX_BODY_BYTES = 64 * 1024


class BadInput(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def read_message(body: bytes) -> Dict[str, Any]:
    """sender, message and metadata of a webhook body, or BadInput saying what is wrong."""
    if len(body or b"") > MAX_BODY_BYTES:
        raise BadInput(f"the request body is larger than {MAX_BODY_BYTES} bytes", 413)
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadInput("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadInput('the request body must be a JSON object: {"sender": "...", "message": "..."}')
    sender, text = data.get("sender"), data.get("message")
    if not isinstance(sender, str) or not guard.clean_text(sender).strip():
        raise BadInput('"sender" must be a non-empty string (the conversation id)')
    if len(sender) > MAX_SENDER_CHARS or guard.clean_text(sender) != sender:
        raise BadInput(f'"sender" must be at most {MAX_SENDER_CHARS} characters, without control characters')
    if not isinstance(text, str):
        raise BadInput('"message" must be a string')
    if len(text) > MAX_MESSAGE_CHARS:
        raise BadInput(f'"message" is longer than {MAX_MESSAGE_CHARS} characters', 413)
    text = guard.clean_text(text).strip()
    if not text:
        raise BadInput('"message" is empty')
    return {"sender": sender, "message": text, "metadata": guard.clean_metadata(data.get("metadata"))}


async def must_answer(agent, sender: str, text: str) -> bool:
    """Whether a message over the flood limit is answered anyway (see the module's text): a
    crisis, a message that could not be screened, or a "no" right after the suicide reply's
    "Are you safe right now?" (the conversation's last bot messages say so)."""
    parse = await guard.parse(agent, text)
    if decide.is_crisis(parse):
        return True
    if not decide.says_no(parse, text):
        return False
    try:
        tracker = await agent.tracker_store.retrieve(sender)
    except Exception:
        logger.exception("could not read the conversation to screen a message over the flood limit")
        return True
    return tracker is not None and decide.asked_if_safe(turns(tracker))


def turns(tracker) -> List[Tuple[str, Optional[str]]]:
    """(role, escalation tier) of a conversation's visitor and bot messages, oldest first."""
    from rasa.shared.core.events import BotUttered, UserUttered

    return [("visitor", None) if isinstance(e, UserUttered) else ("bot", decide.escalation_tier(e.data))
            for e in tracker.events if isinstance(e, (UserUttered, BotUttered))]


class CheckedRestInput(rasa_patches.InstallPatches, RestInput):
    def __init__(self) -> None:
        super().__init__()
        self.flood = guard.FloodLimit.from_env()

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook = Blueprint("helpline_rest_webhook", __name__)
        # the log handlers Sanic adds when the server starts get the masking filter too
        webhook.listener("before_server_start")(lambda *_: logmask.install())

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> Union[ResponseStream, HTTPResponse]:
            try:
                message = read_message(request.body)
            except BadInput as bad:
                return response.json({"error": str(bad)}, status=bad.status)
            if not self.flood.allow(message["sender"]) and not await must_answer(
                    getattr(request.app.ctx, "agent", None), message["sender"], message["message"]):
                retry = max(1, round(self.flood.seconds / self.flood.messages))
                return response.json({"error": guard.FLOOD_REPLY, "reason": "flood"}, status=429,
                                     headers={"Retry-After": str(retry)})
            if bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(on_new_message, message["message"], message["sender"], self.name(),
                                         message["metadata"]),
                    content_type="text/event-stream",
                )
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(message["message"], collector, message["sender"],
                                                 input_channel=self.name(), metadata=message["metadata"]))
            except Exception:  # as Rasa's channel: what was sent so far, the rest in the log
                logger.exception("could not handle a message of %s", message["sender"])
            return response.json(collector.messages)

        return webhook
