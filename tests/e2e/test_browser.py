"""In a real browser (Debian's chromium driven by Playwright): the visitor's widget on the
demo page, the staff console, and rasa-webchat against the same server.

Screenshots go to test-artifacts/ (kept by CI as artefacts, ignored by git).
"""
from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from tests.e2e.support import ARTIFACTS, console_login as login, unavailable

pytestmark = pytest.mark.e2e

NPM_CACHE = PROJECT_ROOT / "build" / "npm"
XSS = "<img src=x onerror=alert(1)>"
PHONE = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True}


def open_widget(page, url: str):
    page.goto(f"{url}/demo")
    page.get_by_role("button", name=re.compile("chat", re.I)).first.click()
    page.wait_for_selector('[data-testid="connection-state"][data-state="connected"]')
    return page


def send(page, text: str) -> None:
    page.fill('[data-testid="input"]', text)
    page.keyboard.press("Enter")


def bot_messages(page):
    return page.locator('[data-testid="message"][data-role="bot"]')


def wait_for_bot_text(page, pattern: str, role: str = "bot"):
    locator = page.locator(f'[data-testid="message"][data-role="{role}"]', has_text=re.compile(pattern, re.I))
    locator.first.wait_for()
    return locator.first



def queue_item(page, text: str):
    return page.locator('[data-testid="queue-item"]', has_text=text)


# -- the visitor ------------------------------------------------------------------

def test_a_visitor_asks_a_question_and_reads_the_answer(live_stack, context):
    page = open_widget(context().new_page(), live_stack["url"])
    send(page, "how long does klonopin withdrawal last")
    assert page.locator('[data-testid="message"][data-role="visitor"]').last.inner_text().startswith("how long")
    wait_for_bot_text(page, "Source:")
    page.screenshot(path=str(ARTIFACTS / "widget-answer.png"))


def test_keyboard_only_and_screen_reader_labels(live_stack, context):
    page = context().new_page()
    page.goto(f"{live_stack['url']}/demo")
    launcher = page.get_by_role("button", name=re.compile("chat", re.I)).first
    launcher.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector('[data-testid="connection-state"][data-state="connected"]')
    assert page.evaluate("document.activeElement.dataset.testid") == "input"
    page.keyboard.type("what is klonopin")
    page.keyboard.press("Enter")
    wait_for_bot_text(page, "clonazepam")
    log = page.locator('[role="log"]')
    assert log.get_attribute("aria-live") == "polite"
    assert page.get_by_label(re.compile("message", re.I)).count() >= 1


def test_a_visitor_in_crisis_sees_the_emergency_bar_with_working_links(live_stack, context):
    page = open_widget(context().new_page(), live_stack["url"])
    send(page, "my friend took a bunch of kpins and he is not breathing")
    bar = page.locator('[data-testid="emergency-bar"]')
    bar.wait_for()
    hrefs = bar.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert "tel:911" in hrefs
    assert any(h.startswith("tel:1-800-222-1222") for h in hrefs)
    assert "sms:988" in hrefs
    page.screenshot(path=str(ARTIFACTS / "widget-emergency.png"))
    # the bar and the conversation survive a reload in the same tab
    page.reload()
    page.locator('[data-testid="emergency-bar"] a[href="tel:911"]').wait_for()
    wait_for_bot_text(page, "911")


def test_a_spanish_crisis_gets_the_emergency_bar_in_spanish_on_a_phone(live_stack, context):
    page = open_widget(context(**PHONE).new_page(), live_stack["url"])
    send(page, "mi hermano se tomo todo el frasco de pastillas y no respira")
    bar = page.locator('[data-testid="emergency-bar"]')
    bar.wait_for()
    assert bar.get_attribute("lang") == "es" and bar.get_attribute("data-tier") == "emergency"
    assert "Emergencia: llame al 911 ahora" in bar.inner_text()
    assert bar.locator('a[href="tel:911"]').inner_text() == "Llamar al 911"
    wait_for_bot_text(page, "Llame al 911")
    # staff are on duty in this stack: the handoff status follows the reply's language
    status = page.locator('[data-testid="handoff-status"]')
    status.wait_for()
    assert "Estamos pidiendo a nuestro equipo" in status.inner_text()
    assert status.get_by_role("button", name="Cancelar y volver al asistente").is_visible()
    page.screenshot(path=str(ARTIFACTS / "widget-phone-es.png"))
    assert page.evaluate(CONTRAST, "#helpline-widget") == []


