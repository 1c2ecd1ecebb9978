"""The websocket load driver shared by `make bench` (bot/ops/bench.py) and `make load` (bot/ops/load.py).

Many simulated visitors over Socket.IO websockets in one Node process
(scripts/sio-load.js, with socket.io-client installed once into build/sio-client):
python-engineio's websocket client needs a newer aiohttp than Rasa 3.6 pins.

The driver takes one JSON argument and prints one JSON object on stdout; with
``progress`` set it also writes a line ``PROGRESS {...}`` on stderr every that many seconds.
See the top of scripts/sio-load.js for both.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from bot import PROJECT_ROOT

SIO_SCRIPT = PROJECT_ROOT / "scripts" / "sio-load.js"
SIO_CLIENT = PROJECT_ROOT / "build" / "sio-client"
SIO_CLIENT_PACKAGE = "socket.io-client@4.8.1"
PROGRESS_PREFIX = "PROGRESS "


class DriverError(RuntimeError):
    """The Node driver could not be installed or run."""


def percentiles(values: List[float]) -> Dict[str, Optional[float]]:
    """p50/p95/p99 in milliseconds of durations given in seconds."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"n": len(values), "p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


def websocket_client(log: Callable[[str], None] = print) -> Optional[Path]:
    """The node_modules folder of the websocket load driver (installed once), or None
    when node or npm is missing or the install failed (the reason is logged)."""
    modules = SIO_CLIENT / "node_modules"
    if not shutil.which("node"):
        log("  node is not installed: the websocket load driver needs it")
        return None
    if (modules / "socket.io-client").exists():
        return modules
    if not shutil.which("npm"):
        log("  npm is not installed: it installs socket.io-client for the websocket load driver")
        return None
    log(f"  installing {SIO_CLIENT_PACKAGE} into {SIO_CLIENT.relative_to(PROJECT_ROOT)} (once)...")
    done = subprocess.run(["npm", "install", "--prefix", str(SIO_CLIENT), "--no-audit", "--no-fund",
                           SIO_CLIENT_PACKAGE], capture_output=True, text=True)
    if done.returncode != 0:
        log(f"  npm install failed: {done.stderr.strip()[-300:]}")
        return None
    return modules


async def run_driver(modules: Path, config: Dict[str, Any],
                     on_progress: Optional[Callable[[Dict[str, Any]], None]] = None,
                     time_limit: Optional[float] = None) -> Dict[str, Any]:
    """Run scripts/sio-load.js with ``config`` and return the JSON object it prints.

    ``on_progress`` receives each PROGRESS line's object; ``time_limit`` (seconds) stops a
    driver that overruns it (DriverError)."""
    process = await asyncio.create_subprocess_exec(
        "node", str(SIO_SCRIPT), json.dumps(config), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "NODE_PATH": str(modules)})
    other: List[str] = []

    async def read_stderr() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith(PROGRESS_PREFIX) and on_progress is not None:
                try:
                    on_progress(json.loads(line[len(PROGRESS_PREFIX):]))
                    continue
                except ValueError:
                    pass
            other.append(line)

    async def finish() -> bytes:
        assert process.stdout is not None
        out, _ = await asyncio.gather(process.stdout.read(), read_stderr())
        await process.wait()
        return out

    try:
        out = await asyncio.wait_for(finish(), time_limit)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise DriverError(f"the websocket load driver ran over {time_limit:.0f} s and was stopped") from None
    finally:
        if process.returncode is None:  # cancelled (Ctrl-C)
            process.kill()
    if process.returncode != 0:
        raise DriverError(f"the websocket load driver failed: {chr(10).join(other)[-500:]}")
    try:
        return json.loads(out)
    except ValueError:
        raise DriverError(f"the websocket load driver printed no result: {out.decode(errors='replace')[-300:]}") \
            from None
