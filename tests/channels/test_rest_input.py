"""The REST webhook's input checks (bot/channels/rest.py), without a server."""
from __future__ import annotations

import asyncio
import json

import pytest

from bot.channels.rest import MAX_BODY_BYTES, BadInput, must_answer, read_message


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_a_normal_message_is_read_and_cleaned():
    message = read_message(body(sender="me", message="  hi\x00 there \ud83d ", metadata={"a": 1}))
    assert message == {"sender": "me", "message": "hi there \ufffd", "metadata": {"a": 1}}


@pytest.mark.parametrize("raw, status, words", [
    (b"", 400, "not valid JSON"),
    (b"{bad", 400, "not valid JSON"),
    (b"\xff\xfe\x00\x01", 400, "not valid JSON"),
    (b"[" * 20_000 + b"]" * 20_000, 400, "not valid JSON"),
    (b"x" * (MAX_BODY_BYTES + 1), 413, "larger than"),
    (b"[]", 400, "JSON object"),
    (b"null", 400, "JSON object"),
    (b"42", 400, "JSON object"),
    (body(message="hi"), 400, '"sender"'),
    (body(sender=None, message="hi"), 400, '"sender"'),
    (body(sender=42, message="hi"), 400, '"sender"'),
    (body(sender="", message="hi"), 400, '"sender"'),
    (body(sender="x" * 129, message="hi"), 400, '"sender"'),
    (body(sender="a\x00b", message="hi"), 400, '"sender"'),
    (body(sender="a\ud800", message="hi"), 400, '"sender"'),
    (body(sender="me"), 400, '"message" must be a string'),
    (body(sender="me", message=None), 400, '"message" must be a string'),
    (body(sender="me", message=["hi"]), 400, '"message" must be a string'),
    (body(sender="me", message={"text": "hi"}), 400, '"message" must be a string'),
    (body(sender="me", message=""), 400, '"message" is empty'),
    (body(sender="me", message=" \x00\x01 "), 400, '"message" is empty'),
    (body(sender="me", message="x" * 2001), 413, "longer than 2000"),
])
def test_bad_input_is_refused_with_a_reason(raw, status, words):
    with pytest.raises(BadInput) as refused:
        read_message(raw)
    assert refused.value.status == status and words in str(refused.value)


class FakeAgent:
    def __init__(self, parse=None, ready=True, fails=False):
        self.parse, self.ready, self.fails = parse, ready, fails

    def is_ready(self):
        return self.ready

    async def parse_message(self, text):
        if self.fails:
            raise RuntimeError("the model broke")
        return self.parse


class FakeTrackerStore:
    def __init__(self, events=(), fails=False) -> None:
        self.events, self.fails = list(events), fails

    async def retrieve(self, sender):
        if self.fails:
            raise RuntimeError("the database is down")
        from rasa.shared.core.trackers import DialogueStateTracker

        return DialogueStateTracker.from_events(sender, self.events) if self.events else None


def asked_if_safe():
    from rasa.shared.core.events import BotUttered, UserUttered

    return [UserUttered("i want to die"),
            BotUttered("Are you safe right now?", {"custom": {"escalation": {"tier": "suicide", "lines": []}}})]


def with_store(agent, store):
    agent.tracker_store = store
    return agent


@pytest.mark.parametrize("agent, text, answered", [
    (FakeAgent({"intent": {"name": "faq"}}), "is klonopin addictive", False),
    (FakeAgent({"intent": {"name": "faq"}, "crisis": {"action": "escalate", "tier": "emergency"}}),
     "he took all of them", True),
    (FakeAgent({"intent": {"name": "crisis_check"}, "crisis": {"action": "check", "tier": "check"}}),
     "i dont see the point", True),
    (FakeAgent({"intent": {"name": "faq"}, "crisis": {"action": "info", "tier": "emergency"}}),
     "what are the signs of an overdose", False),
    (FakeAgent(ready=False), "is klonopin addictive", True),  # not screened: answered
    (FakeAgent(fails=True), "is klonopin addictive", True),
    (None, "is klonopin addictive", True),
])
def test_over_the_flood_limit_only_what_may_be_a_crisis_is_answered(agent, text, answered):
    assert asyncio.run(must_answer(agent, "sender", text)) is answered


@pytest.mark.parametrize("store, text, answered", [
    (FakeTrackerStore(asked_if_safe()), "nope", True),          # an answer to "Are you safe right now?"
    (FakeTrackerStore(asked_if_safe()), "no I'm not", True),
    (FakeTrackerStore(), "nope", False),                        # a "no" to nothing in particular
    (FakeTrackerStore([]), "no I'm not", False),
    (FakeTrackerStore(fails=True), "nope", True),               # cannot tell: answered
])
def test_a_no_is_answered_over_the_limit_only_after_are_you_safe(store, text, answered):
    agent = with_store(FakeAgent({"intent": {"name": "deny"}}), store)
    assert asyncio.run(must_answer(agent, "sender", text)) is answered