def test_the_basic_lines_stay_reachable_without_a_connection(live_stack, context):
    ctx = context()
    page = open_widget(ctx.new_page(), live_stack["url"])
    ctx.set_offline(True)
    page.wait_for_selector('[data-testid="connection-state"][data-state="disconnected"]', timeout=60_000)
    lines = page.locator('[data-testid="basic-lines"]')
    assert lines.is_visible()
    assert lines.locator('a[href="tel:911"]').count() == 1 and lines.locator('a[href="tel:988"]').count() == 1
    ctx.set_offline(False)


def test_on_a_phone_screen(live_stack, context):
    page = open_widget(context(**PHONE).new_page(), live_stack["url"])
    send(page, "is klonopin addictive")
    wait_for_bot_text(page, "Source:")
    box = page.locator("#helpline-widget [data-testid='input']").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["viewport"]["width"]
    page.screenshot(path=str(ARTIFACTS / "widget-phone.png"))


def in_view(page, selector: str) -> list:
    """Every element matching the selector whose box is not wholly inside the viewport."""
    return page.evaluate("""sel => Array.from(document.querySelectorAll(sel)).filter(e => {
        const b = e.getBoundingClientRect();
        return b.top < 0 || b.left < 0 || b.bottom > innerHeight + 0.5 || b.right > innerWidth + 0.5;
      }).map(e => e.textContent.trim())""", selector)


# 375x508: the visible part of a 375x667 phone with its keyboard open
@pytest.mark.parametrize("width,height", [(320, 568), (375, 667), (375, 508), (390, 844)])
def test_on_a_phone_the_emergency_bar_leaves_the_conversation_and_input_in_view(live_stack, context, width, height):
    phone = {**PHONE, "viewport": {"width": width, "height": height}}
    page = open_widget(context(**phone).new_page(), live_stack["url"])
    send(page, "i want to kill myself tonight")  # the suicide tier: the bar with the most buttons
    page.locator('[data-testid="emergency-bar"] [data-testid="emergency-call"]').first.wait_for()
    wait_for_bot_text(page, "Are you safe right now")
    page.wait_for_timeout(300)  # the last parts of the answer
    newest = bot_messages(page).last
    log = page.locator("#helpline-widget .hw-log").bounding_box()
    box = newest.bounding_box()
    # the conversation's visible area is inside the screen, with room for more than a line or two,
    # and the newest message is in it: its end, and all of it but the log's padding when it fits
    assert log["y"] >= 0 and log["y"] + log["height"] <= height + 0.5
    assert log["height"] >= 120, log
    bottom, log_bottom = box["y"] + box["height"], log["y"] + log["height"]
    shown = min(bottom, log_bottom) - max(box["y"], log["y"])
    assert bottom <= log_bottom + 0.5 and shown >= min(box["height"], log["height"]) - 16, (box, log)
    assert in_view(page, '#helpline-widget [data-testid="input"], #helpline-widget .hw-send') == []
    assert in_view(page, '[data-testid="emergency-call"], [data-testid="emergency-text"]') == []
    page.screenshot(path=str(ARTIFACTS / f"widget-phone-suicide-{width}x{height}.png"))


