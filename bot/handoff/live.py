"""Live handoff inside the Rasa server: the transcript, the visitor's view of the queue,
and messages between visitors and staff.

The web chat channel (bot/channels/webchat.py) and the console API (bot/console/api.py)
both go through one ``LiveHub``. While a conversation has an open handoff (waiting for
or talking to staff) its messages never reach Rasa's dialogue policies, so the bot stays
quiet, and Rasa's pause (which ignores everything but /restart) is never used. Every such
message is still run through the NLU pipeline, crisis rules included, first.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from sqlalchemy.exc import InterfaceError, OperationalError

from bot.crisis import decide
from bot.handoff.store import HandoffRequest, HandoffStore, StaffUser, Status, TranscriptMessage
from bot.storage.sqlite import is_sqlite_file

logger = logging.getLogger(__name__)

CONSOLE_NAMESPACE = "/console"
STAFF_ROOM = "staff"
CANCEL_PAYLOAD = "/cancel_handoff"
def message_json(message: TranscriptMessage) -> Dict[str, Any]:
    data = dict(message.data or {})
    return {
        "id": message.id,
        "role": message.role,
        "text": message.text,
        "staff_name": message.staff_name,
        "at": message.created_at.isoformat() if message.created_at else None,
        **{key: value for key, value in data.items() if key in ("quick_replies", "custom")},
    }


def visitor_event(message: TranscriptMessage) -> Dict[str, Any]:
    """What the widget is sent for one transcript message (``bot_uttered``)."""
    event: Dict[str, Any] = {"text": message.text} if message.text else {}
    data = message.data or {}
    if data.get("quick_replies"):
        event["quick_replies"] = data["quick_replies"]
    if data.get("custom"):
        event["custom"] = data["custom"]
    if message.role in ("staff", "system"):
        event["sender"] = message.role
    if message.staff_name:
        event["staff_name"] = message.staff_name
    return event


class TranscriptWriter:
    """Writes transcript messages in batches: one transaction for all waiting messages.

    Every visitor message and every part of every answer is a transcript row, three or four
    per message, and on SQLite each commit waits for the disk (synchronous=FULL). A message
    that arrives while a write is under way waits for it, then goes in the next transaction
    with all others that arrived meanwhile, so under load a commit carries many rows. Each
    caller still gets its own row back (or its own error) and rows keep their order.
    """

    def __init__(self, hub: "LiveHub") -> None:
        self.hub = hub
        self._waiting: List[tuple] = []  # (row, future)
        self._task: Optional[asyncio.Task] = None  # kept: the loop holds only a weak reference

    async def add(self, conversation_id: str, role: str, text: str, staff: Optional[StaffUser] = None,
                  data: Optional[dict] = None) -> TranscriptMessage:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(((conversation_id, role, text, staff, data), future))
        if self._task is None:
            self._task = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        batch: List[tuple] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                outcomes = await self._outcomes([row for row, _ in batch])
                for (_, future), outcome in zip(batch, outcomes):
                    if future.done():  # the caller gave up waiting
                        continue
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        except BaseException:  # cancelled (the server stops): nobody waits forever
            for _, future in batch + self._waiting:
                if not future.done():
                    future.set_exception(RuntimeError("the transcript write was cancelled"))
            self._waiting = []
            raise
        finally:
            self._task = None

    async def _outcomes(self, rows: List[tuple]) -> List[Any]:
        """Each row's message, or the error that kept it out."""
        try:
            return await self.hub.db(self.hub.store.add_messages, rows)
        except Exception as error:
            # the database itself failed (down, locked, connection lost): every row would fail
            # the same way, and row by row would make each later message wait for N timeouts
            if len(rows) == 1 or isinstance(error, (OperationalError, InterfaceError)):
                return [error] * len(rows)
        outcomes: List[Any] = []
        for row in rows:  # one bad row must not cost the others theirs: each on its own
            outcomes += await self._outcomes([row])
        return outcomes


