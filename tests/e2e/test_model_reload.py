"""End to end: a newly trained model goes live in the running server without a restart.

Starts the servers on a copy of the model, holds a web chat conversation, trains a second
model whose answer to one FAQ topic is changed and swaps the served file for it
(bot/channels/model_reload.py). The same conversation then gets the new answer, keeps its
history, and every message sent during the reload is answered. A broken model file,
swapped in first, must leave the old model answering.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import List

import pytest
from sqlalchemy import create_engine, text

from bot import PROJECT_ROOT
from bot.ops.process import free_port
from bot.ops.train import MODEL_PATH, RASA_DATA, rasa_env
from tests.e2e.support import Visitor, base_env, start, stop_process, texts, wait_for

pytestmark = pytest.mark.e2e

QUESTION = "how long does klonopin withdrawal last"
TOPIC = "utter_faq/withdrawal_timeline"  # the response QUESTION is answered with
MARKER = "(Updated answer.)"  # put at the start of that response in the second model
WATCH_SECONDS = "1"  # HELPLINE_MODEL_WATCH_SECONDS: poll often, the test waits for the reload


def edited_domain(tmp: Path) -> Path:
    """A copy of domain/ whose answer to TOPIC starts with MARKER."""
    domain = tmp / "domain"
    shutil.copytree(PROJECT_ROOT / "domain", domain)
    faq = domain / "faq.yml"
    content = faq.read_text()
    anchor = f'{TOPIC}:\n  - text: "'
    assert content.count(anchor) == 1, f"{TOPIC} is not in the expected form in domain/faq.yml"
    faq.write_text(content.replace(anchor, anchor + MARKER + " "))
    return domain


def train(domain: Path, out: Path) -> Path:
    """`rasa train` as bot/ops/train.py runs it (Rasa's cache in .rasa/cache is reused), into ``out``."""
    command = [sys.executable, "-m", "rasa", "train", "--domain", str(domain), "--data", *RASA_DATA,
               "--config", "config.yml", "--out", str(out), "--fixed-model-name", "helpline"]
    started = time.monotonic()
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=rasa_env(), capture_output=True, text=True)
    assert result.returncode == 0, f"training failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    print(f"\ntrained the edited model in {time.monotonic() - started:.1f} s")
    return out / "helpline.tar.gz"


