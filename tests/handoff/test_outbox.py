"""Crisis handoff requests kept while the database is down (bot/handoff/outbox.py)."""
from __future__ import annotations

import asyncio

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
        for _ in range(100):
            if not len(outbox):
                break
            await asyncio.sleep(0.02)
        return kept_while_down, len(outbox)

    kept_while_down, left = run(scenario)
    assert kept_while_down == 2 and left == 0
    assert [row["conversation_id"] for row in database.rows] == ["a", "b"]
    assert announced == ["a", "b"]
