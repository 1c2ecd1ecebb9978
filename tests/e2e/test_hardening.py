"""End to end: the servers under hostile or careless input.

- the flood limit on the web chat (a burst, a reconnect, a crisis over the limit) and on
  the REST webhook;
- fuzzing: every Socket.IO event of the web chat, the REST webhook and every console
  route get empty, huge, binary, malformed, wrongly typed and odd Unicode input; each
  gets a clear error (HTTP: 4xx with JSON; Socket.IO: ``session_error`` or nothing) and
  the server keeps answering;
- phone numbers and e-mail addresses stay out of the log at DEBUG level;
- Rasa's HTTP API: off by default, and with HELPLINE_ENABLE_API only with the token.

One assistant (started with ``python -m bot.ops.run``, debug logging, staff online, a flood
limit of 8 messages per 600 s so that nothing refills during a test) and one Rasa
server with the API on (its command from bot.ops.run), started side by side.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from bot import PROJECT_ROOT
from bot.channels.guard import clean_text
from bot.ops.run import api_arguments, commands
from bot.ops.process import free_port
from bot.ops.train import MODEL_PATH
from tests.e2e.support import Staff, Visitor, add_staff, base_env, start, texts, wait_for

pytestmark = pytest.mark.e2e

API_TOKEN = "e2e-api-token-0123456789abcdef"
PHONE, EMAIL = "412-555-0188", "jo.fuzz@example.org"
SECRET_TEXT = f"please call me back on {PHONE} or write to {EMAIL}"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run `make train` (make test does it)")
    tmp = tmp_path_factory.mktemp("hardening")
    env = base_env(tmp)
    env.update({"HELPLINE_STAFF_HOURS": "mon-sun 00:00-24:00", "LOG_LEVEL": "DEBUG",
                "HELPLINE_FLOOD_MESSAGES": "8", "HELPLINE_FLOOD_SECONDS": "600"})
    for name in ("HELPLINE_ENABLE_API", "HELPLINE_API_TOKEN"):
        env.pop(name, None)
    add_staff(env, "fuzz", "Fuzz")
    add_staff(env, "boss", "Boss", role="supervisor")
    port, actions_port = free_port(), free_port()
    main = start([sys.executable, "-m", "bot.ops.run", "--port", str(port), "--actions-port", str(actions_port)],
                 env, tmp / "run.log")

    (tmp / "api").mkdir()
    api_env = base_env(tmp / "api")
    api_env.update({"HELPLINE_ENABLE_API": "true", "HELPLINE_API_TOKEN": API_TOKEN,
                    "HELPLINE_ACTION_ENDPOINT": f"http://127.0.0.1:{free_port()}/webhook",
                    "RASA_TELEMETRY_ENABLED": "false"})
    api_port = free_port()
    api = start(commands(api_port, free_port(), MODEL_PATH, api=api_arguments(api_env))[1], api_env,
                tmp / "api.log")
    try:
        wait_for(f"http://127.0.0.1:{port}/", main)
        wait_for(f"http://127.0.0.1:{actions_port}/health", main)
        wait_for(f"http://127.0.0.1:{api_port}/", api)
        yield {"url": f"http://127.0.0.1:{port}", "process": main, "log": tmp / "run.log",
               "api_url": f"http://127.0.0.1:{api_port}", "api": api}
    finally:
        for process in (main, api):  # both at once: each takes a few seconds to stop
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in (main, api):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def visitor(servers):
    visitors: List[Visitor] = []

    def make(session_id: Optional[str] = None) -> Visitor:
        visitors.append(Visitor(servers["url"], session_id))
        return visitors[-1]

    yield make
    for v in visitors:
        try:
            v.close()
        except Exception:  # already disconnected by the test
            pass


def http(url: str, method: str = "GET", body: Optional[bytes] = None,
         headers: Optional[Dict[str, str]] = None, opener=None) -> Tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=60) as response:
            raw, status, kind = response.read(), response.status, response.headers.get("content-type", "")
    except urllib.error.HTTPError as error:
        raw, status, kind = error.read(), error.code, error.headers.get("content-type", "")
    if "json" in kind:
        return status, json.loads(raw or b"null")
    return status, raw.decode("utf-8", "replace")


def rest(servers, sender: str, text: str) -> List[Dict[str, Any]]:
    status, replies = http(f"{servers['url']}/webhooks/rest/webhook", "POST",
                           json.dumps({"sender": sender, "message": text}).encode(),
                           {"Content-Type": "application/json"})
    assert status == 200, replies
    return replies


def collect(v: Visitor, quiet: float = 3.0, first_timeout: float = 60) -> List[Tuple[str, Any]]:
    """Every event until none has come for ``quiet`` seconds."""
    events, timeout = [], first_timeout
    while True:
        try:
            events.append(v.events.get(timeout=timeout))
        except Exception:  # queue.Empty
            return events
        timeout = quiet


def visitor_texts(confirm: Dict[str, Any]) -> List[str]:
    return [m.get("text") for m in confirm["history"] if m["role"] == "visitor"]


def assert_still_serving(servers, visitor) -> None:
    """The process is alive, and a visitor on Socket.IO and a REST caller get real answers."""
    assert servers["process"].poll() is None, Path(servers["log"]).read_text()[-3000:]
    assert http(servers["url"] + "/")[0] == 200
    v = visitor()
    v.say("is klonopin addictive")
    assert "Source:" in texts(v.replies_until_quiet(quiet=1))
    assert "Source:" in texts(rest(servers, f"alive-{time.monotonic()}", "is klonopin addictive"))


# -- the flood limit ------------------------------------------------------------------

def test_a_flood_gets_one_notice_a_reconnect_keeps_the_limit_and_a_crisis_still_gets_through(visitor):
    v = visitor()
    for i in range(10):
        v.say(f"what is klonopin ({i})")
    events = collect(v)
    assert sum(name == "bot_uttered" for name, _ in events) >= 8
    notices = [d for name, d in events if name == "session_error"]
    assert len(notices) == 1, notices
    assert notices[0]["reason"] == "flood"
    assert "faster than I can read them" in notices[0]["message"]
    assert "If this is an emergency call 911; for suicidal thoughts call or text 988" in notices[0]["message"]
    v.close()

    # the same conversation on a new connection: 8 were answered, and the limit is still there
    again = visitor(v.session_id)
    assert again.session_id == v.session_id
    assert len(visitor_texts(again.confirm)) == 8
    again.say("is klonopin addictive")
    assert again.replies_until_quiet(first_timeout=3) == []

    # over the limit, a crisis is still answered, with its lines
    again.say("i want to kill myself")
    reply = again.wait("bot_uttered", match=lambda m: "escalation" in (m.get("custom") or {}))
    assert reply["custom"]["escalation"]["tier"] == "suicide"
    again.close()
    seen = visitor_texts(visitor(v.session_id).confirm)
    assert "i want to kill myself" in seen and "is klonopin addictive" not in seen and len(seen) == 9


def test_a_rest_flood_gets_429_with_the_lines_and_a_crisis_still_gets_through(servers):
    url = f"{servers['url']}/webhooks/rest/webhook"
    sender = f"rest-flood-{time.monotonic()}"

    def post(text: str):
        return http(url, "POST", json.dumps({"sender": sender, "message": text}).encode(),
                    {"Content-Type": "application/json"})

    answered = [post(f"what is klonopin ({i})")[0] for i in range(8)]
    assert answered == [200] * 8
    status, refusal = post("is klonopin addictive")
    assert status == 429 and refusal["reason"] == "flood", refusal
    assert "If this is an emergency call 911; for suicidal thoughts call or text 988" in refusal["error"]
    # over the limit, a crisis is still answered, with its lines
    status, replies = post("i want to kill myself")
    assert status == 200 and any((r.get("custom") or {}).get("escalation", {}).get("tier") == "suicide"
                                 for r in replies), replies
    assert "988" in json.dumps(replies)
    # another conversation is not limited by this one
    assert texts(rest(servers, f"rest-other-{time.monotonic()}", "is klonopin addictive"))


def test_a_message_over_2000_characters_gets_a_session_error_and_is_not_processed(visitor):
    v = visitor()
    v.say("is klonopin addictive " + "x" * 2000)
    error = v.wait("session_error", timeout=10)
    assert error["reason"] == "too_long" and "too long" in error["message"]
    assert v.replies_until_quiet(first_timeout=2) == []
    assert visitor_texts(visitor(v.session_id).confirm) == []


# -- fuzzing the web chat (Socket.IO) ---------------------------------------------------

def registered_events() -> List[str]:
    """The web chat's Socket.IO events, read from its source (new ones are fuzzed too)."""
    source = (PROJECT_ROOT / "bot" / "channels" / "webchat.py").read_text()
    events = sorted(set(re.findall(r'@sio\.on\("([a-z_]+)"\)', source)) - {"connect"})
    assert {"session_request", "user_uttered", "handoff_cancel"} <= set(events)
    return events


