"""The REST webhook's input checks (bot/channels/rest.py), without a server."""
from __future__ import annotations

import json

import pytest

from bot.channels.rest import MAX_BODY_BYTES, BadInput, read_message


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
