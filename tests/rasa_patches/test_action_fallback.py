"""Remote actions when the action server is down, hangs or fails (bot/rasa_patches/action_fallback.py)."""
from __future__ import annotations

import asyncio
import time

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import select

from actions import services
from bot import PROJECT_ROOT
from bot.rasa_patches import action_fallback
from bot.handoff.store import HandoffRequest, HandoffStore
from bot.ops.process import free_port
from tests.conftest import run_async

DOMAIN = Domain.load(str(PROJECT_ROOT / "domain"))


@pytest.fixture(autouse=True)
def installed(monkeypatch):
    monkeypatch.setattr(RemoteAction, "run", action_fallback._run_with_fallback)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The in-process actions write to a temporary database, with the helpline closed."""
    monkeypatch.setenv("HELPLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'helpline.db'}")
    monkeypatch.setenv("HELPLINE_STAFF_HOURS", "mon 00:00-00:01")
    monkeypatch.setenv("HELPLINE_PHONE", "1-800-555-0100")
    for service in (services.settings, services.store, services.staff_hours):
        service.cache_clear()
    yield HandoffStore(f"sqlite:///{tmp_path / 'helpline.db'}")
    for service in (services.settings, services.store, services.staff_hours):
        service.cache_clear()


def tracker(sender: str, text: str, intent: str) -> DialogueStateTracker:
    parse_data = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": []}
    return DialogueStateTracker.from_events(sender, [
        ActionExecuted("action_listen"), UserUttered(text, parse_data["intent"], parse_data=parse_data)])


def run(action_name: str, url: str, sender: str = "visitor-1", text: str = "can I talk to a person",
        intent: str = "request_human"):
    action = RemoteAction(action_name, EndpointConfig(url))
    channel = CollectingOutputChannel()
    started = time.monotonic()
    events = run_async(action.run(channel, TemplatedNaturalLanguageGenerator(DOMAIN.responses),
                                    tracker(sender, text, intent), DOMAIN))
    return events, time.monotonic() - started


def uttered(events) -> str:
    return "\n".join(e.text or "" for e in events if isinstance(e, BotUttered))


def handoffs(store: HandoffStore, sender: str):
    with store.session() as session:
        return [(r.reason, r.status) for r in session.execute(
            select(HandoffRequest).where(HandoffRequest.conversation_id == sender)).scalars()]


def refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}/webhook"  # nothing listens there


def test_with_the_action_server_down_a_person_request_is_recorded_and_answered(store):
    events, _ = run("action_request_handoff", refused_url(), sender="visitor-down")

    assert "1-800-555-0100" in uttered(events)  # closed helpline: the centre's number and a callback offer
    assert SlotSet("callback_offered", True) in events
    assert handoffs(store, "visitor-down") == [("visitor_request", "offline")]


def test_a_hanging_action_server_is_given_up_on_after_the_timeout(store, monkeypatch):
    async def scenario():
        # accepts the connection, never answers
        server = await asyncio.start_server(lambda reader, writer: asyncio.sleep(3600), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        action = RemoteAction("action_request_handoff", EndpointConfig(f"http://127.0.0.1:{port}/webhook"))
        started = time.monotonic()
        async with server:
            events = await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(DOMAIN.responses),
                                      tracker("visitor-hang", "a person please", "request_human"), DOMAIN)
        return events, time.monotonic() - started

    monkeypatch.setenv("HELPLINE_ACTION_TIMEOUT", "0.5")
    events, elapsed = run_async(scenario())
    assert 0.5 <= elapsed < 5, elapsed
    assert "1-800-555-0100" in uttered(events)
    assert handoffs(store, "visitor-hang") == [("visitor_request", "offline")]


def test_when_the_action_fails_in_process_too_a_person_request_still_gets_the_lines(store, monkeypatch):
    def broken(call):
        raise ImportError("the actions package is broken")

    monkeypatch.setattr(action_fallback, "_run_in_thread", broken)
    events, _ = run("action_request_handoff", refused_url())
    assert "1-800-662-4357" in uttered(events) and "911" in uttered(events)  # utter_handoff_unavailable


def test_an_action_without_a_last_resort_reply_still_fails_loudly(store, monkeypatch):
    def broken(call):
        raise ImportError("the actions package is broken")

    monkeypatch.setattr(action_fallback, "_run_in_thread", broken)
    with pytest.raises(ImportError):
        run("action_suggest_topics", refused_url(), text="blah", intent="nlu_fallback")


def test_the_action_server_answer_is_used_when_it_answers(store):
    """A working action server is not bypassed: its reply is what the visitor gets."""
    from aiohttp import web

    async def scenario():
        async def webhook(request):
            body = await request.json()
            assert body["next_action"] == "action_request_handoff"
            return web.json_response({"events": [], "responses": [{"text": "from the action server"}]})

        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            action = RemoteAction("action_request_handoff", EndpointConfig(f"http://127.0.0.1:{port}/webhook"))
            return await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(DOMAIN.responses),
                                    tracker("visitor-up", "a person", "request_human"), DOMAIN)
        finally:
            await runner.cleanup()

    events = run_async(scenario())
    assert uttered(events) == "from the action server"
    assert handoffs(store, "visitor-up") == []  # the in-process action did not run as well


def test_a_bad_timeout_setting_falls_back_to_the_default(monkeypatch):
    monkeypatch.setenv("HELPLINE_ACTION_TIMEOUT", "soon")
    assert action_fallback.action_timeout() == action_fallback.DEFAULT_TIMEOUT
    monkeypatch.setenv("HELPLINE_ACTION_TIMEOUT", "2.5")
    assert action_fallback.action_timeout() == 2.5


def test_without_the_fallback_rasa_drops_the_action(store, monkeypatch):
    """What the fallback is for: stock Rasa raises, and its processor logs and drops the action."""
    monkeypatch.setattr(RemoteAction, "run", action_fallback._original_run)
    with pytest.raises(RasaException):
        run("action_request_handoff", refused_url(), sender="visitor-stock")
    assert handoffs(store, "visitor-stock") == []
