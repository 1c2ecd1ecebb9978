"""Helpers for the end-to-end tests: start the real servers, talk to them as a
visitor (Socket.IO) and as staff (the console's HTTP API)."""
from __future__ import annotations

import http.cookiejar
import json
import os
import queue
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from bot import PROJECT_ROOT
from bot.ops.process import wait_until_up

STAFF_PASSWORD = "correct horse battery"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"  # screenshots, kept by CI, ignored by git


def wait_for(url: str, process: subprocess.Popen, timeout: float = 240) -> None:
    """Until the url answers 200; fails with the server's log if it exits or never answers."""
    if not wait_until_up(url, [process], timeout):
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {Path(process.log).read_text()[-3000:]}")
        raise TimeoutError(f"{url} did not come up in {timeout} s")


def start(command, env, log: Path) -> subprocess.Popen:
    """Start a server; its output goes to a file (a pipe nobody reads would fill and block it)."""
    with log.open("w") as handle:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    process.log = str(log)
    return process


def base_env(tmp: Path) -> dict:
    env = dict(os.environ)
    env.update({
        "HELPLINE_TRACKER_URL": f"sqlite:///{tmp / 'tracker.db'}",
        "HELPLINE_DATABASE_URL": f"sqlite:///{tmp / 'helpline.db'}",
        "HELPLINE_OUTBOX_DIR": str(tmp / "outbox"),
        # a closed helpline, so the callback path is exercised
        "HELPLINE_STAFF_HOURS": "mon 00:00-00:01",
        "HELPLINE_PHONE": "1-800-555-0100",
        "HELPLINE_SECRET_KEY": "e2e-secret",
        "PYTHONPATH": str(PROJECT_ROOT),
    })
    env.setdefault("HELPLINE_REDIS_URL", "")  # one server: no Redis
    return env


def add_staff(env: dict, username: str, name: str, role: str = "staff") -> None:
    """Create an account with the documented command."""
    subprocess.run([sys.executable, "-m", "bot.console.users", "add", username, "--name", name, "--role", role],
                   cwd=PROJECT_ROOT, env={**env, "HELPLINE_NEW_PASSWORD": STAFF_PASSWORD}, check=True)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


class Visitor:
    """A chat visitor over Socket.IO (long polling: engineio's websocket client needs a newer aiohttp)."""

    def __init__(self, url: str, session_id: Optional[str] = None, **client_options: Any) -> None:
        import socketio

        self.events: "queue.Queue[tuple]" = queue.Queue()
        self.client = socketio.Client(**client_options)
        for event in ("session_confirm", "bot_uttered", "handoff_status", "typing", "session_error", "chat_deleted"):
            self.client.on(event, lambda data, event=event: self.events.put((event, data)))
        self.client.connect(url, socketio_path="/socket.io", transports=["polling"])
        self.client.emit("session_request", {"session_id": session_id})
        confirm = self.wait("session_confirm")
        self.session_id: str = confirm["session_id"]
        self.confirm = confirm

    def say(self, text: str) -> None:
        self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})

    def wait(self, event: str, timeout: float = 60, match=lambda data: True) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {event} in {timeout} s")
            try:
                name, data = self.events.get(timeout=remaining)
            except queue.Empty:
                raise TimeoutError(f"no {event} in {timeout} s") from None
            if name == event and match(data):
                return data

    def replies_until_quiet(self, quiet: float = 3.0, first_timeout: float = 60) -> List[dict]:
        """The bot_uttered messages of one turn: the first may take a while, then they stop."""
        replies, timeout = [], first_timeout
        while True:
            try:
                name, data = self.events.get(timeout=timeout)
            except queue.Empty:
                return replies
            if name == "bot_uttered":
                replies.append(data)
                timeout = quiet

    def drain(self) -> List[tuple]:
        items = []
        while not self.events.empty():
            items.append(self.events.get_nowait())
        return items

    def close(self) -> None:
        # abort: a long-poll request can hold a plain disconnect for the 25 s ping interval
        self.client.eio.disconnect(abort=True)


class Staff:
    """A staff member using the console's JSON API with a cookie jar."""

    def __init__(self, url: str, *handlers: urllib.request.BaseHandler) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), *handlers)
        self.csrf: Optional[str] = None

    def call(self, method: str, path: str, body: Any = None, csrf: bool = True, raw: Optional[bytes] = None):
        headers = {"Content-Type": "application/json"}
        if csrf and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def login(self, username: str, password: str = STAFF_PASSWORD):
        status, body = self.call("POST", "/console/api/login", {"username": username, "password": password})
        if status == 200:
            self.csrf = body["csrf"]
        return status, body

    def listen(self, *events: str) -> "queue.Queue[tuple]":
        """The console's live events (namespace /console) as this logged-in member gets them."""
        import socketio

        heard: "queue.Queue[tuple]" = queue.Queue()
        self.client = socketio.Client()
        for event in events:
            self.client.on(event, lambda data, event=event: heard.put((event, data)), namespace="/console")
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.jar)
        self.client.connect(self.url, headers={"Cookie": cookie}, socketio_path="/socket.io",
                            transports=["polling"], namespaces=["/console"])
        return heard


def texts(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def console_login(page, url: str, username: str):
    """Sign in to the staff console in a browser page."""
    page.goto(f"{url}/console")
    page.fill('[data-testid="login-username"]', username)
    page.fill('[data-testid="login-password"]', STAFF_PASSWORD)
    page.click('[data-testid="login-submit"]')
    page.wait_for_selector('[data-testid="queue"]')
    return page


def unavailable(reason: str):
    """Skip with the reason printed, except under CI=true, where it fails."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI must run the browser tests)")
    pytest.skip(reason)