def seed_escalation(page, url: str, tier: str, lang: str = "en"):
    """A bar of the given tier, as a crisis reply in this tab would have left it (sessionStorage)."""
    lines = [{"name": "Emergency services", "phone": "911"},
             {"name": "Poison Help (only if the person is awake and breathing)", "phone": "1-800-222-1222",
              "url": "https://poisonhelp.hrsa.gov"},
             {"name": "988 Suicide & Crisis Lifeline", "phone": "988", "sms": "988", "url": "https://988lifeline.org/chat"},
             {"name": "Crisis Text Line (text HOME)", "sms": "741741", "url": "https://www.crisistextline.org"}]
    page.goto(f"{url}/demo")
    page.evaluate("e => sessionStorage.setItem('helpline-widget:escalation', JSON.stringify(e))",
                  {"tier": tier, "lines": lines, "lang": lang})
    return open_widget(page, url)


@pytest.mark.parametrize("tier", ["emergency", "suicide", "medical", "check"])
def test_every_tier_of_the_emergency_bar_and_every_link_in_it_meet_aa_contrast(live_stack, context, tier):
    page = seed_escalation(context(**PHONE).new_page(), live_stack["url"], tier)
    bar = page.locator('[data-testid="emergency-bar"]')
    assert bar.get_attribute("data-tier") == tier
    toggle = bar.locator('[data-testid="emergency-toggle"]')
    assert toggle.get_attribute("aria-expanded") == "false" and not bar.locator('[data-testid="emergency-url"]').first.is_visible()
    toggle.click()  # the details: each line's name, number and website
    assert toggle.get_attribute("aria-expanded") == "true"
    assert bar.locator('[data-testid="emergency-url"]').count() == 3
    assert bar.locator('[data-testid="emergency-url"]').first.is_visible()
    assert page.evaluate(CONTRAST, '[data-testid="emergency-bar"]') == []
    # a long number is named on its button; the full name is its accessible name
    poison = bar.locator('a[href="tel:1-800-222-1222"]')
    assert poison.inner_text() == "Call Poison Help"
    assert "only if the person is awake and breathing" in poison.get_attribute("aria-label")
    page.screenshot(path=str(ARTIFACTS / f"widget-phone-bar-{tier}.png"))


def test_on_a_phone_the_panel_is_a_modal_dialog_that_keeps_the_focus(live_stack, context):
    page = open_widget(context(**PHONE).new_page(), live_stack["url"])
    assert page.get_attribute("#hw-panel", "aria-modal") == "true"
    visited = set()
    for key in ["Tab"] * 15 + ["Shift+Tab"] * 15:
        page.keyboard.press(key)
        assert page.evaluate("document.getElementById('hw-panel').contains(document.activeElement)"), key
        visited.add(page.evaluate("document.activeElement.outerHTML.slice(0, 60)"))
    assert len(visited) >= 4  # the focus moved round the panel's controls, not stuck on one


def test_on_a_desktop_the_panel_does_not_trap_the_focus(live_stack, context):
    page = open_widget(context(viewport={"width": 1280, "height": 800}).new_page(), live_stack["url"])
    assert page.get_attribute("#hw-panel", "aria-modal") == "false"
    left = False
    for _ in range(20):
        page.keyboard.press("Tab")
        left = left or not page.evaluate("document.getElementById('helpline-widget').contains(document.activeElement)")
    assert left


def test_quick_exit_clears_the_chat_and_leaves(live_stack, context):
    ctx = context()
    ctx.route("https://www.google.com/**", lambda route: route.fulfill(body="<title>Search</title>neutral",
                                                                        content_type="text/html"))
    page = open_widget(ctx.new_page(), live_stack["url"])
    send(page, "what is klonopin")
    wait_for_bot_text(page, "clonazepam")
    page.click('[data-testid="quick-exit"]')
    page.wait_for_url("https://www.google.com/**")
    page.goto(f"{live_stack['url']}/demo")
    assert page.evaluate("Object.keys(sessionStorage).filter(k => k.startsWith('helpline-widget')).length") == 0


