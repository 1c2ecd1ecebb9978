"""The web chat channel: Socket.IO with the events of Rasa's ``socketio`` channel.

Registered in credentials.yml as ``bot.channels.webchat.WebChatInput``. It speaks the
protocol of rasa-webchat (``session_request`` / ``session_confirm`` / ``user_uttered`` /
``bot_uttered``), so that widget works too, and adds to it:

- session ids issued and signed by the server (bot/channels/session_ids.py); the
  connection is bound to its session, so a client cannot join or read another
  visitor's conversation by sending an id it was not issued;
- rooms entered with ``await`` (Rasa 3.6.21's own channel forgets it with
  python-socketio 5, so replies never arrive there);
- the whole transcript kept (visitor, bot, staff) and replayed after a page reload;
- live handoff: while staff have a conversation the bot is quiet, yet every message
  still passes the NLU pipeline with its crisis rules (bot/handoff/live.py);
- ``typing`` and ``handoff_status`` events for the widget, and the staff console
  (``/console``, bot/console/api.py) with its own Socket.IO namespace;
- the widget, its demo page and the console served as static files;
- a newly trained model loaded without a restart (bot/channels/model_reload.py).
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Iterable, List, Optional, Text

import sqlalchemy as sa
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from socketio import AsyncRedisManager, AsyncServer

from bot import PROJECT_ROOT, config, rasa_patches
from bot.privacy import logmask
from bot.channels import guard
from bot.crisis import decide
from bot.channels.model_reload import watch_model_file
from bot.channels.session_ids import SessionSigner
from bot.handoff.hours import StaffHours
from bot.handoff.live import CANCEL_PAYLOAD, LiveHub
from bot.handoff.outbox import HandoffOutbox, spool_from_env
from bot.handoff.store import HandoffConflict, HandoffStore, Status
from bot.storage.erase import erase_conversation
from bot.storage.engine import open_engine
from bot.storage.tracker_store import innermost_store, persistence_problem, store_layers

logger = logging.getLogger(__name__)

STATIC = PROJECT_ROOT / "bot" / "web" / "static"
MAX_MESSAGE_CHARS = guard.MAX_MESSAGE_CHARS
# used if the domain has no utter_technical_problem (a broken content edit must not silence the outage reply)
TECHNICAL_PROBLEM = ("I'm sorry, I'm having a technical problem and can't answer that right now. "
                     "If someone is in danger, call 911. If you're thinking about suicide, call or text 988.")
MAX_ERASED_REMEMBERED = 10000  # deleted conversations whose old session ids get a new conversation
ERASED_DAYS = 30  # with several servers, how long Redis remembers a deleted conversation
REDIS_TIMEOUT = 2.0  # seconds Redis may take to say whether a conversation was deleted
HEALTH_TIMEOUT = 3.0  # seconds a database may take to answer the health route's query


def in_room(sio: AsyncServer, sid: str, room: str, namespace: str = "/") -> bool:
    """Whether a connection is in a room. python-socketio's ``rooms(sid)`` walks every room
    on the server (two per connected visitor) for each message; its manager's table of
    rooms answers with one look-up."""
    rooms = getattr(sio.manager, "rooms", None)
    if isinstance(rooms, dict):
        return sid in rooms.get(namespace, {}).get(room, ())
    return room in sio.rooms(sid, namespace)


def _ping(engine) -> None:
    with engine.connect() as connection:
        connection.execute(sa.text("select 1"))


class WebChatOutput(OutputChannel):
    """Sends the bot's messages to the visitor's room and keeps them in the transcript."""

    @classmethod
    def name(cls) -> Text:
        return "webchat"

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub
        self.escalation_tier: Optional[str] = None  # set when a crisis reply (escalation payload) was sent

    async def _send(self, recipient_id: Text, text: Text, data: Optional[Dict[str, Any]] = None) -> None:
        await self.hub.to_visitor(recipient_id, "bot", text, data=data)
        tier = decide.escalation_tier(data)
        if tier:
            self.escalation_tier = tier

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        for part in text.strip().split("\n\n"):
            await self._send(recipient_id, part)

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]],
                                     **kwargs: Any) -> None:
        parts = text.strip().split("\n\n") or [text]
        for part in parts[:-1]:
            await self._send(recipient_id, part)
        replies = [{"content_type": "text", "title": b["title"], "payload": b["payload"]} for b in buttons]
        await self._send(recipient_id, parts[-1], {"quick_replies": replies})

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        await self._send(recipient_id, "", {"custom": json_message})

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self._send(recipient_id, image)

    async def send_elements(self, recipient_id: Text, elements: Iterable[Dict[Text, Any]], **kwargs: Any) -> None:
        for element in elements:
            await self._send(recipient_id, "", {"custom": {"elements": element}})

    async def send_attachment(self, recipient_id: Text, attachment: Any, **kwargs: Any) -> None:  # type: ignore[override]
        await self._send(recipient_id, "", {"custom": {"attachment": attachment}})


async def _raise(error: Exception, *_args: Any) -> None:
    raise error


async def _release(lock: Any, conversation_id: str, *exc_info: Any) -> bool:
    """Release a lock-store lock; a failure (Redis gone meanwhile) is logged, not raised: the
    message was answered or the chat deleted, and the lock expires by itself."""
    try:
        await lock.__aexit__(*exc_info)
    except Exception:
        logger.exception("could not release the lock of %s in the lock store; it expires by itself",
                         conversation_id)
    return False


class ErasedConversations:
    """Conversations visitors deleted: an old session id of one starts a new conversation.

    This server remembers the last MAX_ERASED_REMEMBERED; with several servers
    (HELPLINE_REDIS_URL) each deletion is also kept in Redis for ERASED_DAYS, so a session
    id presented to another server is refused there too.
    """

    def __init__(self, redis_url: Optional[str]) -> None:
        self._local: "OrderedDict[str, None]" = OrderedDict()
        self._redis = None
        if redis_url:
            import redis.asyncio

            # a Redis that stops answering must not hold a new chat or a deletion for long
            self._redis = redis.asyncio.Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT,
                                                       socket_connect_timeout=REDIS_TIMEOUT)

    async def add(self, conversation_id: str) -> None:
        self._local[conversation_id] = None
        while len(self._local) > MAX_ERASED_REMEMBERED:
            self._local.popitem(last=False)
        if self._redis is not None:
            try:
                await self._redis.set(f"helpline:erased:{conversation_id}", 1, ex=ERASED_DAYS * 86400)
            except Exception:  # the conversation is erased all the same; other servers may not know
                logger.exception("could not tell Redis a conversation was deleted")

    async def anywhere(self, conversation_id: str) -> bool:
        if conversation_id in self._local:
            return True
        if self._redis is None:
            return False
        try:
            return bool(await self._redis.exists(f"helpline:erased:{conversation_id}"))
        except Exception:  # Redis is down: the chat still starts (the health route reports Redis)
            logger.exception("could not ask Redis whether a conversation was deleted")
            return False


class _Blueprint(Blueprint):
    """Attaches Socket.IO, the static front ends and the console API to the Rasa app."""

    def __init__(self, channel: "WebChatInput", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx.channel = channel

    def register(self, app: Sanic, options: Dict[Text, Any]) -> None:
        channel: WebChatInput = self.ctx.channel
        channel.app = app
        channel.sio.attach(app, channel.socketio_path)
        from bot.console.api import register_console

        register_console(app, channel)
        app.register_listener(lambda *_: logmask.install(), "before_server_start")  # handlers added since
        app.static("/widget", str(STATIC / "widget"), name="helpline_widget")
        app.static("/widget/vendor", str(STATIC / "vendor"), name="helpline_vendor")
        app.static("/console/static", str(STATIC / "console"), name="helpline_console_static")
        app.add_route(lambda request: response.file(str(STATIC / "demo" / "index.html")), "/demo",
                      name="helpline_demo")
        super().register(app, options)


class WebChatInput(rasa_patches.InstallPatches, InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        return cls(
            socketio_path=credentials.get("socketio_path", "/socket.io"),
            cors_allowed_origins=credentials.get("cors_allowed_origins"),
        )

    def __init__(self, socketio_path: str = "/socket.io", cors_allowed_origins: Any = None,
                 settings: Optional[config.Settings] = None, store: Optional[HandoffStore] = None) -> None:
        self.settings = settings or config.Settings.from_env()
        self.socketio_path = socketio_path
        # Origins allowed to open the chat: HELPLINE_ALLOWED_ORIGINS (comma-separated) or "*".
        origins = cors_allowed_origins or config.allowed_origins()
        if isinstance(origins, str) and origins != "*":
            origins = [o.strip() for o in origins.split(",") if o.strip()]
        # several servers: Socket.IO messages go through Redis to whichever server holds the socket
        redis_url = config.redis_url()
        manager = AsyncRedisManager(redis_url, channel="helpline-socketio") if redis_url else None
        self.sio = AsyncServer(async_mode="sanic", cors_allowed_origins=origins, client_manager=manager)
        self.store = store or HandoffStore(self.settings.database_url)
        self.hub = LiveHub(self.store, self.sio)
        self.hours = StaffHours.parse(self.settings.staff_hours, self.settings.timezone)
        # crisis handoffs that arrive while the database is down, written when it is back
        self.outbox = HandoffOutbox(partial(self.hub.db, self.store.request_handoff), spool=spool_from_env(),
                                    erased=lambda conversation_id: self._erased.anywhere(conversation_id))
        self.outbox.on_written = lambda request: self.hub.queue_changed()
        self.signer = SessionSigner(self.settings.secret_key)
        self.flood = guard.FloodLimit.from_env()  # HELPLINE_FLOOD_MESSAGES per HELPLINE_FLOOD_SECONDS
        self.app: Optional[Sanic] = None
        self._locks: Dict[str, list] = {}  # conversation id -> [asyncio.Lock, users]
        self._erased = ErasedConversations(redis_url)
        self._tracker_engine = None  # only when the agent has no SQL tracker store of its own

    def get_output_channel(self) -> Optional[OutputChannel]:
        return WebChatOutput(self.hub)

    # -- what the running Rasa server provides -----------------------------------------

    @property
    def agent(self):
        return self.app.ctx.agent if self.app is not None else None

    def responses(self) -> Dict[str, Any]:
        agent = self.agent
        return agent.domain.responses if agent is not None and agent.domain is not None else {}

    async def parse(self, text: str) -> Optional[Dict[str, Any]]:
        """NLU only (crisis rules included), without touching the conversation's dialogue."""
        return await guard.parse(self.agent, text)

    # -- the Socket.IO events ------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sio, hub = self.sio, self.hub
        blueprint = _Blueprint(self, "webchat_webhook", __name__)
        watch_model_file(blueprint)  # a newly trained model goes live without a restart

        @blueprint.route("/", methods=["GET"])
        async def health(request):
            problems = await self.problems()
            if problems:
                return response.json({"status": "degraded", "problems": problems}, status=503)
            return response.json({"status": "ok"})

        @blueprint.listener("after_server_start")
        async def report_persistence(app: Sanic, _loop) -> None:
            problem = persistence_problem(getattr(app.ctx, "agent", None))
            if problem:
                logger.error("Helpline Assistant is degraded: %s", problem)
            # crisis handoff requests a stopped server kept during a database outage
            self.outbox.start()

        @blueprint.listener("before_server_stop")
        async def stop_outbox(app: Sanic, _loop) -> None:
            await self.outbox.stop()  # what still waits stays on disk for the other servers

        @sio.on("connect")
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            return True

        @sio.on("session_request")
        async def session_request(sid: Text, data: Any = None, *_extra: Any) -> None:
            token = data.get("session_id") if isinstance(data, dict) else None
            conversation_id = self.signer.verify(token)
            # none, made up, not ours, or deleted
            if conversation_id is None or await self._erased.anywhere(conversation_id):
                token = self.signer.issue()
                conversation_id = self.signer.verify(token)
            await sio.save_session(sid, {"conversation_id": conversation_id})
            await sio.enter_room(sid, conversation_id)
            try:
                history, handoff = await hub.history(conversation_id), await hub.handoff_state(conversation_id)
            except Exception:  # the database is down: the chat still starts
                logger.exception("could not load the transcript of %s", conversation_id)
                history, handoff = [], None
            await sio.emit("session_confirm", {"session_id": token, "history": history, "handoff": handoff},
                           room=sid)

        async def bound_conversation(sid: Text) -> Optional[str]:
            """The conversation this connection was given, unless it was deleted since: a deletion
            on any server takes every connection out of the conversation's room."""
            conversation_id = (await sio.get_session(sid)).get("conversation_id")
            return conversation_id if conversation_id and in_room(sio, sid, conversation_id) else None

        @sio.on("user_uttered")
        async def user_uttered(sid: Text, data: Any = None, *_extra: Any) -> None:
            conversation_id = await bound_conversation(sid)
            # A message that is not processed gets a session_error saying why; an empty one, nothing.
            if conversation_id is None:
                await sio.emit("session_error", {"message": guard.NO_SESSION_REPLY, "reason": "no_session"},
                               room=sid)
                return
            text = data.get("message") if isinstance(data, dict) else None
            if not isinstance(text, str):
                await sio.emit("session_error", {"message": guard.UNREADABLE_REPLY, "reason": "unreadable"},
                               room=sid)
                return
            if len(text) > MAX_MESSAGE_CHARS:
                await sio.emit("session_error", {
                    "message": f"That message is too long for me (over {MAX_MESSAGE_CHARS} characters). "
                               "Could you send it in shorter parts?", "reason": "too_long"}, room=sid)
                return
            text = guard.clean_text(text).strip()
            if not text:
                return
            if not self.flood.allow(conversation_id) and not await guard.must_answer(self, conversation_id, text):
                if self.flood.notice_due(conversation_id):
                    await sio.emit("session_error", {"message": guard.FLOOD_REPLY, "reason": "flood"}, room=sid)
                return
            metadata = guard.clean_metadata(data.get("metadata") or data.get("customData"))
            await self.handle(conversation_id, text, metadata, on_new_message)

        @sio.on("handoff_cancel")
        async def handoff_cancel(sid: Text, data: Any = None, *_extra: Any) -> None:
            conversation_id = await bound_conversation(sid)
            if conversation_id:
                await self.cancel_handoff(conversation_id)

        @sio.on("delete_chat")
        async def delete_chat(sid: Text, data: Any = None, *_extra: Any) -> None:
            # the conversation this connection is bound to, never an id the client sends
            conversation_id = await bound_conversation(sid)
            if conversation_id is None:
                await sio.emit("chat_deleted", {}, room=sid)
                return
            try:
                await self.delete_conversation(conversation_id)
            except Exception:
                logger.exception("could not delete a conversation at the visitor's request")
                await sio.emit("session_error", {
                    "message": "Sorry, the chat could not be deleted. Please try again in a moment."}, room=sid)

        from bot.console.api import register_console_socket

        register_console_socket(self)
        return blueprint

    @asynccontextmanager
    async def _conversation(self, conversation_id: str) -> AsyncIterator[Callable[[UserMessage], Awaitable[Any]]]:
        """One message (or a deletion) of a conversation at a time, on every server.

        This server's lock, then the lock store's (Redis with several servers), which Rasa
        takes for each message anyway: held here, the message is processed inside it (what
        this yields: Rasa's steps without taking the lock again), so a deletion on another
        server waits for the message being answered, and a message waiting for a deletion
        sees it. When the lock store fails (Redis down) it yields a step that raises its
        error, so the message is answered without the dialogue at once (Rasa would try the
        lock store again), and a deletion goes ahead. Without a ready model: None."""
        entry = self._locks.setdefault(conversation_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                async with AsyncExitStack() as held:
                    agent = self.agent
                    process = None
                    if agent is not None and agent.is_ready():
                        try:
                            lock = agent.lock_store.lock(conversation_id)
                            await lock.__aenter__()
                            held.push_async_exit(partial(_release, lock, conversation_id))
                            process = agent.processor.handle_message
                        except Exception as error:  # the traceback is logged where it is raised again
                            logger.error("could not take the lock of %s in the lock store (%s)", conversation_id,
                                         error.__class__.__name__)
                            process = partial(_raise, error)
                    yield process
        finally:
            entry[1] -= 1
            if not entry[1]:
                self._locks.pop(conversation_id, None)

    async def handle(self, conversation_id: str, text: str, metadata: Dict[str, Any],
                     on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        # no message is answered after a deletion, on any server: Rasa saves a tracker it holds
        # in full when its rows are gone, bringing them back
        async with self._conversation(conversation_id) as process:
            if not await self._erased.anywhere(conversation_id):
                await self._handle(conversation_id, text, metadata, process or on_new_message)

    async def _handle(self, conversation_id: str, text: str, metadata: Dict[str, Any],
                      on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        hub = self.hub
        await hub.record(conversation_id, "visitor", text)
        try:
            request = await hub.db(self.store.open_handoff, conversation_id)
        except Exception:  # the database is down: Rasa answers from its in-memory fallback
            logger.exception("could not look up the handoff state of %s", conversation_id)
            request = None
        if request is not None:
            if text == CANCEL_PAYLOAD:
                await self.cancel_handoff(conversation_id)
                return
            await hub.during_handoff(request, text, await self.parse(text), self.responses())
            return
        if text == CANCEL_PAYLOAD:
            return
        await hub.typing(conversation_id, True)
        output = WebChatOutput(hub)
        try:
            await on_new_message(UserMessage(text, output, conversation_id,
                                             input_channel=self.name(), metadata=metadata))
        except Exception:  # e.g. the lock store (Redis) is down
            logger.exception("could not answer a message of %s through the dialogue; answering without it",
                             conversation_id)
            await self.answer_in_outage(conversation_id, text, output.escalation_tier)
            return
        finally:
            await hub.typing(conversation_id, False)
        try:
            state = await hub.handoff_state(conversation_id)
        except Exception:
            # The database is down. Rasa answered anyway (its tracker store falls back to a fresh
            # conversation in memory), but a crisis handoff could not be recorded: keep it.
            logger.exception("could not look up the handoff state of %s", conversation_id)
            if output.escalation_tier:
                await self.keep_crisis_handoff(conversation_id, text, output.escalation_tier)
            return
        if state is not None:  # the message started a handoff (or raised its priority)
            await hub.send_handoff_state(conversation_id, state)
            await hub.queue_changed()

    async def problems(self) -> List[str]:
        """What keeps the server from working fully (the health route reports them)."""
        agent = self.agent
        problem = persistence_problem(agent)
        found = [problem] if problem else []
        tracker_store = innermost_store(agent)
        checks = [("the handoff database", partial(_ping, self.store.engine))]
        if getattr(tracker_store, "engine", None) is not None:
            checks.append(("the conversation database", partial(_ping, tracker_store.engine)))
        if hasattr(getattr(agent, "lock_store", None), "ping"):
            checks.append(("the lock store (Redis)", agent.lock_store.ping))
        for name, check in checks:
            try:
                await asyncio.wait_for(asyncio.to_thread(check), HEALTH_TIMEOUT)
            except Exception as error:
                found.append(f"{name} does not answer ({error.__class__.__name__})")
        if len(self.outbox):
            found.append(f"{len(self.outbox)} crisis handoff request(s) wait for the database")
        return found

    async def answer_in_outage(self, conversation_id: str, text: str, sent_tier: Optional[str]) -> None:
        """Answer without the dialogue (Rasa failed on the message, e.g. its lock store is down):
        the crisis reply for a crisis message, else an apology with the lines. The NLU, crisis
        screen included, needs no database."""
        parse = await self.parse(text)
        found = decide.decision_of(parse) or {}
        tier, reply = decide.tier_of(parse), decide.reply_name(found)
        if reply and not sent_tier:
            await self.hub.send_response(conversation_id, self.responses().get(reply), decide.slots_of(found))
        elif not tier and not sent_tier:
            # bot/content/validate.py knows the channel sends this response
            await self.hub.send_response(conversation_id, self.responses().get("utter_technical_problem")
                                         or [{"text": TECHNICAL_PROBLEM}])
        if tier or sent_tier:
            await self.keep_crisis_handoff(conversation_id, text, tier or sent_tier, parse)

    async def keep_crisis_handoff(self, conversation_id: str, text: str, tier: str,
                                  parse: Optional[Dict[str, Any]] = None) -> None:
        """A crisis reply went out, but the handoff may not be recorded (the database is down):
        write it now or, failing that, as soon as the database is back (bot/handoff/outbox.py)."""
        parse = parse if parse is not None else await self.parse(text)
        found = decide.decision_of(parse) or {}
        await self.outbox.request_handoff(conversation_id=conversation_id, reason="crisis", tier=tier,
                                          triggers=found.get("triggers") or [], message_text=text,
                                          detail=decide.staff_detail(found), live=self.hours.is_open())

    async def cancel_handoff(self, conversation_id: str) -> None:
        request = await self.hub.db(self.store.open_handoff, conversation_id)
        if request is None:
            return
        try:
            await self.hub.db(self.store.close, request.id, Status.cancelled)
        except HandoffConflict:
            return
        await self.hub.db(self.store.audit, None, "visitor_cancelled", request.id)
        await self.hub.to_visitor(conversation_id, "system",
                                  "OK, you're back with the Helpline Assistant. "
                                  "You can ask for a person again any time.")
        await self.hub.send_handoff_state(conversation_id, {"state": "ended"})
        await self.hub.queue_changed()

    # -- a visitor deletes their chat ---------------------------------------------------

    def _tracker_sql(self) -> Any:
        """The engine of Rasa's SQL tracker store; without an agent, one on HELPLINE_TRACKER_URL."""
        store = innermost_store(self.agent)
        if store is not None:
            return getattr(store, "engine", None)
        if self._tracker_engine is None:
            self._tracker_engine = open_engine(config.tracker_url(), synchronous="NORMAL")
        return self._tracker_engine

    async def delete_conversation(self, conversation_id: str) -> Counter:
        """Erase a conversation at the visitor's request: tracker events, transcript, callback
        requests and handoffs (an open one is closed: the console is told). The visitor's
        connections leave it; an old session id starts a new conversation."""
        hub = self.hub
        async with self._conversation(conversation_id):
            await self.outbox.forget(conversation_id)  # crisis handoffs kept during an outage, first
            request = await hub.db(self.store.open_handoff, conversation_id)
            counts = await hub.db(erase_conversation, conversation_id, self._tracker_sql(), self.store.engine)
            for store in store_layers(self.agent):  # trackers kept in memory, if any
                for memory in (store, getattr(store, "_fallback_tracker_store", None)):
                    if isinstance(getattr(memory, "store", None), dict):
                        memory.store.pop(conversation_id, None)
            await self._erased.add(conversation_id)  # before the next message can take the lock
        # every connection of the conversation, on every server (through Redis when there are
        # several), is told and leaves its room, so its next message is refused (no_session)
        await self.sio.emit("chat_deleted", {}, room=conversation_id)
        await self.sio.close_room(conversation_id)
        if request is not None:
            await hub.queue_changed()  # a staff member may have had it open: it is gone
        logger.info("a visitor deleted their chat (%s rows)", sum(counts.values()))
        return counts
