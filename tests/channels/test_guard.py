"""The web chat's guard: the flood limit, text and metadata cleaning, the crisis screen."""
from __future__ import annotations

import logging

import pytest

from bot.channels import guard
from bot.channels.guard import FloodLimit, clean_metadata, clean_text, must_answer
from bot.handoff.live import LiveHub
from bot.handoff.store import HandoffStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_the_limit_passes_then_messages_are_refused():
    clock = Clock()
    limit = FloodLimit(8, 10, clock=clock)
    assert [limit.allow("c") for _ in range(10)] == [True] * 8 + [False] * 2
    assert limit.allow("another conversation")  # one bucket per conversation


def test_the_bucket_refills_at_the_sustained_rate():
    clock = Clock()
    limit = FloodLimit(8, 10, clock=clock)
    for _ in range(8):
        limit.allow("c")
    clock.now += 1.0  # 0.8 of a message
    assert not limit.allow("c")
    clock.now += 0.3  # 1.04 now
    assert limit.allow("c") and not limit.allow("c")
    clock.now += 60  # full again, never more than the burst
    assert [limit.allow("c") for _ in range(9)] == [True] * 8 + [False]


def test_a_human_pace_is_never_limited():
    clock = Clock()
    limit = FloodLimit(8, 10, clock=clock)
    for _ in range(200):  # one message every 1.5 s for five minutes
        assert limit.allow("c")
        clock.now += 1.5


def test_the_notice_is_given_once_per_window():
    clock = Clock()
    limit = FloodLimit(2, 10, clock=clock)
    limit.allow("c"), limit.allow("c")
    assert not limit.allow("c") and limit.notice_due("c")
    assert not limit.allow("c") and not limit.notice_due("c")
    clock.now += 10
    limit.allow("c"), limit.allow("c")
    assert not limit.allow("c") and limit.notice_due("c")


def test_the_flood_reply_gives_the_emergency_lines():
    assert "faster than I can read them" in guard.FLOOD_REPLY
    assert "If this is an emergency call 911; for suicidal thoughts call or text 988" in guard.FLOOD_REPLY


@pytest.mark.parametrize("env, messages, seconds", [
    ({}, 8, 10.0),
    ({"HELPLINE_FLOOD_MESSAGES": "20", "HELPLINE_FLOOD_SECONDS": "30"}, 20, 30.0),
    ({"HELPLINE_FLOOD_MESSAGES": "0"}, 0, 10.0),
    ({"HELPLINE_FLOOD_MESSAGES": "lots", "HELPLINE_FLOOD_SECONDS": "-5"}, 8, 10.0),
])
def test_settings_from_the_environment(env, messages, seconds, caplog):
    with caplog.at_level(logging.WARNING):
        limit = FloodLimit.from_env(env)
    assert (limit.messages, limit.seconds) == (messages, seconds)
    if "lots" in env.values():
        assert "HELPLINE_FLOOD_MESSAGES='lots' is not a valid number" in caplog.text


def test_zero_messages_turns_the_limit_off():
    limit = FloodLimit(0, 10)
    assert not limit.enabled and all(limit.allow("c") for _ in range(1000))


def test_memory_stays_bounded_and_a_limited_conversation_is_kept():
    clock = Clock()
    limit = FloodLimit(2, 10, clock=clock, max_tracked=100)
    limit.allow("flooder"), limit.allow("flooder")
    for i in range(1000):
        limit.allow(f"visitor-{i}")
        clock.now += 0.001
    assert len(limit._buckets) <= 100
    assert not limit.allow("flooder")  # forgetting full buckets first kept its empty one


@pytest.mark.parametrize("raw, clean", [
    ("hi\x00 there\x07", "hi there"),
    ("line one\r\nline two\rthree", "line one\nline two\nthree"),
    ("tab\tand\nnewline", "tab\tand\nnewline"),
    ("half an emoji \ud83d!", "half an emoji \ufffd!"),
    ("\u200fשלום\u200e \u202eabc", "\u200fשלום\u200e \u202eabc"),      # direction marks are kept
    ("\U0001F469\u200d\U0001F469\u200d\U0001F467 family", "\U0001F469\u200d\U0001F469\u200d\U0001F467 family"),
    ("\x85\x9f c1", " c1"),
])
def test_clean_text(raw, clean):
    assert clean_text(raw) == clean
    clean_text(raw).encode("utf-8")  # storable


@pytest.mark.parametrize("metadata, expected", [
    ({"language": "en"}, {"language": "en"}),
    ('{"language": "en"}', {"language": "en"}),
    ("not json", {}),
    ("[" * 3000 + "]" * 3000, {}),
    (["a list"], {}),
    (42, {}),
    (None, {}),
    ({"big": "x" * 10_000}, {}),
    ({"bytes": b"\x00"}, {}),
])
def test_clean_metadata(metadata, expected):
    assert clean_metadata(metadata) == expected


# -- the crisis screen of a message over the limit -------------------------------------

class FakeChannel:
    def __init__(self, parse, hub) -> None:
        self._parse, self.hub = parse, hub

    async def parse(self, text):
        return self._parse


@pytest.fixture
def hub(tmp_path):
    store = HandoffStore(f"sqlite:///{tmp_path / 'helpline.db'}")
    yield LiveHub(store, sio=None)
    store.engine.dispose()


@pytest.mark.parametrize("parse, answer", [
    ({"intent": {"name": "crisis_suicide"}, "crisis": {"action": "escalate", "tier": "suicide"}}, True),
    ({"intent": {"name": "crisis_check"}, "crisis": {"action": "check", "tier": "check"}}, True),
    ({"intent": {"name": "faq"}, "crisis": {"action": "info", "tier": "emergency"}}, False),
    ({"intent": {"name": "faq"}, "crisis": {"action": "none", "tier": None}}, False),
    ({"intent": {"name": "greet"}, "crisis": None}, False),
    (None, True),  # the model cannot screen it (not loaded): answered rather than dropped
])
async def test_only_a_crisis_is_answered_over_the_limit(hub, parse, answer):
    assert await must_answer(FakeChannel(parse, hub), "conv", "some text") is answer


async def test_a_no_to_are_you_safe_is_answered_over_the_limit(hub):
    store = hub.store
    store.add_message("conv", "visitor", "i want to die")
    store.add_message("conv", "bot", "", data={"custom": {"escalation": {"tier": "suicide", "lines": []}}})
    store.add_message("conv", "bot", "Are you safe right now?")
    deny = {"intent": {"name": "deny"}}
    assert await must_answer(FakeChannel(deny, hub), "conv", "no")
    # not after another question, nor in another conversation
    store.add_message("other", "bot", "Would you like us to call you back?")
    assert not await must_answer(FakeChannel(deny, hub), "other", "no")
    assert not await must_answer(FakeChannel(deny, hub), "new", "no")
