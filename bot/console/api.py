"""The staff console: /console (the page) and /console/api/* (JSON), inside the Rasa server.

Every API call but login needs the session cookie; every POST also needs the
``X-CSRF-Token`` header given at login. Staff see the waiting queue and their own
conversations; supervisors see everything and can reassign. Each view, claim, reply,
hand-back and resolution goes to the audit log.
"""
from __future__ import annotations

import functools
import json
import re
from functools import lru_cache
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import yaml
from sanic import Sanic, response

from bot import PROJECT_ROOT
from bot.channels.guard import clean_text
from bot.console.auth import COOKIE_NAME, SESSION_HOURS, Accounts, LoginError, csrf_ok
from bot.handoff.hours import StaffHours
from bot.handoff.live import CONSOLE_NAMESPACE, STAFF_ROOM
from bot.handoff.store import OPEN, HandoffConflict, HandoffRequest, StaffUser, Status, aware, utcnow

if TYPE_CHECKING:
    from bot.channels.webchat import WebChatInput

STATIC = PROJECT_ROOT / "bot" / "web" / "static" / "console"
SUMMARY_TERMS = PROJECT_ROOT / "data" / "handoff" / "summary.yml"
MAX_REPLY_CHARS = 2000
MAX_NOTE_CHARS = 4000
MAX_BODY_BYTES = 64 * 1024
MAX_ID = 2 ** 63 - 1  # the database's largest integer: a larger id cannot exist


# -- the summary at the top of a conversation ------------------------------------------

@lru_cache(maxsize=1)
def summary_terms():
    spec = yaml.safe_load(SUMMARY_TERMS.read_text())

    def pattern(words: List[str]):
        return re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b", re.I)

    return {name: pattern(words) for name, words in spec["substances"].items()}, pattern(spec["pregnancy"])


def summarise(request: HandoffRequest, visitor_texts: List[str]) -> Dict[str, Any]:
    substances, pregnancy = summary_terms()
    text = "\n".join(visitor_texts)
    return {
        "tier": request.tier,
        "trigger_phrases": request.trigger_phrases or [],
        "crisis_detail": request.crisis_detail,
        "substances": [name for name, regex in substances.items() if regex.search(text)],
        "pregnancy": bool(pregnancy.search(text)),
        "waiting_seconds": _waiting(request),
    }


def _waiting(request: HandoffRequest) -> int:
    return max(0, int((utcnow() - aware(request.created_at)).total_seconds()))


def handoff_json(request: HandoffRequest, staff: Dict[int, StaffUser]) -> Dict[str, Any]:
    claimer = staff.get(request.claimed_by) if request.claimed_by else None
    return {
        "id": request.id,
        "conversation_id": request.conversation_id,
        "tier": request.tier,
        "reason": request.reason,
        "status": request.status,
        "priority": request.priority,
        "waiting_seconds": _waiting(request),
        "created_at": aware(request.created_at).isoformat(),
        "claimed_by": {"id": claimer.id, "display_name": claimer.display_name} if claimer else None,
        "trigger_phrases": request.trigger_phrases or [],
        "crisis_detail": request.crisis_detail,
        "preview": (request.message_text or "")[:140],
        "resolution_note": request.resolution_note,
    }


def user_json(user: StaffUser) -> Dict[str, Any]:
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
            "active": user.active}


def error(message: str, status: int):
    return response.json({"error": message}, status=status)


# -- routes ------------------------------------------------------------------------

