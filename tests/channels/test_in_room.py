"""A connection's room, looked up in python-socketio's table (bot/channels/webchat.py)."""
from socketio import AsyncServer

from bot.channels.webchat import in_room
from tests.conftest import run_async


def test_in_room_agrees_with_python_socketios_rooms():
    async def check():
        sio = AsyncServer(async_mode="asgi")
        visitors = [await sio.manager.connect(f"eio-{n}", "/") for n in range(3)]
        await sio.enter_room(visitors[0], "conversation-a")
        await sio.enter_room(visitors[1], "conversation-a")
        await sio.enter_room(visitors[2], "conversation-b")
        for sid in visitors:
            for room in ("conversation-a", "conversation-b", "conversation-c"):
                assert in_room(sio, sid, room) == (room in sio.rooms(sid)), (sid, room)
        assert in_room(sio, visitors[0], "conversation-a")
        await sio.close_room("conversation-a")  # a deleted chat: its connections leave
        assert not in_room(sio, visitors[0], "conversation-a")
        assert not in_room(sio, visitors[1], "conversation-a")
        assert in_room(sio, visitors[2], "conversation-b")

    run_async(check())