NOT_A_MESSAGE = [None, [], 42, 3.5, "just a string", True, b"\x00\xff\xfe binary", {}, {"message": None},
                 {"message": 42}, {"message": ["hi"]}, {"message": {"text": "hi"}}, {"message": b"hi"}]
ODD_PAYLOADS = NOT_A_MESSAGE + [
    {"message": ""}, {"session_id": "\u00e9" * 32 + "." + "\u00e9" * 32}, {"session_id": "a" * 32 + ".\ud800"},
    {"session_id": 10 ** 30}, {"message": "hi", "metadata": "[" * 5000 + "]" * 5000},
    {"\ud800": "\x00", "message": "\u202e\u200d\ud83d"}, ["a", {"b": None}],
]


def test_user_uttered_that_is_not_a_message_gets_a_session_error(visitor):
    v = visitor()
    for payload in NOT_A_MESSAGE:
        v.client.emit("user_uttered", payload)
        error = v.wait("session_error", timeout=10)
        assert error["reason"] == "unreadable", payload
        assert error["message"] == "Sorry, I couldn't read that message. Please type it again."
    v.client.emit("user_uttered", ({"message": "hi"}, "an extra argument"))
    assert v.wait("bot_uttered", timeout=30)  # extra arguments are ignored


def test_empty_messages_are_ignored_quietly(visitor):
    v = visitor()
    for text in ("", "   ", "\x00\x01\x02", "\t\n\r"):
        v.client.emit("user_uttered", {"message": text})
    time.sleep(2)
    assert [name for name, _ in v.drain() if name in ("bot_uttered", "session_error")] == []