def register_console(app: Sanic, channel: "WebChatInput") -> None:
    store, hub = channel.store, channel.hub
    accounts = Accounts(store)
    settings = channel.settings
    hours = StaffHours.parse(settings.staff_hours, settings.timezone)
    db = hub.db

    async def body(request) -> Dict[str, Any]:
        if len(request.body or b"") > MAX_BODY_BYTES:
            raise _BadRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes", 413)
        try:
            data = json.loads(request.body or b"{}")
            # lone surrogates (half an emoji) cannot be stored or hashed
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except (ValueError, UnicodeDecodeError, UnicodeEncodeError, RecursionError):
            raise _BadRequest("the request body is not valid JSON")
        if not isinstance(data, dict):
            raise _BadRequest("the request body must be a JSON object")
        return data

    def authed(csrf: bool = True, supervisor: bool = False):
        def decorate(handler):
            @functools.wraps(handler)
            async def wrapper(request, *args, **kwargs):
                found = await db(accounts.session, request.cookies.get(COOKIE_NAME))
                if found is None:
                    return error("please log in", 401)
                staff_session, user = found
                if csrf and not csrf_ok(staff_session.csrf_token, request.headers.get("x-csrf-token")):
                    return error("missing or wrong CSRF token: reload the page", 403)
                if supervisor and user.role != "supervisor":
                    return error("only a supervisor can do this", 403)
                try:
                    return await handler(request, user, staff_session, *args, **kwargs)
                except _BadRequest as bad:
                    return error(str(bad), bad.status)
            return wrapper
        return decorate

    async def load(handoff_id: int, user: StaffUser, *, for_change: bool = False):
        request = await db(store.get_handoff, handoff_id)
        if request is None:
            raise _NotFound()
        if user.role != "supervisor":
            mine = request.claimed_by == user.id
            if for_change and not mine:
                raise _Forbidden("claim this conversation first" if request.status == Status.waiting.value
                                 else "this conversation belongs to another staff member")
            if not for_change and request.status not in (Status.waiting.value,) and not mine:
                raise _Forbidden("this conversation belongs to another staff member")
        return request

    def guarded(handler):
        @functools.wraps(handler)
        async def wrapper(request, user, staff_session, handoff_id: int):
            if not 0 < int(handoff_id) <= MAX_ID:
                return error("no such conversation", 404)
            try:
                return await handler(request, user, staff_session, int(handoff_id))
            except _NotFound:
                return error("no such conversation", 404)
            except _Forbidden as forbidden:
                return error(str(forbidden), 403)
            except HandoffConflict as conflict:
                return error(str(conflict), 409)
        return wrapper

    async def page(_request):
        return await response.file(str(STATIC / "index.html"), headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; "
                                       "connect-src 'self' ws: wss:; frame-ancestors 'none'",
            "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})

    async def login(request):
        try:
            data = await body(request)
        except _BadRequest as bad:
            return error(str(bad), bad.status)
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
            return error("enter your username and password", 400)
        try:
            done = await db(accounts.login, username[:80], password[:200])
        except LoginError as failed:
            return error(str(failed), 423 if failed.locked else 401)
        reply = response.json({"user": user_json(done.user), "csrf": done.csrf})
        reply.cookies[COOKIE_NAME] = done.token
        cookie = reply.cookies[COOKIE_NAME]
        cookie["httponly"], cookie["samesite"], cookie["path"] = True, "Strict", "/"
        cookie["max-age"] = SESSION_HOURS * 3600
        if settings.cookie_secure:
            cookie["secure"] = True
        return reply

    @authed()
    async def logout(request, user, staff_session):
        await db(accounts.logout, request.cookies.get(COOKIE_NAME))
        reply = response.json({"ok": True})
        del reply.cookies[COOKIE_NAME]
        return reply

    @authed(csrf=False)
    async def me(request, user, staff_session):
        return response.json({"user": user_json(user), "csrf": staff_session.csrf_token})

    async def staff_by_id() -> Dict[int, StaffUser]:
        return {u.id: u for u in await db(store.list_staff)}

    @authed(csrf=False)
    async def queue(request, user, staff_session):
        requests = await db(store.live_queue)
        if user.role != "supervisor":
            requests = [r for r in requests if r.status == Status.waiting.value or r.claimed_by == user.id]
        staff = await staff_by_id()
        callbacks = [c for c in await db(store.callbacks) if c.status == "pending"]
        return response.json({
            "staff_online": hours.is_open(),
            "handoffs": [handoff_json(r, staff) for r in requests],
            "callbacks": [{"id": c.id, "phone": c.phone, "best_time": c.best_time, "status": c.status,
                           "created_at": aware(c.created_at).isoformat()} for c in callbacks],
        })

    @authed(csrf=False)
    @guarded
    async def view(request, user, staff_session, handoff_id):
        handoff = await load(handoff_id, user)
        messages = await db(store.transcript, handoff.conversation_id)
        await db(store.audit, user.id, "viewed", handoff.id)
        return response.json({
            "handoff": handoff_json(handoff, await staff_by_id()),
            "summary": summarise(handoff, [m.text for m in messages if m.role == "visitor"]),
            "transcript": [{"role": m.role, "text": m.text, "staff_name": m.staff_name,
                            "at": aware(m.created_at).isoformat(),
                            **({"escalation": (m.data.get("custom") or {}).get("escalation")}
                               if m.data and m.data.get("custom") else {})} for m in messages],
        })

    @authed()
    @guarded
    async def claim(request, user, staff_session, handoff_id):
        handoff = await db(store.claim, handoff_id, user.id)
        await db(store.audit, user.id, "claimed", handoff.id)
        await hub.claimed(handoff, user)
        return response.json({"handoff": handoff_json(handoff, await staff_by_id())})

    @authed()
    @guarded
    async def reply(request, user, staff_session, handoff_id):
        handoff = await load(handoff_id, user, for_change=True)
        text = (await body(request)).get("text")
        text = clean_text(text) if isinstance(text, str) else None
        if not text or not text.strip():
            return error("type a reply first", 400)
        if len(text) > MAX_REPLY_CHARS:
            return error(f"a reply can have at most {MAX_REPLY_CHARS} characters", 400)
        if handoff.status != Status.claimed.value:
            return error(f"this conversation is {handoff.status}", 409)
        await hub.staff_reply(handoff, user, text.strip())
        await db(store.audit, user.id, "replied", handoff.id)
        return response.json({"ok": True})

    @authed()
    @guarded
    async def hand_back(request, user, staff_session, handoff_id):
        await load(handoff_id, user, for_change=True)
        handoff = await db(store.close, handoff_id, Status.returned)
        await db(store.audit, user.id, "returned", handoff.id)
        await hub.hand_back(handoff)
        return response.json({"handoff": handoff_json(handoff, await staff_by_id())})

    @authed()
    @guarded
    async def resolve(request, user, staff_session, handoff_id):
        before = await load(handoff_id, user, for_change=True)
        note = (await body(request)).get("note") or ""
        if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
            return error(f"the note must be text of at most {MAX_NOTE_CHARS} characters", 400)
        note = clean_text(note)
        handoff = await db(store.close, handoff_id, Status.resolved, note.strip() or None)
        await db(store.audit, user.id, "resolved", handoff.id, note=note.strip() or None)
        if before.status in OPEN:  # the visitor was still waiting or talking: tell them
            await hub.hand_back(handoff)
        else:
            await hub.queue_changed()
        return response.json({"handoff": handoff_json(handoff, await staff_by_id())})

    @authed(supervisor=True)
    @guarded
    async def assign(request, user, staff_session, handoff_id):
        staff_id = (await body(request)).get("staff_id")
        valid = isinstance(staff_id, int) and not isinstance(staff_id, bool) and 0 < staff_id <= MAX_ID
        target = await db(store.get_staff, staff_id) if valid else None
        if target is None or not target.active:
            return error("choose an active staff member", 400)
        handoff = await db(store.assign, handoff_id, target.id)
        await db(store.audit, user.id, "assigned", handoff.id, to=target.username)
        await hub.claimed(handoff, target)
        return response.json({"handoff": handoff_json(handoff, await staff_by_id())})

    @authed()
    async def callback_called(request, user, staff_session, callback_id):
        if not 0 < int(callback_id) <= MAX_ID:
            return error("no such callback request", 404)
        try:
            callback = await db(store.mark_called, int(callback_id))
        except LookupError:
            return error("no such callback request", 404)
        except HandoffConflict as conflict:
            return error(str(conflict), 409)
        await db(store.audit, user.id, "called_back", callback.handoff_id, callback_id=callback.id)
        await hub.queue_changed()
        return response.json({"callback": {"id": callback.id, "status": callback.status}})

    @authed(csrf=False, supervisor=True)
    async def staff_list(request, user, staff_session):
        return response.json({"staff": [user_json(u) for u in await db(store.list_staff)]})

    routes = [
        (page, "/console", ["GET"]),
        (login, "/console/api/login", ["POST"]),
        (logout, "/console/api/logout", ["POST"]),
        (me, "/console/api/me", ["GET"]),
        (queue, "/console/api/queue", ["GET"]),
        (staff_list, "/console/api/staff", ["GET"]),
        (view, "/console/api/handoffs/<handoff_id:int>", ["GET"]),
        (claim, "/console/api/handoffs/<handoff_id:int>/claim", ["POST"]),
        (reply, "/console/api/handoffs/<handoff_id:int>/reply", ["POST"]),
        (hand_back, "/console/api/handoffs/<handoff_id:int>/return", ["POST"]),
        (resolve, "/console/api/handoffs/<handoff_id:int>/resolve", ["POST"]),
        (assign, "/console/api/handoffs/<handoff_id:int>/assign", ["POST"]),
        (callback_called, "/console/api/callbacks/<callback_id:int>/called", ["POST"]),
    ]
    for handler, uri, methods in routes:
        app.add_route(handler, uri, methods=methods, name=f"helpline_console_{handler.__name__}")


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class _NotFound(Exception):
    pass


class _Forbidden(Exception):
    pass


# -- live updates for logged-in staff -------------------------------------------------

def register_console_socket(channel: "WebChatInput") -> None:
    sio, accounts = channel.sio, Accounts(channel.store)

    @sio.on("connect", namespace=CONSOLE_NAMESPACE)
    async def connect(sid: str, environ: Dict, auth: Optional[Dict] = None) -> bool:
        origin, host = environ.get("HTTP_ORIGIN"), environ.get("HTTP_HOST")
        if origin and host and origin.split("://", 1)[-1] != host:
            return False  # the console is same-origin only
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        token = cookie[COOKIE_NAME].value if COOKIE_NAME in cookie else None
        if await channel.hub.db(accounts.session, token) is None:
            return False
        await sio.enter_room(sid, STAFF_ROOM, namespace=CONSOLE_NAMESPACE)
        return True