def test_message_text_is_never_rendered_as_html(live_stack, context):
    page = open_widget(context().new_page(), live_stack["url"])
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    send(page, XSS)
    visitor = page.locator('[data-testid="message"][data-role="visitor"]', has_text=XSS)
    visitor.wait_for()
    assert page.locator("#helpline-widget img").count() == 0
    bot_messages(page).first.wait_for()
    assert dialogs == []


# -- visitor and staff together ---------------------------------------------------------

def test_handoff_from_request_to_hand_back_in_two_browsers(live_stack, context):
    url = live_stack["url"]
    console = login(context().new_page(), url, "dana")
    visitor = open_widget(context().new_page(), url)
    send(visitor, "hello")
    wait_for_bot_text(visitor, "Helpline Assistant")
    send(visitor, "i need to talk to a real person please")
    visitor.locator('[data-testid="handoff-status"]', has_text=re.compile("queue|connecting", re.I)).wait_for()
    # a few handoffs may be waiting from other tests: ours is the one with our message
    item = queue_item(console, "i need to talk to a real person please")
    item.wait_for()  # appears without a reload
    item.click()
    console.locator('[data-testid="summary"]').wait_for()
    console.click('[data-testid="claim"]')
    wait_for_bot_text(visitor, "Dana", role="system")
    console.fill('[data-testid="reply-input"]', "Hi, this is Dana. I'm here with you.")
    console.click('[data-testid="reply-send"]')
    staff_message = wait_for_bot_text(visitor, "I'm here with you", role="staff")
    assert "Dana" in staff_message.inner_text()
    visitor.screenshot(path=str(ARTIFACTS / "widget-staff-reply.png"))

    send(visitor, f"thank you {XSS}")
    console.locator('[data-testid="transcript-message"][data-role="visitor"]', has_text=XSS).wait_for()
    assert console.locator('[data-testid="transcript"] img').count() == 0
    console.screenshot(path=str(ARTIFACTS / "console-conversation.png"), full_page=True)

    console.click('[data-testid="hand-back"]')
    visitor.locator('[data-testid="handoff-status"]').wait_for(state="hidden")
    before = bot_messages(visitor).count()
    send(visitor, "how long is rehab")
    visitor.wait_for_function(
        "n => [...document.querySelectorAll('[data-testid=message][data-role=bot]')].length > n", arg=before)
    wait_for_bot_text(visitor, "Source:")


def test_a_crisis_during_handoff_moves_the_conversation_to_the_top(live_stack, context):
    url = live_stack["url"]
    console = login(context().new_page(), url, "lee")  # a supervisor sees every open conversation
    first, second = open_widget(context().new_page(), url), open_widget(context().new_page(), url)
    send(first, "can i speak with someone from your team")
    first.locator('[data-testid="handoff-status"]').wait_for()
    send(second, "please connect me to a human")
    second.locator('[data-testid="handoff-status"]').wait_for()
    queue_item(console, "please connect me to a human").wait_for()

    send(second, "i have the pills in front of me and i want to end my life")
    second.locator('[data-testid="emergency-bar"] a[href="tel:988"]').first.wait_for()
    raised = queue_item(console, "end my life")
    raised.wait_for()  # without a reload
    assert raised.get_attribute("data-tier") == "suicide" and raised.get_attribute("data-alert") == "true"
    # now ahead of the request that was waiting longer (earlier tests may have left emergencies above)
    order = console.locator('[data-testid="queue-item"]').all_inner_texts()
    position = next(i for i, text in enumerate(order) if "end my life" in text)
    assert position < next(i for i, text in enumerate(order) if "speak with someone from your team" in text)
    console.screenshot(path=str(ARTIFACTS / "console-queue.png"), full_page=True)


# -- AA contrast -----------------------------------------------------------------------

CONTRAST = (Path(__file__).parent / "contrast.js").read_text()


