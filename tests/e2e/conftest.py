"""Fixtures for the end-to-end tests (helpers in support.py)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bot.ops.process import free_port
from bot.ops.train import MODEL_PATH
from tests.e2e.support import ARTIFACTS, add_staff, base_env, start, stop_process, unavailable, wait_for


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory):
    """The assistant with staff online round the clock and three staff accounts."""
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run `make train` (make test does it)")
    tmp = tmp_path_factory.mktemp("live")
    env = base_env(tmp)
    env["HELPLINE_STAFF_HOURS"] = "mon-sun 00:00-24:00"
    add_staff(env, "dana", "Dana")
    add_staff(env, "sam", "Sam")
    add_staff(env, "lee", "Lee", role="supervisor")
    port, actions_port = free_port(), free_port()
    process = start([sys.executable, "-m", "bot.ops.run", "--port", str(port), "--actions-port", str(actions_port)],
                    env, tmp / "run.log")
    try:
        wait_for(f"http://127.0.0.1:{port}/", process)
        wait_for(f"http://127.0.0.1:{actions_port}/health", process)
        yield {"url": f"http://127.0.0.1:{port}", "env": env, "process": process, "tmp": tmp}
    finally:
        stop_process(process)


# -- a real browser: Debian's chromium driven by Playwright ---------------------------

def chromium_path() -> str:
    for candidate in (os.environ.get("HELPLINE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).exists():
            return candidate
    unavailable("Debian's chromium is not installed (scripts/ensure-test-tools installs it as root)")


# One browser per test module, not per session: while it is open, Playwright's sync API keeps
# an event loop running on the main thread, and asyncio tests in later modules could not run.
@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed in the virtual environment")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    contexts = []

    def make(**options):
        contexts.append(browser.new_context(**options))
        contexts[-1].set_default_timeout(30_000)
        return contexts[-1]

    yield make
    for c in contexts:
        c.close()