@pytest.mark.parametrize("text", [
    "hi \u200f\u05e9\u05dc\u05d5\u05dd\u200e \u202eoll\u0259h",            # right-to-left marks and override
    "\U0001F469\u200d\U0001F469\u200d\U0001F467 hi \U0001F44B\U0001F3FD",  # zero-width joiners, emoji
    "hi\x00 there\x07\x1b[31m",                                           # NUL and control characters
    "hi \ud83d there",                                                    # a lone surrogate
])
def test_odd_unicode_is_answered_like_any_message(visitor, text):
    v = visitor()
    v.say(text)
    assert texts(v.replies_until_quiet(quiet=1)), f"no reply to {text!r}"
    # stored without control characters or half emoji, everything else kept
    assert visitor_texts(visitor(v.session_id).confirm) == [clean_text(text).strip()]


def test_session_request_with_anything_gives_a_new_valid_session(visitor):
    v = visitor()
    for payload in [None, 42, [], "str", b"\xff", {"session_id": 42}, {"session_id": None},
                    {"session_id": "\u00e9" * 32 + "." + "\u00e9" * 32}, {"session_id": "a" * 32 + ".\ud800"},
                    {"session_id": "\x00" * 65}, {"session_id": "x" * 100_000}, {"session_id": ["a.b"]}]:
        v.client.emit("session_request", payload)
        confirm = v.wait("session_confirm", timeout=10)
        conversation_id, signature = confirm["session_id"].split(".")
        assert len(conversation_id) == 32 and len(signature) == 32 and confirm["history"] == [], payload


