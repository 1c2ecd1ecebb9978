"""End to end: `python -m bot.ops.load` drives 10 websocket visitors for a few seconds against the
real servers; every message is answered, none lost, none errored.

Needs node and npm (the visitors are Node's socket.io-client, installed once into
build/sio-client); without them the test is skipped with the reason, under CI=true it fails.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from bot import PROJECT_ROOT
from bot.ops.process import free_port
from bot.ops.sio_driver import SIO_CLIENT
from bot.ops.train import MODEL_PATH
from tests.e2e.support import base_env, start, stop_process, wait_for

pytestmark = pytest.mark.e2e


def node_or_skip() -> None:
    if shutil.which("node") and (shutil.which("npm") or (SIO_CLIENT / "node_modules" / "socket.io-client").exists()):
        return
    reason = "node and npm are needed to drive websocket visitors (make load)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI must run the load test)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    node_or_skip()
    if not MODEL_PATH.exists():
        pytest.fail(f"no trained model at {MODEL_PATH}: run `make train` (make test does it)")
    tmp = tmp_path_factory.mktemp("load")
    port, actions_port = free_port(), free_port()
    process = start([sys.executable, "-m", "bot.ops.run", "--port", str(port), "--actions-port", str(actions_port)],
                    base_env(tmp), tmp / "run.log")
    try:
        wait_for(f"http://127.0.0.1:{port}/", process)
        wait_for(f"http://127.0.0.1:{actions_port}/health", process)
        yield {"url": f"http://127.0.0.1:{port}", "tmp": tmp}
    finally:
        stop_process(process)


def test_ten_visitors_for_a_few_seconds_get_every_reply(server):
    results = server["tmp"] / "results"
    done = subprocess.run([sys.executable, "-m", "bot.ops.load", "--url", server["url"], "--visitors", "10",
                           "--seconds", "8", "--pace", "2", "--results", str(results)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout and "reply latency p95" in done.stdout
    [path] = list(results.glob("*.json"))
    result = json.loads(path.read_text())
    assert result["replied"] > 0 and result["replied"] == result["sent"]
    assert result["lost"] == 0 and result["errors"] == 0, result["error_kinds"]
    # the FAQ questions of the load test start no handoff and no crisis reply
    assert result["handoffs"] == 0 and result["escalations"] == 0
    assert result["latency_ms"]["p95"] is not None and result["throughput_per_s"] > 0
