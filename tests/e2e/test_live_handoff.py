"""Live handoff over the real servers: a visitor on Socket.IO, staff on the console API.

Staff are online round the clock here (see the live_stack fixture in conftest.py).
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bot import PROJECT_ROOT
from bot.handoff.store import HandoffStore
from tests.e2e.support import STAFF_PASSWORD, Staff, Visitor, texts

pytestmark = pytest.mark.e2e


@pytest.fixture
def visitor(live_stack):
    visitors = []

    def make(session_id=None):
        visitors.append(Visitor(live_stack["url"], session_id))
        return visitors[-1]

    yield make
    for v in visitors:
        v.close()


def staff(live_stack, username="dana") -> Staff:
    member = Staff(live_stack["url"])
    status, body = member.login(username)
    assert status == 200, body
    return member


def queue_entry(member: Staff, session_id: str):
    conversation_id = session_id.split(".")[0]
    status, body = member.call("GET", "/console/api/queue")
    assert status == 200, body
    return next((h for h in body["handoffs"] if h["conversation_id"] == conversation_id), None)


def ask_for_a_person(v: Visitor) -> dict:
    v.say("can i talk to a real person")
    return v.wait("handoff_status", match=lambda s: s.get("state") == "waiting")


# -- sessions ---------------------------------------------------------------------

def test_the_server_issues_signed_ids_and_refuses_made_up_ones(visitor):
    made_up = "0123456789abcdef0123456789abcdef.00000000000000000000000000000000"
    v = visitor(made_up)
    assert v.session_id != made_up and v.confirm["history"] == []
    conversation_id, signature = v.session_id.split(".")
    assert len(conversation_id) == 32 and len(signature) == 32


def test_a_reload_resumes_the_conversation_with_its_history(visitor):
    first = visitor()
    first.say("is klonopin addictive")
    assert "Source:" in texts(first.replies_until_quiet())
    first.close()
    again = visitor(first.session_id)
    assert again.session_id == first.session_id
    roles = [m["role"] for m in again.confirm["history"]]
    assert roles[0] == "visitor" and "bot" in roles
    assert again.confirm["history"][0]["text"] == "is klonopin addictive"


def test_a_client_cannot_speak_or_listen_in_another_conversation(visitor):
    victim, intruder = visitor(), visitor()
    # the intruder names the victim's id in its message: it still speaks in its own conversation
    intruder.client.emit("user_uttered", {"message": "what is klonopin", "session_id": victim.session_id})
    assert intruder.replies_until_quiet()
    assert victim.replies_until_quiet(first_timeout=2) == []
    # and asking for the victim's session without the signature gives a new conversation
    stranger = visitor(victim.session_id.split(".")[0])
    assert stranger.session_id != victim.session_id


# -- handoff ----------------------------------------------------------------------

def test_handoff_claim_reply_and_hand_back(live_stack, visitor):
    v = visitor()
    status = ask_for_a_person(v)
    assert status["position"] >= 1
    v.drain()  # the bot's replies came before the status

    # while handed off, the bot stays quiet
    v.say("what is klonopin")
    assert v.replies_until_quiet(first_timeout=3) == []

    dana, sam = staff(live_stack, "dana"), staff(live_stack, "sam")
    entry = queue_entry(dana, v.session_id)
    assert entry and entry["status"] == "waiting" and entry["reason"] == "visitor_request"
    code, body = dana.call("POST", f"/console/api/handoffs/{entry['id']}/claim")
    assert code == 200, body
    joined = v.wait("bot_uttered", match=lambda m: m.get("sender") == "system")
    assert "Dana" in joined["text"]
    assert v.wait("handoff_status")["state"] == "connected"

    # two staff can never claim the same conversation
    code, body = sam.call("POST", f"/console/api/handoffs/{entry['id']}/claim")
    assert code == 409 and "Dana" in body["error"]
    # nor can another staff member reply in it
    code, body = sam.call("POST", f"/console/api/handoffs/{entry['id']}/reply", {"text": "hi"})
    assert code == 403

    sent = time.monotonic()
    code, _ = dana.call("POST", f"/console/api/handoffs/{entry['id']}/reply", {"text": "Hi, I'm Dana. How can I help?"})
    assert code == 200
    reply = v.wait("bot_uttered", timeout=5, match=lambda m: m.get("sender") == "staff")
    print(f"staff reply reached the visitor in {time.monotonic() - sent:.3f} s")
    assert reply["text"] == "Hi, I'm Dana. How can I help?" and reply["staff_name"] == "Dana"

    v.say("thanks, that helps")
    code, view = dana.call("GET", f"/console/api/handoffs/{entry['id']}")
    assert code == 200
    transcript = [(m["role"], m["text"]) for m in view["transcript"]]
    assert ("visitor", "what is klonopin") in transcript
    assert ("staff", "Hi, I'm Dana. How can I help?") in transcript
    assert all(m["at"] for m in view["transcript"])

    code, _ = dana.call("POST", f"/console/api/handoffs/{entry['id']}/return")
    assert code == 200
    assert v.wait("handoff_status", match=lambda s: s["state"] == "ended")
    v.drain()
    v.say("how long is rehab")
    assert "Source:" in texts(v.replies_until_quiet())

    store = HandoffStore(live_stack["env"]["HELPLINE_DATABASE_URL"])
    actions = [e.action for e in store.audit_entries(entry["id"])]
    assert actions[:4] == ["claimed", "replied", "viewed", "returned"]
    store.engine.dispose()


def test_a_crisis_during_handoff_gets_the_lines_and_goes_to_the_top(live_stack, visitor):
    earlier, v = visitor(), visitor()
    ask_for_a_person(earlier)
    ask_for_a_person(v)
    v.drain()  # the bot's replies came before the status
    dana = staff(live_stack)
    assert queue_entry(dana, v.session_id)["tier"] is None

    v.say("i cant do this anymore i want to kill myself")
    replies = v.replies_until_quiet()
    assert "988" in texts(replies)
    escalation = [r["custom"]["escalation"] for r in replies if "custom" in r]
    assert escalation and escalation[0]["tier"] == "suicide"
    _, body = dana.call("GET", "/console/api/queue")
    order = [h["conversation_id"] for h in body["handoffs"]]
    raised = queue_entry(dana, v.session_id)
    assert raised["tier"] == "suicide" and "kill myself" in " ".join(raised["trigger_phrases"])
    # ahead of the visitor who asked first (other tests may have left emergencies above both)
    assert order.index(raised["conversation_id"]) < order.index(earlier.session_id.split(".")[0])

    # "no" to "Are you safe right now?" still gets the lines again while staff are coming
    v.say("no")
    assert "988" in texts(v.replies_until_quiet())


def test_a_crisis_in_a_claimed_chat_alerts_its_staff_member_and_updates_the_summary(live_stack, visitor):
    v = visitor()
    ask_for_a_person(v)
    dana = staff(live_stack, "dana")
    heard = dana.listen("crisis_alert")
    try:
        entry = queue_entry(dana, v.session_id)
        assert dana.call("POST", f"/console/api/handoffs/{entry['id']}/claim")[0] == 200
        v.wait("handoff_status", match=lambda s: s.get("state") == "connected")
        v.drain()

        v.say("honestly i just wanted someone to know before i go tonight")
        replies = v.replies_until_quiet()
        said = texts(replies)
        assert "988" in said
        # staff are already in the chat: no promise that someone will join
        assert "join" not in said and "asking a member" not in said
        event, alert = heard.get(timeout=10)
        assert event == "crisis_alert" and alert["handoff_id"] == entry["id"] and alert["tier"] == "suicide"
        assert alert["reason"]

        code, view = dana.call("GET", f"/console/api/handoffs/{entry['id']}")
        assert code == 200
        assert view["summary"]["tier"] == "suicide"
        detail = view["summary"]["crisis_detail"]
        assert detail["action"] == "escalate" and detail["reason"] and detail["language"] == "en"
    finally:
        dana.client.disconnect()


def test_a_spanish_crisis_during_handoff_is_answered_in_spanish(live_stack, visitor):
    v = visitor()
    ask_for_a_person(v)
    v.drain()
    v.say("mi hermano se tomo todas las pastillas y no despierta")
    replies = v.replies_until_quiet()
    escalation = [r["custom"]["escalation"] for r in replies if "custom" in r]
    assert escalation and escalation[0]["tier"] == "emergency" and escalation[0]["lang"] == "es"
    assert "Llame al 911" in texts(replies)


def test_the_visitor_can_cancel_and_go_back_to_the_bot(live_stack, visitor):
    v = visitor()
    ask_for_a_person(v)
    v.client.emit("handoff_cancel", {"session_id": v.session_id})
    assert v.wait("handoff_status", match=lambda s: s["state"] == "ended")
    assert queue_entry(staff(live_stack), v.session_id) is None
    v.drain()
    v.say("what is klonopin")
    assert "clonazepam" in texts(v.replies_until_quiet()).lower()


# -- the console's access rules ------------------------------------------------------

def test_the_console_api_needs_a_login_and_the_csrf_token(live_stack, visitor):
    anonymous = Staff(live_stack["url"])
    assert anonymous.call("GET", "/console/api/queue")[0] == 401
    assert anonymous.call("POST", "/console/api/handoffs/1/claim")[0] == 401

    v = visitor()
    ask_for_a_person(v)
    dana = staff(live_stack)
    entry = queue_entry(dana, v.session_id)
    code, body = dana.call("POST", f"/console/api/handoffs/{entry['id']}/claim", csrf=False)
    assert code == 403 and "CSRF" in body["error"]
    code, body = dana.call("POST", f"/console/api/handoffs/{entry['id']}/reply", raw=b"{not json")
    assert code in (400, 403)
    # only supervisors reassign
    assert dana.call("POST", f"/console/api/handoffs/{entry['id']}/assign", {"staff_id": 1})[0] == 403
    lee = staff(live_stack, "lee")
    _, listing = lee.call("GET", "/console/api/staff")
    sam_id = next(s["id"] for s in listing["staff"] if s["username"] == "sam")
    code, body = lee.call("POST", f"/console/api/handoffs/{entry['id']}/assign", {"staff_id": sam_id})
    assert code == 200 and body["handoff"]["claimed_by"]["display_name"] == "Sam"


def test_repeated_failed_logins_lock_the_account(live_stack):
    subprocess.run([sys.executable, "-m", "bot.console.users", "add", "kim", "--name", "Kim"], cwd=PROJECT_ROOT,
                   env={**live_stack["env"], "HELPLINE_NEW_PASSWORD": STAFF_PASSWORD}, check=True)
    member = Staff(live_stack["url"])
    codes = [member.login("kim", "wrong password!")[0] for _ in range(5)]
    assert codes == [401, 401, 401, 401, 423]
    code, body = member.login("kim")  # even the right password, while locked
    assert code == 423 and "locked" in body["error"]


def test_a_disabled_account_cannot_log_in(live_stack):
    env = {**live_stack["env"], "HELPLINE_NEW_PASSWORD": STAFF_PASSWORD}
    subprocess.run([sys.executable, "-m", "bot.console.users", "add", "ray", "--name", "Ray"], cwd=PROJECT_ROOT,
                   env=env, check=True)
    member = Staff(live_stack["url"])
    assert member.login("ray")[0] == 200
    subprocess.run([sys.executable, "-m", "bot.console.users", "disable", "ray"], cwd=PROJECT_ROOT, env=env, check=True)
    assert member.call("GET", "/console/api/queue")[0] == 401  # logged out everywhere
    assert Staff(live_stack["url"]).login("ray")[0] == 401