class LiveHub:
    def __init__(self, store: HandoffStore, sio) -> None:
        self.store = store
        self.sio = sio
        # SQLite takes one writer at a time, and a waiting writer sleeps in growing steps
        # (up to 100 ms): one database thread queues the calls instead (bot/storage/sqlite.py)
        self._executor = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="helpline-db")
                          if is_sqlite_file(store.engine.url) else None)
        self._transcript = TranscriptWriter(self)

    async def db(self, function, *args, **kwargs):
        """Run a blocking database call off the event loop."""
        if self._executor is None:
            return await asyncio.to_thread(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(function, *args, **kwargs))

    # -- transcript -------------------------------------------------------------

    async def record(self, conversation_id: str, role: str, text: str, *, staff: Optional[StaffUser] = None,
                     data: Optional[dict] = None) -> Optional[TranscriptMessage]:
        """Keep the message in the transcript and show it to staff watching the conversation."""
        try:
            message = await self._transcript.add(conversation_id, role, text, staff, data)
        except Exception:  # the conversation must go on; the log says what was lost
            logger.exception("could not record a %s message of %s in the transcript", role, conversation_id)
            return None
        await self.sio.emit("transcript", {"conversation_id": conversation_id, "message": message_json(message)},
                            namespace=CONSOLE_NAMESPACE, room=STAFF_ROOM)
        return message

    async def history(self, conversation_id: str) -> List[Dict[str, Any]]:
        messages = await self.db(self.store.transcript, conversation_id)
        return [{**visitor_event(m), "role": m.role, "at": m.created_at.isoformat()} for m in messages]

    # -- to the visitor -----------------------------------------------------------

    async def to_visitor(self, conversation_id: str, role: str, text: str, *, staff: Optional[StaffUser] = None,
                         data: Optional[dict] = None) -> None:
        message = await self.record(conversation_id, role, text, staff=staff, data=data)
        event = visitor_event(message) if message else {"text": text, **(data or {})}
        if role in ("staff", "system") and not message:
            event["sender"] = role
        await self.sio.emit("bot_uttered", event, room=conversation_id)

    async def typing(self, conversation_id: str, on: bool) -> None:
        await self.sio.emit("typing", {"on": on}, room=conversation_id)

    async def handoff_state(self, conversation_id: str) -> Optional[Dict[str, Any]]:
        request = await self.db(self.store.open_handoff, conversation_id)
        if request is None:
            return None
        if request.status == Status.claimed.value:
            staff = await self.db(self.store.get_staff, request.claimed_by)
            return {"state": "connected", "position": None, "staff_name": staff.display_name if staff else None}
        return {"state": "waiting", "position": await self.db(self.store.queue_position, request), "staff_name": None}

    async def send_handoff_state(self, conversation_id: str, state: Optional[Dict[str, Any]] = None) -> None:
        state = state if state is not None else (await self.handoff_state(conversation_id)) or {"state": "ended"}
        await self.sio.emit("handoff_status", state, room=conversation_id)

    async def queue_changed(self) -> None:
        """Tell every console to refresh, and every waiting visitor their new place."""
        await self.sio.emit("queue_changed", {}, namespace=CONSOLE_NAMESPACE, room=STAFF_ROOM)
        for request in await self.db(self.store.live_queue):
            if request.status == Status.waiting.value:
                await self.send_handoff_state(request.conversation_id)

    # -- a visitor message while staff have the conversation ----------------------------

    async def during_handoff(self, request: HandoffRequest, text: str, parse: Optional[Dict[str, Any]],
                             responses: Dict[str, Any]) -> None:
        """Screen for crisis (the bot is quiet, the visitor is not left alone) and queue the message.

        A crisis gets its reply with the lines (without any promise of a person: staff are already
        there or on the way), raises the request's tier with its trigger phrases and reason, and
        alerts the staff member who holds the chat."""
        conversation_id = request.conversation_id
        found = decide.decision_of(parse) or {}
        reply = decide.reply_name(found)
        if reply is None and await self.answers_safety_question_with_no(conversation_id, text, parse):
            reply = "utter_crisis_not_safe"
            found = {**found, "action": decide.ESCALATE_ACTION, "tier": "suicide", "source": "rules",
                     "triggers": [text.strip()[:80]], "reason": 'a "no" to "Are you safe right now?"'}
        if reply is None:
            return
        updated = await self.db(self.store.request_handoff, conversation_id, "crisis", tier=found["tier"],
                                triggers=found.get("triggers") or [], message_text=text,
                                detail=decide.staff_detail(found))
        slots = decide.slots_of(found)
        if "crisis_language" not in slots:  # "no", "ayuda": the language the chat was in
            transcript = await self.db(self.store.transcript, conversation_id)
            slots["crisis_language"] = decide.language_so_far([m.data for m in transcript])
        await self.send_response(conversation_id, responses.get(reply), slots)
        await self.sio.emit("crisis_alert", {"conversation_id": conversation_id, "tier": updated.tier,
                                             "reason": found.get("reason"), "handoff_id": updated.id},
                            namespace=CONSOLE_NAMESPACE, room=STAFF_ROOM)
        await self.queue_changed()

    async def answers_safety_question_with_no(self, conversation_id: str, text: str,
                                              parse: Optional[Dict[str, Any]], recorded: bool = True) -> bool:
        """A "no" to the suicide reply's "Are you safe right now?" (``recorded``: the message
        is already the last one in the transcript)."""
        if not decide.says_no(parse, text):
            return False
        transcript = await self.db(self.store.transcript, conversation_id)
        turns = [(m.role, decide.escalation_tier(m.data)) for m in transcript]
        return decide.asked_if_safe(turns[:-1] if recorded else turns)

    async def send_response(self, conversation_id: str, variations: Optional[List[Dict[str, Any]]],
                            slots: Optional[Dict[str, Any]] = None) -> None:
        """Send a domain response (text split into bubbles, then its custom payload) as the bot,
        the variation Rasa would choose with these slots (the crisis screen's language, situation)."""
        if not variations:
            return
        response = decide.reply({"r": variations}, "r", slots or {})
        if response is None:
            return
        for part in [p for p in (response.get("text") or "").strip().split("\n\n") if p]:
            await self.to_visitor(conversation_id, "bot", part)
        if response.get("custom"):
            await self.to_visitor(conversation_id, "bot", "", data={"custom": response["custom"]})

    # -- staff actions (the console API calls these) ----------------------------------

    async def staff_reply(self, request: HandoffRequest, staff: StaffUser, text: str) -> None:
        await self.to_visitor(request.conversation_id, "staff", text, staff=staff)

    async def hand_back(self, request: HandoffRequest) -> None:
        await self.to_visitor(request.conversation_id, "system",
                              "You're back with the Helpline Assistant. Ask me anything, or ask for a person again.")
        await self.send_handoff_state(request.conversation_id, {"state": "ended"})
        await self.queue_changed()

    async def claimed(self, request: HandoffRequest, staff: StaffUser) -> None:
        await self.to_visitor(request.conversation_id, "system",
                              f"{staff.display_name} from our helpline team has joined the chat.")
        await self.send_handoff_state(request.conversation_id)
        await self.queue_changed()
