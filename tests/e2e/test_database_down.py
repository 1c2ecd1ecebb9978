"""End to end: the database goes down under a running assistant and comes back.

Both databases (Rasa's conversations and the project's tables) are on PostgreSQL, reached
through a TCP proxy the test can cut: while it is cut, every connection is closed and new
ones are dropped, as when the database server stops. A visitor on the web chat must still
get crisis replies and answers, a crisis handoff must reach the staff's queue once the
database is back, the health route must say the server is degraded, and the conversation
must go on afterwards. (During the outage Rasa answers from a fresh conversation in memory
and does not keep those turns: documented in docs/operations.md.)
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import List

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.handoff.store import HandoffRequest, HandoffStore
from bot.ops.process import free_port
from bot.ops.train import MODEL_PATH
from tests.conftest import postgres_schema
from tests.e2e.support import Visitor, base_env, start, stop_process, wait_for

pytestmark = pytest.mark.e2e


class CuttableProxy:
    """Forwards TCP connections to PostgreSQL until cut; while cut, drops every connection."""

    def __init__(self, target=("127.0.0.1", 5432)) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.sockets: List[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self.up = False
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.sockets.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def health(url: str):
    try:
        with urllib.request.urlopen(f"{url}/webhooks/webchat/", timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def texts(replies) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run `make train` (make test does it)")
    with postgres_schema(f"t_outage_{os.getpid()}") as database:
        yield from _stack(tmp_path_factory, database)


def _stack(tmp_path_factory, database: str):
    url = make_url(database)
    proxy = CuttableProxy(target=(url.host, url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    tmp = tmp_path_factory.mktemp("outage")
    port, actions_port = free_port(), free_port()
    env = base_env(tmp)
    env.update({"HELPLINE_TRACKER_URL": proxied, "HELPLINE_DATABASE_URL": proxied})
    process = start([sys.executable, "-m", "bot.ops.run", "--port", str(port), "--actions-port", str(actions_port)],
                    env, tmp / "run.log")
    try:
        wait_for(f"http://127.0.0.1:{port}/", process)
        yield {"url": f"http://127.0.0.1:{port}", "proxy": proxy, "process": process, "db": database,
               "env": env, "tmp": tmp}
    finally:
        stop_process(process)
        proxy.close()


def handoffs(db: str, conversation_id: str):
    store = HandoffStore(db)
    try:
        with store.session() as session:
            return [(r.reason, r.tier) for r in session.execute(
                select(HandoffRequest).where(HandoffRequest.conversation_id == conversation_id)).scalars()]
    finally:
        store.engine.dispose()


def test_database_down_and_back(stack):
    url, proxy = stack["url"], stack["proxy"]
    assert health(url) == (200, {"status": "ok"})
    visitor = Visitor(url)
    try:
        visitor.say("what are the signs of an overdose")
        assert "Source:" in texts(visitor.replies_until_quiet())
        conversation_id = stack_conversation_id(visitor)

        proxy.cut()
        status, body = health(url)
        assert status == 503 and body["status"] == "degraded"
        assert any("conversation database" in p for p in body["problems"]), body
        assert any("handoff database" in p for p in body["problems"]), body

        # a crisis message during the outage: the crisis reply with its lines, at once
        started = time.monotonic()
        visitor.say("my friend took a whole bottle of klonopin and wont wake up")
        replies = visitor.replies_until_quiet()
        assert time.monotonic() - started < 30
        assert "911" in texts(replies)
        [escalation] = [r["custom"]["escalation"] for r in replies if "escalation" in (r.get("custom") or {})]
        assert escalation["tier"] == "emergency"
        status, body = health(url)
        assert any("wait for the database" in p for p in body["problems"]), body

        # a question is still answered (Rasa falls back to a fresh conversation in memory)
        visitor.say("is klonopin addictive")
        assert "Source:" in texts(visitor.replies_until_quiet())

        # a page reload during the outage still starts the chat
        reloaded = Visitor(url, session_id=visitor.session_id)
        assert reloaded.confirm["session_id"] == visitor.session_id and reloaded.confirm["history"] == []
        reloaded.close()

        proxy.restore()
        deadline = time.monotonic() + 30
        while health(url)[0] != 200 and time.monotonic() < deadline:
            time.sleep(1)
        assert health(url) == (200, {"status": "ok"})  # the kept handoff request was written
        assert handoffs(stack["db"], conversation_id) == [("crisis", "emergency")]

        # the conversation goes on
        visitor.say("does insurance cover rehab")
        assert "Source:" in texts(visitor.replies_until_quiet())
    finally:
        proxy.restore()
        visitor.close()
    assert stack["process"].poll() is None


def test_a_crisis_handoff_kept_during_an_outage_survives_a_crash_of_the_server(stack):
    """The kept request is on disk (HELPLINE_OUTBOX_DIR): a server started after the crash
    writes it once the database is back."""
    url, proxy, outbox = stack["url"], stack["proxy"], stack["tmp"] / "outbox"
    visitor = Visitor(url)
    restarted = None
    try:
        conversation_id = stack_conversation_id(visitor)
        proxy.cut()
        visitor.say("my brother took too many klonopin and he is not breathing")
        replies = visitor.replies_until_quiet()
        [escalation] = [r["custom"]["escalation"] for r in replies if "escalation" in (r.get("custom") or {})]
        assert "911" in texts(replies)
        assert len(list(outbox.glob("*.json"))) == 1
        rasa = subprocess.run(["pgrep", "-P", str(stack["process"].pid), "-f", "bot.ops.rasa_cli"],
                              capture_output=True, text=True).stdout.split()
        assert len(rasa) == 1, rasa
        os.kill(int(rasa[0]), signal.SIGKILL)  # the Rasa server that keeps it crashes
        stop_process(stack["process"])  # and bot.ops.run with its action server stops
        proxy.restore()

        port = free_port()
        restarted = start([sys.executable, "-m", "bot.ops.run", "--port", str(port), "--actions-port", str(free_port())],
                          stack["env"], stack["tmp"] / "restarted.log")
        wait_for(f"http://127.0.0.1:{port}/", restarted)
        deadline = time.monotonic() + 30
        while not handoffs(stack["db"], conversation_id) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert handoffs(stack["db"], conversation_id) == [("crisis", escalation["tier"])]
        assert list(outbox.glob("*.json")) == []
        assert "1 handoff request(s) kept by a server that stopped" in (stack["tmp"] / "restarted.log").read_text()
    finally:
        proxy.restore()
        visitor.close()
        if restarted is not None:
            stop_process(restarted)


def stack_conversation_id(visitor: Visitor) -> str:
    from bot.channels.session_ids import SessionSigner

    conversation_id = SessionSigner("e2e-secret").verify(visitor.session_id)
    assert conversation_id
    return conversation_id
