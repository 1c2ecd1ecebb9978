"""End to end: the Rasa server when the action server is down or hangs, and across a restart.

One Rasa server, started without an action server (its action endpoint points at a port
the tests control), on temporary SQLite databases and with the helpline closed.
"""
from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import select

from bot.handoff.store import HandoffRequest, HandoffStore
from bot.ops.run import commands
from bot.ops.process import free_port
from bot.ops.train import MODEL_PATH
from tests.e2e.support import base_env, start, stop_process, wait_for
from tests.e2e.test_servers import escalations, say, texts

pytestmark = pytest.mark.e2e

ACTION_TIMEOUT = 2  # seconds the Rasa server waits for the action server in these tests


class RasaServer:
    def __init__(self, tmp) -> None:
        self.tmp = tmp
        self.port, self.actions_port = free_port(), free_port()
        self.env = base_env(tmp)
        self.env.update({
            "HELPLINE_ACTION_ENDPOINT": f"http://127.0.0.1:{self.actions_port}/webhook",
            "HELPLINE_ACTION_TIMEOUT": str(ACTION_TIMEOUT),
            "RASA_TELEMETRY_ENABLED": "false",
            "HELPLINE_ALLOWED_ORIGINS": "https://www.example.org, https://help.example.org",
        })
        self.url = f"http://127.0.0.1:{self.port}"
        self.starts = 0
        self.process = None

    def start(self) -> None:
        self.starts += 1
        rasa = commands(self.port, self.actions_port, MODEL_PATH)[1]  # as `make run` starts it
        self.process = start(rasa, self.env, self.tmp / f"rasa-{self.starts}.log")
        wait_for(f"{self.url}/", self.process)

    def stop(self) -> None:
        stop_process(self.process)

    def handoffs(self, sender: str):
        store = HandoffStore(self.env["HELPLINE_DATABASE_URL"])
        try:
            with store.session() as session:
                return [(r.reason, r.tier, r.status) for r in session.execute(
                    select(HandoffRequest).where(HandoffRequest.conversation_id == sender)).scalars()]
        finally:
            store.engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run `make train` (make test does it)")
    server = RasaServer(tmp_path_factory.mktemp("faults"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_with_the_action_server_down_a_crisis_gets_its_lines_and_is_recorded(server):
    replies = say(server.url, "e2e-down-crisis", "my mom is unresponsive and her lips are blue")
    [escalation] = escalations(replies)
    assert escalation["tier"] == "emergency" and "911" in texts(replies)
    assert "offline" in texts(replies)  # the handoff action ran in the Rasa server: the closed helpline says so
    assert server.handoffs("e2e-down-crisis") == [("crisis", "emergency", "offline")]


def test_with_the_action_server_down_a_person_request_gets_the_numbers(server):
    replies = say(server.url, "e2e-down-person", "can i talk to a real person")
    assert "1-800-555-0100" in texts(replies)
    assert server.handoffs("e2e-down-person") == [("visitor_request", None, "offline")]


def test_a_hanging_action_server_holds_a_reply_for_the_timeout_only(server):
    with socket.socket() as hanging:  # accepts connections, never answers
        hanging.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        hanging.bind(("127.0.0.1", server.actions_port))
        hanging.listen(16)
        started = time.monotonic()
        replies = say(server.url, "e2e-hanging", "i want to speak to someone from your team")
        elapsed = time.monotonic() - started
    assert "1-800-555-0100" in texts(replies)
    assert ACTION_TIMEOUT <= elapsed < ACTION_TIMEOUT + 10, elapsed
    assert server.handoffs("e2e-hanging") == [("visitor_request", None, "offline")]


@pytest.mark.parametrize("origin, allowed", [("https://help.example.org", True), ("https://evil.example", False)])
def test_the_chat_opens_only_from_the_configured_origins(server, origin, allowed):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{server.url}/socket.io/?EIO=4&transport=polling", headers={"Origin": origin})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, cors = response.status, response.headers.get("Access-Control-Allow-Origin")
    except urllib.error.HTTPError as error:
        status, cors = error.code, error.headers.get("Access-Control-Allow-Origin")
    assert (status, cors) == ((200, origin) if allowed else (400, None))


def test_a_restart_mid_conversation_keeps_its_history(server):
    sender = "e2e-restart"
    assert "1-800-555-0100" in texts(say(server.url, sender, "can i talk to a real person"))
    assert "store your phone number" in texts(say(server.url, sender, "/affirm"))  # the callback form asks
    server.stop()
    server.start()
    # the form goes on where it was: consent given, it asks for the number
    assert "phone number" in texts(say(server.url, sender, "yes that's fine"))
    assert "good time" in texts(say(server.url, sender, "(412) 555-0134"))
    assert "412-555-0134" in texts(say(server.url, sender, "weekday mornings"))
    store = HandoffStore(server.env["HELPLINE_DATABASE_URL"])
    try:
        [callback] = [c for c in store.callbacks() if c.conversation_id == sender]
        assert (callback.phone, callback.best_time) == ("412-555-0134", "weekday mornings")
    finally:
        store.engine.dispose()


def test_with_redis_down_a_crisis_still_gets_its_lines(tmp_path):
    """Several servers keep their conversation lock in Redis. With Redis down no message can
    take the lock, so Rasa cannot answer: the web chat still sends a crisis message its crisis
    reply, anything else an apology with the lines, and the health route names Redis."""
    import json
    import urllib.error
    import urllib.request

    from tests.e2e.support import Visitor

    server = RasaServer(tmp_path)
    server.env["HELPLINE_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    server.start()
    visitor = None
    try:
        visitor = Visitor(server.url)
        visitor.say("my mom is unresponsive and her lips are blue")
        replies = visitor.replies_until_quiet()
        assert "911" in texts(replies)
        [escalation] = [r["custom"]["escalation"] for r in replies if "escalation" in (r.get("custom") or {})]
        assert escalation["tier"] == "emergency"

        visitor.say("is klonopin addictive")
        apology = texts(visitor.replies_until_quiet())
        assert "technical problem" in apology and "988" in apology

        try:
            urllib.request.urlopen(f"{server.url}/webhooks/webchat/", timeout=30)
            raise AssertionError("the health route answered 200 with Redis down")
        except urllib.error.HTTPError as error:
            status, body = error.code, json.loads(error.read())
        assert status == 503 and any("Redis" in p for p in body["problems"]), body
    finally:
        if visitor is not None:
            visitor.close()
        server.stop()
