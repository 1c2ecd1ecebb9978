"""Process helpers for the tools and the tests: a free port, waiting for a server to answer,
stopping servers started in their own process groups."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from typing import List


def free_port() -> int:
    """A TCP port nothing listens on now (for servers started by tests and the benchmark)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, processes: List[subprocess.Popen], timeout: float, stopping=lambda: False) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stopping() or any(p.poll() is not None for p in processes):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)  # each server runs in its own process group
    except ProcessLookupError:
        pass


def stop(processes: List[subprocess.Popen], grace: float = 15) -> None:
    for process in processes:
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
