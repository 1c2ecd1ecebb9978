"""Live handoff in the store: claim once, close by state, transcript, sessions (SQLite and PostgreSQL)."""
import threading
from datetime import timedelta

import pytest

from bot.handoff.store import HandoffConflict, HandoffStore, Status, utcnow


@pytest.fixture
def store(database_url):
    store = HandoffStore(database_url)
    yield store
    store.engine.dispose()


def staff(store, name):
    return store.add_staff(name.lower(), name, "not-a-real-hash")


def test_outside_hours_a_request_is_kept_but_not_live(store):
    store.request_handoff("conv", "visitor_request", live=False)
    assert store.open_handoff("conv") is None and store.live_queue() == []
    # a callback still links to it
    callback = store.add_callback("conv", "412-555-0134", "mornings", consent=True)
    assert callback.handoff_id is not None


def test_a_callback_is_marked_called_once(store):
    callback = store.add_callback("conv", "412-555-0134", "mornings", consent=True)
    assert store.mark_called(callback.id).status == "called"
    assert [c.status for c in store.callbacks()] == ["called"]
    with pytest.raises(HandoffConflict, match="already called"):
        store.mark_called(callback.id)
    with pytest.raises(LookupError):
        store.mark_called(callback.id + 1)


def test_only_one_of_two_staff_can_claim(store):
    request = store.request_handoff("conv", "visitor_request")
    dana, sam = staff(store, "Dana"), staff(store, "Sam")
    results = []

    def claim(member):
        try:
            results.append(store.claim(request.id, member.id).claimed_by)
        except HandoffConflict as conflict:
            results.append(str(conflict))

    threads = [threading.Thread(target=claim, args=(m,)) for m in (dana, sam)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if isinstance(r, int)]
    losers = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].startswith("already claimed by")
    assert store.get_handoff(request.id).status == Status.claimed.value


def test_queue_position_follows_tier_then_waiting_time(store):
    first = store.request_handoff("a", "visitor_request")
    second = store.request_handoff("b", "visitor_request")
    assert [store.queue_position(r) for r in (first, second)] == [1, 2]
    urgent = store.request_handoff("c", "crisis", tier="suicide")
    assert store.queue_position(urgent) == 1
    assert store.queue_position(store.get_handoff(second.id)) == 3
    claimed = store.claim(urgent.id, staff(store, "Dana").id)
    assert store.queue_position(claimed) is None
    assert store.queue_position(store.get_handoff(first.id)) == 1


def test_hand_back_resolve_and_cancel_follow_the_states(store):
    request = store.request_handoff("conv", "visitor_request")
    store.claim(request.id, staff(store, "Dana").id)
    returned = store.close(request.id, Status.returned)
    assert returned.status == "returned" and store.open_handoff("conv") is None
    with pytest.raises(HandoffConflict):
        store.close(request.id, Status.returned)  # not twice
    resolved = store.close(request.id, Status.resolved, "gave SAMHSA number")
    assert (resolved.status, resolved.resolution_note) == ("resolved", "gave SAMHSA number")
    assert resolved.resolved_at is not None
    other = store.request_handoff("conv2", "visitor_request")
    assert store.close(other.id, Status.cancelled).status == "cancelled"
    with pytest.raises(HandoffConflict):
        store.claim(other.id, 1)


def test_the_transcript_keeps_every_sender_in_order(store):
    dana = staff(store, "Dana")
    store.add_message("conv", "visitor", "hi")
    store.add_message("conv", "bot", "Hello", data={"quick_replies": [{"title": "A", "payload": "/a"}]})
    store.add_message("conv", "staff", "I'm Dana", staff=dana)
    store.add_message("other", "visitor", "not this one")
    messages = store.transcript("conv")
    assert [(m.role, m.text, m.staff_name) for m in messages] == [
        ("visitor", "hi", None), ("bot", "Hello", None), ("staff", "I'm Dana", "Dana")]
    assert messages[1].data["quick_replies"][0]["payload"] == "/a"
    with pytest.raises(Exception):
        store.add_message("conv", "hacker", "x")  # roles are checked by the database


def test_sessions_expire_and_end_when_the_account_is_disabled(store):
    dana = staff(store, "Dana")
    store.create_session(dana.id, "a" * 64, "csrf", utcnow() + timedelta(hours=1))
    store.create_session(dana.id, "b" * 64, "csrf", utcnow() - timedelta(seconds=1))
    assert store.get_session("a" * 64)[1].username == "dana"
    assert store.get_session("b" * 64) is None
    store.update_staff(dana.id, active=False)
    assert store.get_session("a" * 64) is None