def test_the_contrast_check_finds_low_contrast_text(context):
    page = context().new_page()
    page.set_content('<main id="m"><p style="color:#777;background:#fff">grey on white</p>'
                     '<p style="color:#000">black on white</p></main>')
    failures = page.evaluate(CONTRAST, "#m")
    assert [f["text"] for f in failures] == ["grey on white"] and failures[0]["ratio"] < 4.5


def test_widget_and_console_text_meet_aa_contrast(live_stack, context):
    url = live_stack["url"]
    visitor = open_widget(context(viewport={"width": 1280, "height": 900}).new_page(), url)
    send(visitor, "klonopin stuff")  # too vague: suggested topics as quick replies
    visitor.locator(".hw-replies button").first.wait_for()
    send(visitor, "my friend took a lot of kpins and his lips are blue")
    visitor.locator('[data-testid="emergency-bar"]').wait_for()
    send(visitor, "can i talk to a real person")
    visitor.locator('[data-testid="handoff-status"]').wait_for()
    assert visitor.evaluate(CONTRAST, "#helpline-widget") == []
    assert visitor.evaluate(CONTRAST, "body") == []  # the demo page too

    console = login(context(viewport={"width": 1280, "height": 900}).new_page(), url, "lee")
    queue_item(console, "lips are blue").click()  # the crisis put the conversation in the queue
    console.locator('[data-testid="summary"]').wait_for()
    console.locator('[data-testid="transcript-message"]').first.wait_for()
    # the crisis reply's payload reads as the lines the visitor was shown, not an empty bubble
    bodies = console.locator('[data-testid="transcript-message"][data-role="bot"] .transcript__text').all_inner_texts()
    assert all(body.strip() for body in bodies), bodies
    assert any(body.startswith("Emergency bar shown to the visitor:") and "911" in body for body in bodies)
    # why the screen escalated, and the visitor's language, for the staff member
    why = console.locator('[data-testid="summary-why"]')
    assert "rule" in why.inner_text() and "lips are blue" in why.inner_text()
    assert console.locator('[data-testid="summary-language"]').inner_text() == "English"
    console.screenshot(path=str(ARTIFACTS / "console-crisis-summary.png"))
    assert console.evaluate(CONTRAST, "body") == []


# -- rasa-webchat ---------------------------------------------------------------------

def rasa_webchat_bundle() -> Path:
    """rasa-webchat 1.0.1's browser bundle, fetched once from the npm registry."""
    bundle = NPM_CACHE / "rasa-webchat-1.0.1" / "lib" / "index.js"
    if bundle.exists():
        return bundle
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm is needed to fetch rasa-webchat from the npm registry")
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "pack", "rasa-webchat@1.0.1", "--silent"], cwd=NPM_CACHE, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        unavailable(f"npm pack rasa-webchat@1.0.1 failed: {done.stderr.strip()[:300]}")
    with tarfile.open(NPM_CACHE / "rasa-webchat-1.0.1.tgz") as archive:
        member = archive.getmember("package/lib/index.js")
        member.name = "rasa-webchat-1.0.1/lib/index.js"
        archive.extract(member, NPM_CACHE)
    return bundle


def test_rasa_webchat_from_npm_gets_an_answer(live_stack, context, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(rasa_webchat_bundle(), site / "webchat.js")
    (site / "index.html").write_text(f"""<!doctype html><html><head><title>Another site</title></head><body>
    <script src="/webchat.js"></script>
    <script>WebChat.default({{socketUrl: "{live_stack['url']}", socketPath: "/socket.io/",
      title: "Helpline", hideWhenNotConnected: false, params: {{storage: "session"}}}}, null);</script>
    </body></html>""")
    # served from another origin (localhost, not 127.0.0.1), as from a treatment centre's own site
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = context().new_page()
        page.goto(f"http://localhost:{server.server_address[1]}/")
        page.click(".rw-launcher")
        page.fill(".rw-new-message", "what is klonopin")
        page.keyboard.press("Enter")
        page.locator(".rw-response", has_text=re.compile("clonazepam", re.I)).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "rasa-webchat.png"))
    finally:
        server.shutdown()