@pytest.mark.parametrize("event", registered_events() + ["no_such_event"])
def test_every_event_survives_odd_payloads(visitor, event):
    v = visitor()
    payloads = ODD_PAYLOADS + [()]  # () : the event without any data
    for first in range(0, len(payloads), 8):  # engine.io takes at most 16 packets in one long-polling post
        for payload in payloads[first:first + 8]:
            v.client.emit(event, payload) if payload != () else v.client.emit(event)
        # the connection still works: a new session is confirmed
        v.client.emit("session_request", {})
        v.wait("session_confirm", timeout=10)
    assert v.client.connected


def test_a_megabyte_message_is_refused_and_the_server_keeps_serving(servers, visitor):
    v = visitor()
    v.client.emit("user_uttered", {"message": "x" * 1_048_576})
    # engine.io refuses a packet over its 1 MB buffer by dropping the connection;
    # a smaller one gets the "too long" reply
    deadline = time.monotonic() + 15
    while v.client.connected and time.monotonic() < deadline:
        if any(name == "session_error" for name, _ in v.drain()):
            break
        time.sleep(0.2)
    else:
        assert not v.client.connected
    big = visitor()
    big.client.emit("user_uttered", {"message": "x" * 500_000})
    assert big.wait("session_error", timeout=15)["reason"] == "too_long"
    assert_still_serving(servers, visitor)


# -- fuzzing the REST webhook -------------------------------------------------------------

REST_BODIES = [
    b"", b"x" * 1_048_576, b"\xff\xfe\x00\x01 binary", b"{not json", b"[]", b"42", b"null", b'"text"',
    b"[" * 30_000 + b"]" * 30_000,
    json.dumps({"message": "hi"}).encode(),
    json.dumps({"sender": None, "message": "hi"}).encode(),
    json.dumps({"sender": ["me"], "message": "hi"}).encode(),
    json.dumps({"sender": "fuzz-rest", "message": None}).encode(),
    json.dumps({"sender": "fuzz-rest", "message": 42}).encode(),
    json.dumps({"sender": "fuzz-rest", "message": {"text": "hi"}}).encode(),
    json.dumps({"sender": "fuzz-rest", "message": ""}).encode(),
    json.dumps({"sender": "fuzz-rest", "message": "x" * 1_000_000}).encode(),
    json.dumps({"sender": "fuzz\x00rest\ud800", "message": "hi"}).encode(),
]


def test_the_rest_webhook_answers_bad_input_with_a_4xx_and_a_reason(servers, visitor):
    url = f"{servers['url']}/webhooks/rest/webhook"
    for body in REST_BODIES:
        for content_type in ("application/json", "text/plain"):
            status, reply = http(url, "POST", body, {"Content-Type": content_type})
            assert status in (400, 413), (body[:40], status, reply)
            assert isinstance(reply, dict) and reply.get("error"), (body[:40], reply)
    # odd but valid text is answered
    for text in ("hi\x00\x07 \ud83d", "\u202e\u200d\U0001F469\u200d\U0001F467 hi"):
        status, replies = http(url, "POST", json.dumps({"sender": "fuzz-odd", "message": text}).encode(),
                               {"Content-Type": "application/json"})
        assert status == 200 and texts(replies)
    assert_still_serving(servers, visitor)


# -- fuzzing the staff console's API ---------------------------------------------------

