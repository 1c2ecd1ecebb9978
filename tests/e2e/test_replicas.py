"""End to end: two Rasa servers (and one action server) serve the same conversations.

They share PostgreSQL (conversations and the helpline's tables) and Redis (the lock that
keeps one conversation's messages in order, and Socket.IO messages between the servers),
as in the production set-up in the README. A visitor on server A and a staff member on
server B talk both ways; messages of one conversation sent to both servers at once are
all processed, one at a time, none lost. The example proxy configuration (deploy/nginx.conf)
is run with Debian's nginx in front of both.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from bot import PROJECT_ROOT
from bot.channels.session_ids import SessionSigner
from bot.console.auth import COOKIE_NAME
from bot.ops.run import commands
from bot.ops.process import free_port
from bot.ops.sio_driver import run_driver, websocket_client
from bot.ops.train import MODEL_PATH
from tests.conftest import postgres_schema, run_async
from tests.e2e.support import Staff, Visitor, add_staff, base_env, start, stop_process, unavailable, wait_for
from tests.storage.test_lock_store import redis_or_skip

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run `make train` (make test does it)")
    redis_url = redis_or_skip()
    with postgres_schema(f"t_replicas_{os.getpid()}") as database:
        yield from _replicas(tmp_path_factory, database, redis_url)


def _replicas(tmp_path_factory, database: str, redis_url: str):
    tmp = tmp_path_factory.mktemp("replicas")
    actions_port = free_port()
    env = base_env(tmp)
    # the REST conversation below sends faster than the flood limit (bot/channels/guard.py) allows
    env["HELPLINE_FLOOD_MESSAGES"] = "0"
    env.update({"HELPLINE_TRACKER_URL": database, "HELPLINE_DATABASE_URL": database,
                "HELPLINE_REDIS_URL": redis_url, "HELPLINE_STAFF_HOURS": "mon-sun 00:00-24:00",
                "HELPLINE_ACTION_ENDPOINT": f"http://127.0.0.1:{actions_port}/webhook"})
    add_staff(env, "lee", "Lee")
    processes = [start(commands(0, actions_port, MODEL_PATH)[0], env, tmp / "actions.log")]
    urls = []
    try:
        for name in ("a", "b"):
            port = free_port()
            processes.append(start(commands(port, actions_port, MODEL_PATH)[1], env, tmp / f"rasa-{name}.log"))
            urls.append(f"http://127.0.0.1:{port}")
        for url_, process in zip(urls, processes[1:]):
            wait_for(f"{url_}/", process)
        wait_for(f"http://127.0.0.1:{actions_port}/health", processes[0])
        yield {"a": urls[0], "b": urls[1], "db": database, "processes": processes}
    finally:
        for process in processes:
            stop_process(process)


class ConsoleSocket:
    """The console's live feed on one server, as the staff member's browser receives it."""

    def __init__(self, url: str, staff: Staff, **client_options) -> None:
        import socketio

        cookie = next(c.value for c in staff.jar if c.name == COOKIE_NAME)
        self.events: "queue.Queue" = queue.Queue()
        self.client = socketio.Client(**client_options)
        self.client.on("transcript", lambda data: self.events.put(data), namespace="/console")
        self.client.connect(url, namespaces=["/console"], socketio_path="/socket.io", transports=["polling"],
                            headers={"Cookie": f"{COOKIE_NAME}={cookie}"})

    def wait_for_text(self, wanted: str, timeout: float = 30):
        while True:
            data = self.events.get(timeout=timeout)
            if data["message"]["text"] == wanted:
                return data

    def close(self) -> None:
        self.client.eio.disconnect(abort=True)


def test_a_visitor_on_one_server_and_staff_on_the_other_talk_both_ways(replicas):
    visitor = Visitor(replicas["a"])
    lee = Staff(replicas["b"])
    assert lee.login("lee")[0] == 200
    feed = ConsoleSocket(replicas["b"], lee)
    try:
        handoff_both_ways(visitor, lee, feed)
    finally:
        feed.close()
        visitor.close()


def handoff_both_ways(visitor: Visitor, lee: Staff, feed: ConsoleSocket) -> None:
    """The visitor asks for a person; Lee claims and replies; the visitor's answer reaches
    Lee's console live (on two servers: each side's messages cross to the other)."""
    visitor.say("can i talk to a real person")
    assert visitor.wait("handoff_status", match=lambda s: s.get("state") == "waiting")
    conversation_id = SessionSigner("e2e-secret").verify(visitor.session_id)
    _, body = lee.call("GET", "/console/api/queue")
    [entry] = [h for h in body["handoffs"] if h["conversation_id"] == conversation_id]
    assert lee.call("POST", f"/console/api/handoffs/{entry['id']}/claim")[0] == 200
    # server B's claim reaches the visitor on server A
    assert "Lee" in visitor.wait("bot_uttered", match=lambda m: m.get("sender") == "system")["text"]
    assert lee.call("POST", f"/console/api/handoffs/{entry['id']}/reply", {"text": "Hi, it's Lee."})[0] == 200
    reply = visitor.wait("bot_uttered", timeout=10, match=lambda m: m.get("sender") == "staff")
    assert reply["text"] == "Hi, it's Lee."
    # the visitor's message on server A reaches the console on server B, live
    visitor.say("thank you for answering")
    seen = feed.wait_for_text("thank you for answering")
    assert seen["conversation_id"] == conversation_id


def rest(url: str, sender: str, message: str):
    request = urllib.request.Request(f"{url}/webhooks/rest/webhook", method="POST",
                                     data=json.dumps({"sender": sender, "message": message}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def test_messages_sent_to_both_servers_at_once_are_all_processed_in_turn(replicas):
    sender, per_server = "e2e-both-servers", 10
    questions = ["is klonopin addictive", "what are the signs of an overdose", "does insurance cover rehab"]
    failures = []

    def send(url: str, label: str) -> None:
        for i in range(per_server):
            try:
                replies = rest(url, sender, f"{questions[i % 3]} ({label}{i})")
                assert replies, "no reply"
            except Exception as error:  # collected: an assert in a thread would be lost
                failures.append(f"{label}{i}: {error!r}")

    threads = [threading.Thread(target=send, args=(replicas[name], name)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain

    store = SQLTrackerStore(Domain.empty(), host=replicas["db"])
    tracker = run_async(store.retrieve(sender))
    store.engine.dispose()
    events = [e.as_dict() for e in tracker.events]
    users = [e["text"] for e in events if e["event"] == "user"]
    assert len(users) == 2 * per_server, users  # none lost
    for label in ("a", "b"):  # each server's messages in the order it sent them
        assert [u.rsplit("(", 1)[1] for u in users if f"({label}" in u] == [f"{label}{i})" for i in range(per_server)]
    # one at a time: every message is answered (bot reply, then listening) before the next one
    turns, answered = 0, True
    for event in events:
        if event["event"] == "user":
            assert answered, "a message was processed while the previous one was still being answered"
            turns, answered = turns + 1, False
        elif event["event"] == "action" and event["name"] == "action_listen" and turns:
            answered = True
    assert turns == 2 * per_server


def test_a_chat_deleted_on_one_server_is_gone_on_the_other_too(replicas):
    """The same chat open in two tabs, one on each server: deleting it in one tab tells the
    other, which can no longer write to it, and the old session id starts a new chat on
    either server."""
    import sqlalchemy as sa

    first = Visitor(replicas["a"])
    second = None
    try:
        first.say("is klonopin addictive")
        assert first.replies_until_quiet()
        second = Visitor(replicas["b"], session_id=first.session_id)
        assert second.session_id == first.session_id, "the second tab joins the same chat"
        conversation_id = SessionSigner("e2e-secret").verify(first.session_id)
        first.client.emit("delete_chat", {})
        first.wait("chat_deleted", timeout=30)
        second.wait("chat_deleted", timeout=30)
        second.say("are you still there")
        assert second.wait("session_error", timeout=30)["reason"] == "no_session"
        engine = sa.create_engine(replicas["db"])
        try:
            with engine.connect() as connection:
                rows = connection.execute(sa.text("select count(*) from events where sender_id = :id"),
                                          {"id": conversation_id}).scalar()
        finally:
            engine.dispose()
        assert rows == 0, "a message after the deletion brought the conversation back"
        for url in (replicas["a"], replicas["b"]):
            again = Visitor(url, session_id=first.session_id)
            try:
                assert SessionSigner("e2e-secret").verify(again.session_id) != conversation_id
            finally:
                again.close()
    finally:
        first.close()
        if second is not None:
            second.close()


# -- the example proxy: deploy/nginx.conf in front of both servers ------------------------

def nginx_path() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    unavailable("Debian's nginx is not installed (scripts/ensure-test-tools installs it as root)")


@pytest.fixture(scope="module")
def proxy(replicas, tmp_path_factory):
    """nginx with deploy/nginx.conf as shipped, but for the two servers' addresses, the port
    it listens on and a certificate for 127.0.0.1 made for the test: its URL and the
    certificate (the clients trust it, and only it)."""
    nginx = nginx_path()
    tmp = tmp_path_factory.mktemp("nginx")
    certificate = tmp / "fullchain.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp / "privkey.pem"),
                    "-out", str(certificate)], check=True, capture_output=True)
    port = free_port()
    site = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text()
    for shipped, here in (("rasa-a:5005", replicas["a"].split("//")[1]), ("rasa-b:5005", replicas["b"].split("//")[1]),
                          ("listen 443 ssl", f"listen 127.0.0.1:{port} ssl"), ("/etc/nginx/certs", str(tmp))):
        assert shipped in site, f"deploy/nginx.conf no longer has {shipped!r}: update this test"
        site = site.replace(shipped, here)
    (tmp / "site.conf").write_text(site)
    temp = " ".join(f"{kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "") +
        f"daemon off;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'};\nevents {{}}\n"
        f"http {{ access_log {tmp / 'access.log'}; {temp} include {tmp / 'site.conf'}; }}\n")
    process = start([nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf")], os.environ.copy(), tmp / "nginx.out")
    url, context = f"https://127.0.0.1:{port}", ssl.create_default_context(cafile=str(certificate))
    try:
        deadline = time.monotonic() + 30
        while get(f"{url}/webhooks/webchat/", context)[0] != 200:
            assert process.poll() is None, (tmp / "error.log").read_text() if (tmp / "error.log").exists() else ""
            assert time.monotonic() < deadline, "nginx did not pass the health route through in 30 s"
            time.sleep(0.2)
        yield {"url": url, "certificate": str(certificate), "context": context}
    finally:
        stop_process(process)


def get(url: str, context: ssl.SSLContext):
    try:
        with urllib.request.urlopen(url, timeout=30, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:
        return None, repr(error).encode()


def trusting(certificate: str):
    """An HTTP session for python-socketio that trusts the test's certificate (and ignores
    REQUESTS_CA_BUNDLE and the like, which requests would otherwise prefer)."""
    import requests

    session = requests.Session()
    session.trust_env, session.verify = False, certificate
    return session


def test_through_the_example_proxy_visitors_and_staff_talk_and_the_rest_stays_internal(replicas, proxy, monkeypatch):
    url = proxy["url"]
    # a visitor over long-polling and a staff member's console, both through nginx
    visitor = Visitor(url, http_session=trusting(proxy["certificate"]))
    lee = Staff(url, urllib.request.HTTPSHandler(context=proxy["context"]))
    assert lee.login("lee")[0] == 200
    feed = ConsoleSocket(url, lee, http_session=trusting(proxy["certificate"]))
    try:
        handoff_both_ways(visitor, lee, feed)
    finally:
        feed.close()
        visitor.close()
    # visitors over websockets (the Upgrade headers) get answers
    modules = websocket_client()
    if modules is None:
        unavailable("node and npm are needed for the websocket clients (see bot/ops/sio_driver.py)")
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", proxy["certificate"])
    result = run_async(run_driver(modules, {"url": url, "ours": True, "conversations": 3, "seconds": 2, "pace": 0,
                                            "length": 3, "messages": ["is klonopin addictive", "how long is rehab"]},
                                  time_limit=120))
    assert result["latencies_ms"] and result["lost"] == 0 and result["errors"] == 0, result
    # the widget and the console's page are served; Rasa's REST webhook and HTTP API are not
    assert get(f"{url}/widget/widget.js", proxy["context"])[0] == 200
    assert get(f"{url}/console", proxy["context"])[0] == 200
    for internal in ("/webhooks/rest/webhook", "/model", "/status", "/conversations/x/tracker", "/"):
        assert get(f"{url}{internal}", proxy["context"])[0] == 404, internal
