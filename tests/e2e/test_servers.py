"""End to end: start the real servers with `python -m bot.ops.run` and talk to them.

Needs a trained model (`make test` trains first). Uses its own ports and
temporary databases, so a running development server is not disturbed.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sqlalchemy import select

from bot.handoff.store import HandoffRequest, HandoffStore
from bot.ops.process import free_port
from bot.ops.train import MODEL_PATH
from tests.e2e.support import (ARTIFACTS, Staff, Visitor, add_staff, base_env, console_login, start, stop_process,
                               wait_for)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run `make train` (make test does it)")
    tmp = tmp_path_factory.mktemp("stack")
    port, actions_port = free_port(), free_port()
    env = base_env(tmp)
    add_staff(env, "kim", "Kim")
    process = start([sys.executable, "-m", "bot.ops.run", "--port", str(port), "--actions-port", str(actions_port)],
                    env, tmp / "run.log")
    try:
        wait_for(f"http://127.0.0.1:{port}/", process)
        wait_for(f"http://127.0.0.1:{actions_port}/health", process)
        yield {"url": f"http://127.0.0.1:{port}", "db": env["HELPLINE_DATABASE_URL"], "process": process,
               "ports": (port, actions_port)}
    finally:
        stop_process(process)


def say(stack_or_url, sender: str, text: str):
    url = stack_or_url["url"] if isinstance(stack_or_url, dict) else stack_or_url
    request = urllib.request.Request(
        f"{url}/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        replies = json.loads(response.read())
    # the core fallback means no rule knew what to do next: never expected in these conversations
    assert "couldn't work out how to help" not in texts(replies), f"fallback after {text!r}: {replies}"
    return replies


def texts(replies):
    return "\n".join(r.get("text") or "" for r in replies)


def escalations(replies):
    return [r["custom"]["escalation"] for r in replies if "escalation" in (r.get("custom") or {})]


def test_greeting_and_an_answer_with_its_source(stack):
    assert "Helpline Assistant" in texts(say(stack, "e2e-faq", "hello"))
    answer = texts(say(stack, "e2e-faq", "how long does klonopin withdrawal last"))
    assert "Source:" in answer and "weeks" in answer


def test_the_health_route_says_ok_on_the_default_set_up(stack):
    """SQLite for both databases, no Redis: every check passes (docs/operations.md, Health)."""
    with urllib.request.urlopen(f"{stack['url']}/webhooks/webchat/", timeout=30) as response:
        assert (response.status, json.loads(response.read())) == (200, {"status": "ok"})


def test_the_same_question_twice_is_answered_twice(stack):
    first = say(stack, "e2e-repeat", "is klonopin addictive")
    second = say(stack, "e2e-repeat", "is klonopin addictive")
    assert texts(first) and texts(first) == texts(second)


@pytest.mark.parametrize("text, tier, line", [
    ("my boyfriend took a bunch of kpins and hes not breathing", "emergency", "911"),
    ("i dont want to be alive anymore", "suicide", "988"),
    ("quit klonopin cold turkey 3 days ago and now im seeing things", "medical", "911"),
])
def test_crisis_gets_its_lines_and_payload_and_is_handed_off(stack, text, tier, line):
    sender = f"e2e-crisis-{tier}"
    replies = say(stack, sender, text)
    [escalation] = escalations(replies)
    assert escalation["tier"] == tier
    assert escalation["lines"][0]["phone"] == line
    assert line in texts(replies)
    assert "offline" in texts(replies)  # the closed helpline says so honestly
    store = HandoffStore(stack["db"])
    with store.session() as session:
        [request] = session.execute(select(HandoffRequest).where(HandoffRequest.conversation_id == sender)).scalars()
    # outside staff hours it is kept for the staff's review, not put in the live queue
    assert request.tier == tier and request.trigger_phrases and request.status == "offline"
    store.engine.dispose()


def test_a_question_about_overdose_is_answered_not_escalated(stack):
    replies = say(stack, "e2e-question", "what are the signs of an overdose")
    assert not escalations(replies)
    assert "Source:" in texts(replies)
    assert texts(replies).endswith("If this is happening to someone right now, call 911.")  # and one line


def test_a_question_about_mixing_gets_its_answer_not_911(stack):
    replies = say(stack, "e2e-mixing", "can i take klonopin with oxycodone")
    assert not escalations(replies)
    assert "opioids" in texts(replies) and "This sounds like a medical emergency" not in texts(replies)


def test_a_spanish_crisis_gets_spanish_lines_over_socketio(stack):
    visitor = Visitor(stack["url"])
    try:
        visitor.say("mi esposo se tomo todo el frasco de clonazepam y no despierta")
        replies = visitor.replies_until_quiet()
    finally:
        visitor.close()
    [escalation] = escalations(replies)
    assert escalation["tier"] == "emergency" and escalation["lang"] == "es"
    assert [line["phone"] for line in escalation["lines"]][0] == "911"
    said = texts(replies)
    assert "Llame al 911" in said and "marque 2" in said
    assert "no está conectado" in said  # the offline notice, in Spanish too


def test_a_first_person_overdose_gets_advice_for_that_person(stack):
    said = texts(say(stack, "e2e-self", "i took my whole bottle of klonopin 20 min ago"))
    assert "unlock the door" in said and "stay with the person" not in said


def test_a_young_child_who_swallowed_pills_gets_poison_help_first(stack):
    replies = say(stack, "e2e-child", "my 2 year old got into my purse and ate some of my pills")
    [escalation] = escalations(replies)
    assert escalation["tier"] == "emergency" and escalation["lines"][0]["phone"] == "1-800-222-1222"
    assert texts(replies).startswith("Call Poison Help at 1-800-222-1222 now")


def test_outside_hours_a_person_request_books_a_callback(stack):
    sender = "e2e-callback"
    offer = say(stack, sender, "can i talk to a real person")
    assert "1-800-555-0100" in texts(offer)
    assert [b["payload"] for b in offer[-1]["buttons"]] == ["/affirm", "/deny"]
    assert "store your phone number" in texts(say(stack, sender, "/affirm"))
    assert "phone number" in texts(say(stack, sender, "yes that's fine"))
    assert "doesn't look like" in texts(say(stack, sender, "555-123"))
    # nothing is answered by the fallback after the callback is stored (checked in say())
    # a question inside the form is answered, then the form goes on
    inside = texts(say(stack, sender, "does insurance cover rehab"))
    assert "Source:" in inside and "phone number" in inside
    assert "good time" in texts(say(stack, sender, "(412) 555-0134"))
    assert "412-555-0134" in texts(say(stack, sender, "weekday mornings"))
    assert "Source:" in texts(say(stack, sender, "is klonopin addictive"))
    store = HandoffStore(stack["db"])
    [callback] = [c for c in store.callbacks() if c.conversation_id == sender]
    assert (callback.phone, callback.best_time, callback.consent) == ("412-555-0134", "weekday mornings", True)
    store.engine.dispose()


def test_outside_hours_the_console_lists_the_callbacks_to_make(stack, context):
    sender = "e2e-console-callback"
    for text in ("i would like to speak to a person", "/affirm", "yes", "412 555 0177", "after 5pm"):
        say(stack, sender, text)
    console = console_login(context().new_page(), stack["url"], "kim")
    item = console.locator('[data-testid="callback-item"]', has_text="412-555-0177")
    item.wait_for()
    assert item.locator('a[href="tel:412-555-0177"]').count() == 1 and "after 5pm" in item.inner_text()
    console.screenshot(path=str(ARTIFACTS / "console-callbacks.png"), full_page=True)
    item.locator('[data-testid="callback-called"]').click()
    item.wait_for(state="detached")  # done: off the list

    staff = Staff(stack["url"])
    assert staff.login("kim")[0] == 200
    status, queue = staff.call("GET", "/console/api/queue")
    assert status == 200 and queue["staff_online"] is False
    assert "412-555-0177" not in [c["phone"] for c in queue["callbacks"]]
    store = HandoffStore(stack["db"])
    [callback] = [c for c in store.callbacks() if c.conversation_id == sender]
    assert callback.status == "called"
    assert any(e.action == "called_back" and e.details == {"callback_id": callback.id} for e in store.audit_entries())
    store.engine.dispose()
    # once only, and a request that does not exist is not found
    assert staff.call("POST", f"/console/api/callbacks/{callback.id}/called", {})[0] == 409
    assert staff.call("POST", "/console/api/callbacks/999999/called", {})[0] == 404
    assert Staff(stack["url"]).call("POST", f"/console/api/callbacks/{callback.id}/called", {})[0] == 401


def test_crisis_inside_the_callback_form_interrupts_it(stack):
    sender = "e2e-form-crisis"
    say(stack, sender, "i want to talk to someone")
    say(stack, sender, "/affirm")
    replies = say(stack, sender, "i want to kill myself")
    assert escalations(replies)[0]["tier"] == "suicide"
    # the form is over: the next question is simply answered
    assert "Source:" in texts(say(stack, sender, "how long is rehab"))


def test_declining_the_callback_leaves_the_assistant_listening(stack):
    sender = "e2e-decline"
    say(stack, sender, "can i speak to a human")
    assert "nothing has been stored" in texts(say(stack, sender, "/deny"))
    assert "Source:" in texts(say(stack, sender, "how long is rehab"))


def test_socketio_replies_arrive(stack):
    """The web chat delivers replies over Socket.IO (Rasa 3.6.21's own socketio channel loses
    them with session_persistence and python-socketio 5; bot/channels/webchat.py awaits the room)."""
    visitor = Visitor(stack["url"])
    try:
        visitor.say("what is klonopin")
        reply = visitor.wait("bot_uttered")
    finally:
        visitor.close()
    assert "clonazepam" in (reply.get("text") or "").lower()


# stops the module's stack: tests that use `stack` go above this one
def test_ctrl_c_stops_both_servers_cleanly(stack):
    process = stack["process"]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert "Stopped." in Path(process.log).read_text()
    for port in stack["ports"]:  # both servers are gone, their ports free again
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"


def test_ctrl_c_during_start_up_stops_at_once(tmp_path):
    port, actions_port = free_port(), free_port()
    process = start([sys.executable, "-m", "bot.ops.run", "--port", str(port), "--actions-port", str(actions_port)],
                    base_env(tmp_path), tmp_path / "run.log")
    time.sleep(3)  # the servers are still loading
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    time.sleep(1)
    for p in (port, actions_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", p)) != 0, f"a server is still listening on {p}"
