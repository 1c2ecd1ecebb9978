"""The REST webhook's input checks (bot/channels/rest.py), without a server."""
from __future__ import annotations

import asyncio
import json

import pytest

from bot.channels.rest import MAX_BODY_BYTES, BadInput, must_answer, read_message
from bot.nlu.crisis import CHECK_KEY, CRISIS_KEY


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


@pytest.mark.parametrize("agent, text, answered", [
    (FakeAgent({"intent": {"name": "faq"}}), "is klonopin addictive", False),
    (FakeAgent({"intent": {"name": "faq"}, CRISIS_KEY: {"tier": "overdose"}}), "he took all of them", True),
    (FakeAgent({"intent": {"name": "faq"}, CHECK_KEY: True}), "i dont see the point", True),
    (FakeAgent({"intent": {"name": "deny"}}), "nope", True),
    (FakeAgent({"intent": {"name": "faq"}}), "no I'm not", True),  # an answer to "Are you safe?"
    (FakeAgent(ready=False), "is klonopin addictive", True),  # not screened: answered
    (FakeAgent(fails=True), "is klonopin addictive", True),
    (None, "is klonopin addictive", True),
])
def test_over_the_flood_limit_only_what_may_be_a_crisis_is_answered(agent, text, answered):
    assert asyncio.run(must_answer(agent, text)) is answered