def console_routes() -> List[Tuple[str, str]]:
    """(method, path) of every console route, read from bot/console/api.py."""
    source = (PROJECT_ROOT / "bot" / "console" / "api.py").read_text()
    routes = [(methods.strip('"'), path) for path, methods in
              re.findall(r'\(\w+, "(/console/api/[^"]*)", \[([^\]]+)\]\)', source)]
    assert len(routes) >= 12 and ("POST", "/console/api/login") in routes
    return routes


MALFORMED_BODIES = [b"x" * 1_048_576, b"\xff\xfe\x00\x01 binary", b"{not json", b"[]", b"42", b"null", b'"text"',
                    b"[" * 30_000 + b"]" * 30_000]
CONSOLE_BODIES = [None, b""] + MALFORMED_BODIES + [
    json.dumps({"username": ["nobody"], "password": 42, "text": 42, "note": ["n"], "staff_id": "1"}).encode(),
    json.dumps({"username": None, "password": None, "text": None, "note": None, "staff_id": None}).encode(),
    json.dumps({"username": "nobody\ud800", "password": "pw\x00\ud800", "text": "hi\ud800",
                "note": "\ud800", "staff_id": 10 ** 30}).encode(),
    json.dumps({"username": "nobody", "password": "x" * 500_000, "text": "x" * 100_000, "note": "x" * 10_000,
                "staff_id": True}).encode(),
    json.dumps({"username": "\u202e\x00", "password": "\u200d", "text": "\u202e\u200d\x00\x07",
                "note": "\u202e\x00", "staff_id": -1}).encode(),
]
MISSING_IDS = ["999999", "0", "-1", str(2 ** 63), "9" * 40]


def console_call(member: Staff, method: str, path: str, body: Optional[bytes]) -> Tuple[int, Any]:
    headers = {"Content-Type": "application/json", **({"X-CSRF-Token": member.csrf} if member.csrf else {})}
    return http(member.url + path, method, body, headers, member.opener)


def test_every_console_route_answers_bad_input_with_a_4xx_json_error(servers, visitor):
    # a real conversation waiting for staff, so the routes that change one get that far
    v = visitor()
    v.say("can i talk to a real person")
    v.wait("handoff_status", match=lambda s: s.get("state") == "waiting")
    boss, staff, nobody = Staff(servers["url"]), Staff(servers["url"]), Staff(servers["url"])
    assert boss.login("boss")[0] == 200 and staff.login("fuzz")[0] == 200
    conversation_id = v.session_id.split(".")[0]
    status, queue = boss.call("GET", "/console/api/queue")
    [waiting] = [h for h in queue["handoffs"] if h["conversation_id"] == conversation_id]
    real_id = str(waiting["id"])

    failures, calls = [], 0

    def check(member, method, path, body, expect=None):
        nonlocal calls
        calls += 1
        status, reply = console_call(member, method, path, body)
        clear = isinstance(reply, dict) and (reply.get("error") or reply.get("message"))
        if status >= 500 or (status >= 400 and not clear) or (expect and status not in expect):
            failures.append((method, path, (body or b"")[:30], status, str(reply)[:100]))

    for method, route in console_routes():
        if route.endswith("/logout"):
            continue  # would end the session the other calls use; fuzzed on its own below
        bodies = CONSOLE_BODIES if method == "POST" else [None]
        for n, handoff_id in enumerate(MISSING_IDS if "<" in route else [None]):
            path = re.sub(r"<\w+:int>", handoff_id or "", route)
            check(nobody, method, path, bodies[-1], expect=None if route.endswith("/login") else (401,))
            for member in (staff, boss):
                for body in (bodies if n == 0 else bodies[-3:]):  # every body once per route
                    check(member, method, path, body,
                          expect=(400, 401, 413) if route.endswith("/login") and body is not None else None)
        if "<handoff_id" in route and re.search(r"/(reply|resolve|assign)$", route):
            # the real conversation: a body that is not a JSON object never gets past the check
            for body in MALFORMED_BODIES:
                check(boss, method, route.replace("<handoff_id:int>", real_id), body, expect=(400, 413))
        if "<handoff_id" in route and method == "GET":
            check(staff, method, route.replace("<handoff_id:int>", real_id), None, expect=(200,))
    assert failures == [], f"{len(failures)} of {calls} calls failed"

    # headers: a CSRF token or a cookie that is not ASCII or not UTF-8 is simply wrong
    assert http(servers["url"] + "/console/api/handoffs/999999/claim", "POST", b"{}",
                {"X-CSRF-Token": "\u00e9t\u00e9", "Content-Type": "application/json"}, staff.opener)[0] == 403
    assert http(servers["url"] + "/console/api/me", "GET", None,
                {"Cookie": "helpline_console=\u00ff\u00fe\u00e9"})[0] == 401
    # the conversation is untouched: still waiting, nothing was replied or resolved
    status, queue = boss.call("GET", "/console/api/queue")
    assert [h["status"] for h in queue["handoffs"] if h["id"] == waiting["id"]] == ["waiting"]
    assert [name for name, data in v.drain() if name == "bot_uttered" and data.get("sender") == "staff"] == []
    # logout with odd bodies: it only logs out
    for body in (b"[" * 30_000, b"\xff", b"null"):
        status, reply = console_call(staff, "POST", "/console/api/logout", body)
        assert status in (200, 401) and isinstance(reply, dict), (status, reply)
    assert staff.call("GET", "/console/api/me")[0] == 401
    assert_still_serving(servers, visitor)


