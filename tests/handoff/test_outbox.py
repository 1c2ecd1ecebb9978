"""Crisis handoff requests kept while the database is down (bot/handoff/outbox.py)."""
from __future__ import annotations

import asyncio
import fcntl
import json
import os
import time
from pathlib import Path

from bot.handoff.outbox import HandoffOutbox
from tests.conftest import run_async


class FlakyDatabase:
    def __init__(self) -> None:
        self.up = True
        self.rows = []

    async def write(self, **request) -> None:
        if not self.up:
            raise ConnectionError("database down")
        if request.get("tier") not in (None, "emergency", "medical", "suicide", "withdrawal"):
            raise ValueError(f"unknown tier {request['tier']!r}")  # as HandoffStore.request_handoff
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


def held_by_another(path) -> bool:
    """Whether some open file (a server's) holds the file's lock."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def test_a_kept_request_is_a_locked_file_until_it_is_written(tmp_path):
    database = FlakyDatabase()
    database.up = False
    spool = tmp_path / "outbox"

    async def scenario():
        outbox = HandoffOutbox(database.write, retry_seconds=0.05, spool=spool)
        assert await outbox.request_handoff(conversation_id="a", reason="crisis", tier="suicide") is False
        [kept] = spool.glob("*.json")
        assert json.loads(kept.read_text()) == {"conversation_id": "a", "reason": "crisis", "tier": "suicide"}
        assert held_by_another(kept) and oct(kept.stat().st_mode & 0o777) == "0o600"
        assert outbox.recover() == 0  # its own file: not taken twice
        database.up = True
        await drained(outbox)
        return len(outbox)

    assert run(scenario) == 0
    assert [row["conversation_id"] for row in database.rows] == ["a"]
    assert list(spool.iterdir()) == []


def request_file(spool, name: str, request) -> "Path":
    path = spool / name
    path.write_text(request if isinstance(request, str) else json.dumps(request))
    return path


def test_a_server_takes_what_no_running_server_holds(tmp_path):
    spool = tmp_path / "outbox"
    spool.mkdir()
    request_file(spool, "1-aa.json", {"conversation_id": "gone", "reason": "crisis", "tier": "emergency"})
    theirs = request_file(spool, "2-bb.json", {"conversation_id": "running", "reason": "crisis", "tier": "medical"})
    held = os.open(theirs, os.O_RDONLY)  # a running server's file
    fcntl.flock(held, fcntl.LOCK_EX)
    request_file(spool, "3-cc.json", "not json")
    request_file(spool, "4-dd.json", {"conversation_id": "x", "reason": "crisis", "unknown": 1})
    request_file(spool, "5-ee.partial", "{")  # being written right now: left alone
    old = request_file(spool, "6-ff.partial", {"conversation_id": "cut", "reason": "crisis", "tier": "suicide"})
    os.utime(old, (time.time() - 3600, time.time() - 3600))  # its writer stopped after fsync, before the rename
    database = FlakyDatabase()
    try:
        async def scenario():
            outbox = HandoffOutbox(database.write, retry_seconds=0.05, spool=spool)
            taken = outbox.recover()
            await drained(outbox)
            return taken

        assert run(scenario) == 2
    finally:
        os.close(held)
    assert [row["conversation_id"] for row in database.rows] == ["gone", "cut"]
    assert sorted(p.name for p in spool.iterdir()) == ["2-bb.json", "3-cc.bad", "4-dd.bad", "5-ee.partial"]


def test_a_kept_request_keeps_the_crisis_screens_reason(tmp_path):
    """The reason staff are shown (bot/crisis/decide.py staff_detail) survives a restart."""
    spool = tmp_path / "outbox"
    spool.mkdir()
    detail = {"action": "escalate", "tier": "emergency", "reason": "rule not_breathing matched", "language": "es"}
    request_file(spool, "1-aa.json", {"conversation_id": "c", "reason": "crisis", "tier": "emergency",
                                      "detail": detail})
    database = FlakyDatabase()

    async def scenario():
        outbox = HandoffOutbox(database.write, retry_seconds=0.05, spool=spool)
        outbox.recover()
        await drained(outbox)

    run(scenario)
    assert [row.get("detail") for row in database.rows] == [detail]
    assert list(spool.iterdir()) == []


def test_a_server_looks_again_while_it_runs(tmp_path):
    spool = tmp_path / "outbox"
    spool.mkdir()
    database = FlakyDatabase()

    async def scenario():
        outbox = HandoffOutbox(database.write, retry_seconds=0.05, spool=spool, scan_seconds=0.05)
        outbox.start()
        request_file(spool, "1-aa.json", {"conversation_id": "later", "reason": "crisis", "tier": "suicide"})
        for _ in range(100):
            if database.rows:
                break
            await asyncio.sleep(0.02)

    run(scenario)
    assert [row["conversation_id"] for row in database.rows] == ["later"]


def test_a_deleted_chat_takes_its_kept_requests_and_a_bad_one_blocks_nothing(tmp_path):
    database = FlakyDatabase()
    database.up = False
    spool = tmp_path / "outbox"

    async def scenario():
        outbox = HandoffOutbox(database.write, retry_seconds=0.05, spool=spool)
        await outbox.request_handoff(conversation_id="bad", reason="crisis", tier="no such tier")
        await outbox.request_handoff(conversation_id="deleted", reason="crisis", tier="suicide")
        await outbox.request_handoff(conversation_id="kept", reason="crisis", tier="emergency")
        assert await outbox.forget("deleted") == 1 and len(list(spool.glob("*.json"))) == 2
        database.up = True
        await drained(outbox)
        return len(outbox)

    assert run(scenario) == 0
    assert [row["conversation_id"] for row in database.rows] == ["kept"]
    assert [p.suffix for p in spool.iterdir()] == [".bad"]


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


def test_a_server_that_stops_leaves_its_kept_requests_to_the_others(tmp_path):
    database = FlakyDatabase()
    database.up = False
    spool = tmp_path / "outbox"

    async def scenario():
        stopping = HandoffOutbox(database.write, retry_seconds=0.05, spool=spool)
        stopping.start()
        await stopping.request_handoff(conversation_id="a", reason="crisis", tier="suicide")
        other = HandoffOutbox(database.write, retry_seconds=0.05, spool=spool)
        assert other.recover() == 0  # held while its server runs
        await stopping.stop()
        [kept] = spool.glob("*.json")
        assert not held_by_another(kept) and len(stopping) == 0
        assert other.recover() == 1
        database.up = True
        await drained(other)

    run(scenario)
    assert [row["conversation_id"] for row in database.rows] == ["a"]
    assert list(spool.iterdir()) == []


class SlowDatabase(FlakyDatabase):
    """Each write takes a while (a database thread mid-write); some conversations never write."""

    def __init__(self, seconds: float = 0.3, stuck=()) -> None:
        super().__init__()
        self.seconds, self.stuck, self.writing = seconds, set(stuck), False

    async def write(self, **request) -> None:
        if request["conversation_id"] in self.stuck:
            raise ConnectionError("this one keeps failing")
        self.writing = True
        await asyncio.sleep(self.seconds)
        self.writing = False
        await super().write(**request)


def kept_during_outage(database, spool, *conversation_ids, **options):
    """An outbox with a request of each conversation kept while the database is down."""
    async def keep():
        outbox = HandoffOutbox(database.write, retry_seconds=0.05, spool=spool, **options)
        database.up = False
        for conversation_id in conversation_ids:
            await outbox.request_handoff(conversation_id=conversation_id, reason="crisis", tier="suicide")
        database.up = True
        return outbox
    return keep


def test_forgetting_waits_for_a_write_under_way_so_the_erasure_comes_after_it(tmp_path):
    database = SlowDatabase()

    async def scenario():
        outbox = await kept_during_outage(database, tmp_path, "deleted")()
        while not database.writing:
            await asyncio.sleep(0.01)
        assert await outbox.forget("deleted") == 0  # it was being written: waited for, then gone
        return database.writing, len(outbox)

    assert run(scenario) == (False, 0)
    assert [row["conversation_id"] for row in database.rows] == ["deleted"]


def test_a_request_of_a_chat_deleted_on_any_server_is_dropped_and_a_failing_one_holds_back_nothing(tmp_path):
    database = SlowDatabase(seconds=0, stuck={"stuck"})

    async def erased(conversation_id):
        return conversation_id == "deleted elsewhere"

    async def scenario():
        outbox = await kept_during_outage(database, tmp_path, "stuck", "deleted elsewhere", "fine", erased=erased)()
        for _ in range(100):
            if len(outbox) == 1:
                break
            await asyncio.sleep(0.02)
        return [kept.request["conversation_id"] for kept in outbox.pending]

    assert run(scenario) == ["stuck"]
    assert [row["conversation_id"] for row in database.rows] == ["fine"]
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_stopping_waits_for_a_write_under_way_instead_of_leaving_it_to_be_written_twice(tmp_path):
    database = SlowDatabase()

    async def scenario():
        outbox = await kept_during_outage(database, tmp_path, "a")()
        while not database.writing:
            await asyncio.sleep(0.01)
        await outbox.stop()
        return HandoffOutbox(database.write, spool=tmp_path).recover()

    assert run(scenario) == 0
    assert [row["conversation_id"] for row in database.rows] == ["a"]
    assert list(tmp_path.iterdir()) == []


def test_a_request_that_cannot_be_put_on_disk_leaves_no_half_file(tmp_path, monkeypatch, caplog):
    from bot.handoff import outbox as module

    def fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(module.os, "fsync", fsync)
    database = FlakyDatabase()

    async def scenario():
        outbox = await kept_during_outage(database, tmp_path, "a")()
        assert [kept.path for kept in outbox.pending] == [None]  # in memory only
        await drained(outbox)
        await outbox.stop()

    run(scenario)
    assert [row["conversation_id"] for row in database.rows] == ["a"]
    assert list(tmp_path.iterdir()) == []


def test_a_file_nested_too_deep_is_set_aside(tmp_path):
    request_file(tmp_path, "1-aa.json", "[" * 100_000 + "]" * 100_000)
    request_file(tmp_path, "2-bb.json", {"conversation_id": "after", "reason": "crisis", "tier": "suicide"})

    async def scenario():
        return HandoffOutbox(FlakyDatabase().write, spool=tmp_path).recover()

    assert run(scenario) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1-aa.bad", "2-bb.json"]