class RestChatter(threading.Thread):
    """Another conversation over REST, a message every 0.2 s: every one must get a reply."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stopping = threading.Event()
        self.sent = 0
        self.failures: List[str] = []

    def run(self) -> None:
        messages = ["hello", QUESTION, "what is klonopin"]
        while not self.stopping.is_set():
            message = messages[self.sent % len(messages)]
            self.sent += 1
            request = urllib.request.Request(
                f"{self.url}/webhooks/rest/webhook",
                data=json.dumps({"sender": "e2e-reload-rest", "message": message}).encode(),
                headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    if not texts(json.loads(response.read())):
                        self.failures.append(f"no reply to {message!r}")
            except Exception as error:  # noqa: BLE001 - any error is a failed message
                self.failures.append(f"{message!r}: {error!r}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=90)


def ask(visitor: Visitor) -> tuple:
    """Ask QUESTION; the time the first reply arrived and all the reply texts (fails on no reply)."""
    visitor.say(QUESTION)
    first = visitor.wait("bot_uttered", timeout=60)
    arrived = time.monotonic()
    rest = visitor.replies_until_quiet(quiet=1.0, first_timeout=1.0)
    return arrived, texts([first, *rest])


def wait_for_log(process: subprocess.Popen, needle: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while needle not in Path(process.log).read_text():
        assert time.monotonic() < deadline, f"no {needle!r} in the server log after {timeout} s"
        assert process.poll() is None, f"the server exited: {Path(process.log).read_text()[-3000:]}"
        time.sleep(0.5)


def tracker_texts(tracker_url: str, conversation_id: str) -> List[tuple]:
    """(event type, text) of the conversation's user and bot events, read from Rasa's tracker store."""
    engine = create_engine(tracker_url, future=True)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "select type_name, data from events where sender_id = :id and type_name in ('user', 'bot') "
                "order by id"), {"id": conversation_id}).all()
    finally:
        engine.dispose()
    return [(kind, json.loads(data).get("text") or "") for kind, data in rows]


def test_a_new_model_goes_live_without_dropping_the_conversation(tmp_path):
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run `make train` (make test does it)")
    served = tmp_path / "served" / "helpline.tar.gz"
    served.parent.mkdir()
    shutil.copy(MODEL_PATH, served)
    env = base_env(tmp_path)
    env["HELPLINE_MODEL_WATCH_SECONDS"] = WATCH_SECONDS
    env["HELPLINE_FLOOD_MESSAGES"] = "0"  # RestChatter sends faster than the flood limit allows
    port, actions_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    process = start([sys.executable, "-m", "bot.ops.run", "--port", str(port), "--actions-port", str(actions_port),
                     "--model", str(served)], env, tmp_path / "run.log")
    visitor = chatter = None
    try:
        wait_for(f"{url}/", process)
        wait_for(f"http://127.0.0.1:{actions_port}/health", process)
        wait_for_log(process, f"Watching {served}")

        visitor = Visitor(url)
        _, old_answer = ask(visitor)
        assert "weeks" in old_answer and MARKER not in old_answer

        new_model = train(edited_domain(tmp_path), tmp_path / "trained")

        # a broken file first: logged, and the old model keeps answering
        broken = served.with_name("broken.tar.gz")
        broken.write_bytes(b"not a model")
        os.replace(broken, served)
        wait_for_log(process, "Model reload failed")
        assert ask(visitor)[1] == old_answer

        chatter = RestChatter(url)
        chatter.start()
        time.sleep(1)  # messages are in flight when the file is swapped
        swapped = time.monotonic()
        os.replace(new_model, served)
        deadline = swapped + 120
        while True:
            arrived, answer = ask(visitor)  # fails if a message gets no reply
            if MARKER in answer:
                break
            assert answer == old_answer, f"neither the old nor the new answer: {answer!r}"
            assert time.monotonic() < deadline, "the new model was not loaded within 120 s"
        time.sleep(2)  # a few more REST messages on the new model
        chatter.stop()
        print(f"file swapped -> first new answer: {arrived - swapped:.1f} s; "
              f"{chatter.sent} REST messages meanwhile, {len(chatter.failures)} failed")
        assert chatter.sent >= 5 and not chatter.failures, f"failed messages: {chatter.failures}"

        log = Path(process.log).read_text()
        assert log.count("Model reloaded: ") == 1 and log.count("Model reload failed") == 1
        assert log.count("Starting Rasa server") == 1 and process.poll() is None  # no restart

        # the earlier history is still there: the web chat transcript replayed on reconnect ...
        again = Visitor(url, session_id=visitor.session_id)
        try:
            history = [(h["role"], h.get("text", "")) for h in again.confirm["history"]]
        finally:
            again.close()
        assert history[0] == ("visitor", QUESTION)
        assert "weeks" in history[1][1] and MARKER not in history[1][1]
        assert any(role == "bot" and MARKER in line for role, line in history)
        # ... and Rasa's tracker: one conversation, answered by the old model, then by the new
        events = tracker_texts(env["HELPLINE_TRACKER_URL"], visitor.session_id.split(".")[0])
        bot_lines = [line for kind, line in events if kind == "bot"]
        assert events[0] == ("user", QUESTION)
        first_new = next(i for i, line in enumerate(bot_lines) if MARKER in line)
        assert first_new > 0 and all(MARKER not in line for line in bot_lines[:first_new])
    finally:
        if chatter is not None and chatter.is_alive():
            chatter.stop()
        if visitor is not None:
            visitor.close()
        stop_process(process)
