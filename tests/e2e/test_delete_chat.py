"""A visitor deletes their chat: the widget's button in a real browser (Debian's chromium
driven by Playwright) and the Socket.IO event, against the real servers.

The servers run on databases of their own in a temporary folder, so the test can look in
Rasa's tracker store and the helpline tables afterwards.
"""
from __future__ import annotations

import re
import sys

import pytest
from sqlalchemy import func, select

from bot import PROJECT_ROOT
from bot.handoff.store import CallbackRequest, HandoffRequest, HandoffStore
from bot.ops.process import free_port
from bot.ops.train import MODEL_PATH
from tests.e2e.support import ARTIFACTS, Visitor, add_staff, base_env, console_login, start, stop_process, wait_for
from tests.privacy.conftest import tracker_rows

pytestmark = pytest.mark.e2e

SESSION_KEY = "helpline-widget:session"
CONFIRM_TEXT = "Delete this chat? This removes the conversation from our records."
CONTRAST = (PROJECT_ROOT / "tests" / "e2e" / "contrast.js").read_text()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The assistant with staff online round the clock and one staff account."""
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run `make train` (make test does it)")
    tmp = tmp_path_factory.mktemp("privacy")
    env = base_env(tmp)
    env["HELPLINE_STAFF_HOURS"] = "mon-sun 00:00-24:00"
    add_staff(env, "dana", "Dana")
    port, actions_port = free_port(), free_port()
    process = start([sys.executable, "-m", "bot.ops.run", "--port", str(port), "--actions-port", str(actions_port)],
                    env, tmp / "run.log")
    store = None
    try:
        wait_for(f"http://127.0.0.1:{port}/", process)
        wait_for(f"http://127.0.0.1:{actions_port}/health", process)
        store = HandoffStore(env["HELPLINE_DATABASE_URL"])
        yield {"url": f"http://127.0.0.1:{port}", "tracker": env["HELPLINE_TRACKER_URL"], "store": store}
    finally:
        stop_process(process)
        if store is not None:
            store.engine.dispose()


@pytest.fixture
def page_in(context):
    """A new page in a browser context of its own (the browser is shared: tests/e2e/conftest.py)."""
    return lambda **options: context(**options).new_page()


def open_widget(page, url):
    page.goto(f"{url}/demo")
    page.get_by_role("button", name=re.compile("chat", re.I)).first.click()
    page.wait_for_selector('[data-testid="connection-state"][data-state="connected"]')
    return page


def send(page, text):
    page.fill('[data-testid="input"]', text)
    page.keyboard.press("Enter")


def wait_for_text(page, pattern, role="bot"):
    page.locator(f'[data-testid="message"][data-role="{role}"]', has_text=re.compile(pattern, re.I)).first.wait_for()


def conversation_id(page):
    token = page.evaluate(f"sessionStorage.getItem({SESSION_KEY!r})")
    assert token and "." in token
    return token.split(".")[0]


def stored(stack, conversation):
    """(tracker events, transcript messages, handoff requests, callback requests) of a conversation."""
    store = stack["store"]
    with store.engine.connect() as connection:
        handoffs = connection.execute(select(func.count()).select_from(HandoffRequest).where(
            HandoffRequest.conversation_id == conversation)).scalar_one()
        callbacks = connection.execute(select(func.count()).select_from(CallbackRequest).where(
            CallbackRequest.conversation_id == conversation)).scalar_one()
    return len(tracker_rows(stack["tracker"], conversation)), len(store.transcript(conversation)), handoffs, callbacks


def test_a_visitor_deletes_a_chat_a_staff_member_has_claimed(stack, page_in):
    url = stack["url"]
    console = console_login(page_in(), url, "dana")
    visitor = open_widget(page_in(viewport={"width": 1280, "height": 800}), url)
    send(visitor, "what is klonopin")
    wait_for_text(visitor, "clonazepam")
    send(visitor, "my friend took too many kpins and his lips are blue")
    visitor.locator('[data-testid="emergency-bar"]').wait_for()
    send(visitor, "i need to talk to a real person please")
    visitor.locator('[data-testid="handoff-status"]').wait_for()
    item = console.locator('[data-testid="queue-item"]', has_text="lips are blue")  # the crisis opened it
    item.click()
    console.click('[data-testid="claim"]')
    wait_for_text(visitor, "Dana", role="system")
    old = conversation_id(visitor)
    events, transcript, handoffs, _ = stored(stack, old)
    assert events > 0 and transcript > 0 and handoffs == 1

    # the button is reachable with the keyboard: message box, Send, Delete this chat
    visitor.focus('[data-testid="input"]')
    visitor.keyboard.press("Tab")
    visitor.keyboard.press("Tab")
    assert visitor.evaluate("document.activeElement.dataset.testid") == "delete-chat"
    visitor.keyboard.press("Enter")
    dialog = visitor.locator('[data-testid="delete-dialog"]')
    dialog.wait_for()
    assert dialog.inner_text().startswith(CONFIRM_TEXT)
    assert dialog.get_attribute("aria-labelledby") and visitor.get_by_role("group", name=CONFIRM_TEXT).count() == 1
    assert visitor.evaluate("document.activeElement.dataset.testid") == "delete-keep"  # the safe answer
    visitor.keyboard.press("Escape")  # "Keep": nothing is deleted, the panel stays open
    dialog.wait_for(state="hidden")
    assert visitor.evaluate("document.activeElement.dataset.testid") == "delete-chat"
    assert visitor.locator('[data-testid="panel"]').is_visible()
    visitor.keyboard.press("Enter")
    dialog.wait_for()
    visitor.click('[data-testid="delete-keep"]')
    dialog.wait_for(state="hidden")
    assert stored(stack, old)[:3] == (events, transcript, 1)
    visitor.screenshot(path=str(ARTIFACTS / "widget-before-delete.png"))

    visitor.click('[data-testid="delete-chat"]')
    visitor.click('[data-testid="delete-confirm"]')
    wait_for_text(visitor, "This chat has been deleted", role="system")
    dialog.wait_for(state="hidden")
    visitor.wait_for_function(f"sessionStorage.getItem({SESSION_KEY!r}) !== null")
    assert conversation_id(visitor) != old  # a new conversation
    assert visitor.locator('[data-testid="message"][data-role="visitor"]').count() == 0
    assert visitor.locator('[data-testid="message"][data-role="bot"]').count() == 0
    assert visitor.locator('[data-testid="emergency-bar"]').count() == 0
    assert visitor.locator('[data-testid="handoff-status"]').is_hidden()
    assert visitor.evaluate("document.activeElement.dataset.testid") == "input"
    assert visitor.locator('[data-testid="basic-lines"] a[href="tel:911"]').is_visible()  # always there
    visitor.screenshot(path=str(ARTIFACTS / "widget-after-delete.png"))
    assert stored(stack, old) == (0, 0, 0, 0)

    # the console's queue changed without a reload: the conversation is gone
    item.wait_for(state="detached")
    console.locator('[data-testid="console-status"]', has_text="no longer available").wait_for()

    # the next message is a new conversation: Rasa does not see the old one
    send(visitor, "how long does withdrawal last")
    wait_for_text(visitor, "Source:")
    new = conversation_id(visitor)
    rows = tracker_rows(stack["tracker"], new)
    assert rows and "how long does withdrawal last" in "".join(rows)
    assert not any(old_text in "".join(rows) for old_text in ("klonopin", "lips are blue", "real person"))
    assert stored(stack, old) == (0, 0, 0, 0)
    assert [m.text for m in stack["store"].transcript(new) if m.role == "visitor"] == ["how long does withdrawal last"]
    # a reload keeps the new conversation and shows nothing of the old one
    visitor.reload()
    wait_for_text(visitor, "Source:")
    assert "lips are blue" not in visitor.locator('[data-testid="messages"]').inner_text()


def test_the_widget_meets_aa_contrast_with_the_question_open(stack, page_in):
    visitor = open_widget(page_in(viewport={"width": 1280, "height": 900}), stack["url"])
    send(visitor, "what is klonopin")
    wait_for_text(visitor, "clonazepam")
    visitor.click('[data-testid="delete-chat"]')
    visitor.locator('[data-testid="delete-dialog"]').wait_for()
    assert visitor.evaluate(CONTRAST, "#helpline-widget") == []


def test_on_a_phone_the_button_is_on_screen_and_the_focus_stays_in_the_panel(stack, page_in):
    phone = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True}
    visitor = open_widget(page_in(**phone), stack["url"])
    box = visitor.locator('[data-testid="delete-chat"]').bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["y"] + box["height"] <= 667
    visitor.click('[data-testid="delete-chat"]')
    visitor.locator('[data-testid="delete-dialog"]').wait_for()
    for key in ["Tab"] * 8:
        visitor.keyboard.press(key)
        assert visitor.evaluate("document.getElementById('hw-panel').contains(document.activeElement)")
    visitor.screenshot(path=str(ARTIFACTS / "widget-phone-delete.png"))


def test_the_server_deletes_the_sockets_own_conversation_never_one_the_client_names(stack):
    url = stack["url"]
    mine, theirs = Visitor(url), Visitor(url)
    try:
        for visitor, text in ((mine, "what is klonopin"), (theirs, "is klonopin addictive")):
            visitor.client.on("chat_deleted", lambda data, v=visitor: v.events.put(("chat_deleted", data)))
            visitor.say(text)
            assert visitor.replies_until_quiet()
        my_id, their_id = mine.session_id.split(".")[0], theirs.session_id.split(".")[0]
        before = stored(stack, their_id)
        assert before[0] > 0 and before[1] > 0

        # a client naming another conversation deletes its own, not that one
        mine.client.emit("delete_chat", {"session_id": theirs.session_id, "conversation_id": their_id})
        mine.wait("chat_deleted")
        assert stored(stack, my_id) == (0, 0, 0, 0)
        assert stored(stack, their_id) == before

        # the connection has left the conversation: a message needs a new session first
        mine.say("hello again")
        mine.wait("session_error")
        assert stored(stack, my_id) == (0, 0, 0, 0)
        # the old session id gets a new, empty conversation
        mine.client.emit("session_request", {"session_id": mine.session_id})
        confirm = mine.wait("session_confirm")
        assert confirm["session_id"] != mine.session_id and confirm["history"] == []
        theirs.say("how long does withdrawal last")
        assert "Source:" in "\n".join(r.get("text") or "" for r in theirs.replies_until_quiet())
    finally:
        mine.close()
        theirs.close()