# -- the log ------------------------------------------------------------------------

def test_phone_numbers_and_emails_stay_out_of_the_debug_log(servers, visitor):
    v = visitor()
    v.say(SECRET_TEXT)
    assert v.replies_until_quiet()
    assert rest(servers, "fuzz-log", SECRET_TEXT)
    time.sleep(1)
    log = Path(servers["log"]).read_text(errors="replace")
    assert "DEBUG" in log and "processor.message.parse" in log  # debug logging was on
    assert "please call me back on [phone] or write to [email]" in log  # the message was logged, masked
    assert PHONE not in log and PHONE.replace("-", "") not in log and EMAIL not in log


# -- Rasa's HTTP API ------------------------------------------------------------------

API_CALLS = [("GET", "/status"), ("GET", "/conversations/x/tracker"), ("POST", "/model/parse"),
             ("PUT", "/model"), ("DELETE", "/model"), ("GET", "/domain"), ("POST", "/conversations/x/messages")]


def test_rasa_http_api_is_off_by_default(servers):
    for method, path in API_CALLS + [("GET", "/model")]:
        status, reply = http(servers["url"] + path, method, b"{}" if method in ("POST", "PUT") else None,
                             {"Content-Type": "application/json"})
        assert status == 404, (method, path, status, reply)
    # and with a token it is still off
    assert http(f"{servers['url']}/status?token={API_TOKEN}")[0] == 404


def test_with_the_api_enabled_every_call_needs_the_token(servers):
    url = servers["api_url"]
    model_file = json.dumps({"model_file": str(MODEL_PATH)}).encode()
    for method, path in API_CALLS:
        body = model_file if path == "/model" and method == "PUT" else (b"{}" if method != "GET" else None)
        for suffix in ("", "?token=", "?token=wrong", f"?token={API_TOKEN[:-1]}"):
            status, reply = http(url + path + suffix, method, body, {"Content-Type": "application/json"})
            assert status in (401, 403), (method, path, suffix, status, reply)
    # the token opens it: the API really is on
    assert http(f"{url}/status?token={API_TOKEN}")[0] == 200
    status, tracker = http(f"{url}/conversations/x/tracker?token={API_TOKEN}")
    assert status == 200 and tracker["sender_id"] == "x"
    assert servers["api"].poll() is None
