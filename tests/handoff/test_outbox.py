"""Crisis handoff requests kept while the database is down (bot/handoff/outbox.py)."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from bot.handoff.outbox import HandoffOutbox
from tests.conftest import run_async


class FlakyDatabase:
    def __init__(self) -> None:
        self.up = True
        self.rows = []

    async def write(self, **request) -> None:
        if not self.up:
            raise ConnectionError("database down")
        self.rows.append(request)


async def drained(outbox: HandoffOutbox, seconds: float = 2.0) -> None:
    """Until every kept request is written, or ``seconds`` pass."""
    for _ in range(int(seconds / 0.02)):
        if not len(outbox):
            return
        await asyncio.sleep(0.02)


def run(scenario):
    return run_async(scenario())


def test_a_request_is_written_at_once_when_the_database_answers():
    database = FlakyDatabase()

    async def scenario():
        outbox = HandoffOutbox(database.write, retry_seconds=0.05)
        assert await outbox.request_handoff(conversation_id="a", reason="crisis", tier="suicide") is True
        return outbox

    outbox = run(scenario)
    assert database.rows == [{"conversation_id": "a", "reason": "crisis", "tier": "suicide"}] and len(outbox) == 0


def test_requests_made_during_an_outage_are_written_in_order_when_it_ends():
    database = FlakyDatabase()
    announced = []

    async def scenario():
        outbox = HandoffOutbox(database.write, retry_seconds=0.05)

        async def on_written(request):
            announced.append(request["conversation_id"])

        outbox.on_written = on_written
        database.up = False
        assert await outbox.request_handoff(conversation_id="a", reason="crisis", tier="emergency") is False
        assert await outbox.request_handoff(conversation_id="b", reason="crisis", tier="medical") is False
        await asyncio.sleep(0.2)
        kept_while_down = len(outbox)
        database.up = True
        await drained(outbox)
        return kept_while_down, len(outbox)

    kept_while_down, left = run(scenario)
    assert kept_while_down == 2 and left == 0
    assert [row["conversation_id"] for row in database.rows] == ["a", "b"]
    assert announced == ["a", "b"]


def test_a_kept_request_is_a_file_until_it_is_written(tmp_path):
    database = FlakyDatabase()
    database.up = False
    spool = tmp_path / "outbox"

    async def scenario():
        outbox = HandoffOutbox(database.write, retry_seconds=0.05, spool=spool)
        assert await outbox.request_handoff(conversation_id="a", reason="crisis", tier="suicide") is False
        [kept] = spool.glob("*.json")
        assert kept.name.endswith(f".{os.getpid()}.json")
        assert json.loads(kept.read_text()) == {"conversation_id": "a", "reason": "crisis", "tier": "suicide"}
        database.up = True
        await drained(outbox)
        return len(outbox)

    assert run(scenario) == 0
    assert [row["conversation_id"] for row in database.rows] == ["a"]
    assert list(spool.iterdir()) == []


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_new_server_writes_what_a_stopped_one_kept_and_leaves_a_running_ones(tmp_path):
    spool = tmp_path / "outbox"
    spool.mkdir()
    (spool / f"1-aa.{dead_pid()}.json").write_text(json.dumps({"conversation_id": "gone", "reason": "crisis",
                                                                 "tier": "emergency"}))
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        theirs = spool / f"2-bb.{running.pid}.json"
        theirs.write_text(json.dumps({"conversation_id": "running", "reason": "crisis", "tier": "medical"}))
        (spool / "3-cc.12.partial").write_text("{")  # a write cut short: never a request
        (spool / f"4-dd.{dead_pid()}.json").write_text("not json")
        database = FlakyDatabase()

        async def scenario():
            outbox = HandoffOutbox(database.write, retry_seconds=0.05, spool=spool)
            taken = outbox.recover()
            await drained(outbox)
            return taken

        assert run(scenario) == 1
        assert database.rows == [{"conversation_id": "gone", "reason": "crisis", "tier": "emergency"}]
        assert sorted(p.name for p in spool.iterdir()) == sorted([theirs.name, "3-cc.12.partial",
                                                                  next(spool.glob("4-dd.*")).name])
    finally:
        running.kill()
        running.wait()


def test_without_a_spool_directory_it_keeps_requests_in_memory(tmp_path):
    database = FlakyDatabase()
    database.up = False
    blocked = tmp_path / "a-file"
    blocked.write_text("")

    async def scenario():
        outbox = HandoffOutbox(database.write, retry_seconds=0.05, spool=blocked / "outbox")  # cannot be made
        assert await outbox.request_handoff(conversation_id="a", reason="crisis", tier="suicide") is False
        database.up = True
        await drained(outbox)
        return len(outbox)

    assert run(scenario) == 0 and database.rows[0]["conversation_id"] == "a"
