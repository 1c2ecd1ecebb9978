"""What the web chat accepts from a visitor: clean text, at a human pace.

- ``clean_text``: control characters (NUL and the like) are dropped and lone surrogates
  (half an emoji, which no database or log file can store) replaced, so odd input
  cannot break the transcript, the conversation store or the logs. Text direction
  marks, zero-width joiners and emoji are kept: they are part of real messages.
- ``FloodLimit``: a token bucket per conversation. A visitor may send a burst of
  ``HELPLINE_FLOOD_MESSAGES`` (default 8) messages, then one every
  ``HELPLINE_FLOOD_SECONDS / HELPLINE_FLOOD_MESSAGES`` seconds (default 10 s / 8 =
  1.25 s). A message over the limit is not answered: the visitor gets one notice
  (``FLOOD_REPLY``, with the emergency lines) at most every ``HELPLINE_FLOOD_SECONDS``.
  ``HELPLINE_FLOOD_MESSAGES=0`` turns the limit off.
- ``must_answer``: a message over the limit is still screened for crisis by the loaded
  model's NLU (its crisis screen, bot/crisis/decide.py, runs last); a crisis is answered
  as usual, never dropped.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional

from bot import config
from bot.crisis import decide

if TYPE_CHECKING:
    from bot.channels.webchat import WebChatInput

logger = logging.getLogger(__name__)

MESSAGES_ENV, SECONDS_ENV = config.FLOOD_MESSAGES, config.FLOOD_SECONDS
DEFAULT_MESSAGES = 8
DEFAULT_SECONDS = 10.0
MAX_MESSAGE_CHARS = 2000    # a visitor message, on every channel; longer is refused
MAX_TRACKED = 50_000        # conversations remembered; full buckets are forgotten first
MAX_METADATA_CHARS = 4000   # a message's metadata, as JSON; larger is dropped

EMERGENCY_LINES = "If this is an emergency call 911; for suicidal thoughts call or text 988."
FLOOD_REPLY = ("You're sending messages faster than I can read them, so I skipped some of them. "
               "Please wait a few seconds, then send what you wanted to say again. " + EMERGENCY_LINES)
UNREADABLE_REPLY = "Sorry, I couldn't read that message. Please type it again."
NO_SESSION_REPLY = "Please reload the page to start a new chat."

# C0 and C1 control characters but tab and newline; lone UTF-16 surrogates
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """The message without control characters or lone surrogates (replaced by U+FFFD)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", text))


def clean_metadata(metadata: Any) -> Dict[str, Any]:
    """A message's metadata as a small JSON object, else {} (it is stored with the message)."""
    if isinstance(metadata, str):
        if len(metadata) > MAX_METADATA_CHARS:
            return {}
        try:
            metadata = json.loads(metadata)
        except (ValueError, RecursionError):
            return {}
    if not isinstance(metadata, dict):
        return {}
    try:
        encoded = json.dumps(metadata)  # escapes lone surrogates: storable
    except (TypeError, ValueError, RecursionError):
        return {}
    return metadata if len(encoded) <= MAX_METADATA_CHARS else {}


class FloodLimit:
    """Token buckets keyed by conversation id (not by connection: a reconnect keeps its bucket)."""

    def __init__(self, messages: int = DEFAULT_MESSAGES, seconds: float = DEFAULT_SECONDS,
                 clock: Callable[[], float] = time.monotonic, max_tracked: int = MAX_TRACKED) -> None:
        self.messages = max(0, int(messages))
        self.seconds = float(seconds) if seconds > 0 else DEFAULT_SECONDS
        self.rate = self.messages / self.seconds  # tokens per second
        self.clock = clock
        self.max_tracked = max_tracked
        self._buckets: Dict[str, List[float]] = {}  # key -> [tokens, updated, last notice]

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "FloodLimit":
        return cls(config.flood_setting(MESSAGES_ENV, DEFAULT_MESSAGES, int, env),
                   config.flood_setting(SECONDS_ENV, DEFAULT_SECONDS, float, env))

    @property
    def enabled(self) -> bool:
        return self.messages > 0

    def allow(self, key: str) -> bool:
        """Take one message from the key's bucket; False when it is empty."""
        if not self.enabled:
            return True
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_tracked:
                self._forget(now)
            bucket = self._buckets[key] = [float(self.messages), now, float("-inf")]
        bucket[0] = min(float(self.messages), bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return True
        return False

    def notice_due(self, key: str) -> bool:
        """Whether to tell the visitor about the limit now: once per HELPLINE_FLOOD_SECONDS."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return True
        now = self.clock()
        if now - bucket[2] < self.seconds:
            return False
        bucket[2] = now
        return True

    def _forget(self, now: float) -> None:
        """Drop the buckets that have filled up again (they would start full anyway); if that is
        not enough, the fuller half: a conversation being limited keeps its empty bucket."""
        level = {k: tokens + (now - updated) * self.rate for k, (tokens, updated, _) in self._buckets.items()}
        for key in [k for k, tokens in level.items() if tokens >= self.messages]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_tracked:
            for key in sorted(self._buckets, key=level.__getitem__, reverse=True)[:len(self._buckets) // 2]:
                del self._buckets[key]


async def parse(agent: Any, text: str) -> Optional[Dict[str, Any]]:
    """The loaded model's NLU of a message (crisis rules included), without touching any
    conversation; None when there is no ready model or it fails."""
    if agent is None or not agent.is_ready():
        return None
    try:
        return await agent.parse_message(text)
    except Exception:
        logger.exception("could not parse a message outside the dialogue")
        return None


async def must_answer(channel: "WebChatInput", conversation_id: str, text: str) -> bool:
    """Whether a message over the flood limit has to be answered anyway: a crisis.

    The same screen as during a handoff: the loaded model's NLU with its crisis rules
    (and the classifier's second net), plus a "no" to the suicide reply's "Are you safe
    right now?". When the message cannot be screened it is answered.
    """
    parse: Optional[Dict[str, Any]] = await channel.parse(text)
    if decide.is_crisis(parse):
        return True
    try:
        return await channel.hub.answers_safety_question_with_no(conversation_id, text, parse, recorded=False)
    except Exception:
        logger.exception("could not read the transcript to screen a message over the flood limit")
        return True
