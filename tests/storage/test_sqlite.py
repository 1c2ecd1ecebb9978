"""SQLite for the embedded default: WAL, pooled connections, conversations kept (bot/storage/sqlite.py)."""
import sqlite3

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.pool import QueuePool

from bot import PROJECT_ROOT
from bot.handoff.store import HandoffStore
from bot.storage.tracker_store import HelplineTrackerStore, persistence_problem
from tests.conftest import run_async

NORMAL, FULL = 1, 2  # PRAGMA synchronous values


run = run_async


def synchronous(engine):
    with engine.connect() as connection:
        return connection.exec_driver_sql("pragma synchronous").scalar()


def journal_mode(path):
    with sqlite3.connect(path) as connection:
        return connection.execute("pragma journal_mode").fetchone()[0]


def test_tracker_store_on_sqlite_is_pooled_in_wal_mode_and_keeps_the_conversation(tmp_path):
    path = tmp_path / "tracker.db"
    store = HelplineTrackerStore(domain=Domain.empty(), host=f"sqlite:///{path}")
    assert isinstance(store.engine.pool, QueuePool)
    assert synchronous(store.engine) == NORMAL
    tracker = DialogueStateTracker.from_events("visitor-1", [
        ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet", "confidence": 0.9}),
        BotUttered("Hello"), ActionExecuted("action_listen")])
    run(store.save(tracker))
    assert journal_mode(path) == "wal"
    again = run(HelplineTrackerStore(domain=Domain.empty(), host=f"sqlite:///{path}").retrieve("visitor-1"))
    assert [e.text for e in again.events if isinstance(e, (UserUttered, BotUttered))] == ["hi", "Hello"]


def test_handoff_store_on_sqlite_is_pooled_in_wal_mode(tmp_path):
    path = tmp_path / "helpline.db"
    store = HandoffStore(f"sqlite:///{path}")
    store.request_handoff("visitor-1", reason="asked for a person")
    assert isinstance(store.engine.pool, QueuePool)
    assert journal_mode(path) == "wal"
    assert synchronous(store.engine) == FULL, "a handoff or callback request must survive a power cut"
    assert HandoffStore(f"sqlite:///{path}").open_handoff("visitor-1") is not None


def test_endpoints_yml_gives_rasa_the_sql_tracker_store(tmp_path, monkeypatch):
    """Rasa keeps conversations in memory, with one warning, when the configured class cannot
    be imported or created: the configuration must resolve to the SQL store."""
    from rasa.core.agent import Agent
    from rasa.core.tracker_store import InMemoryTrackerStore, TrackerStore
    from rasa.utils.endpoints import read_endpoint_config

    monkeypatch.setenv("HELPLINE_TRACKER_URL", f"sqlite:///{tmp_path / 'tracker.db'}")
    monkeypatch.setenv("HELPLINE_ACTION_ENDPOINT", "http://127.0.0.1:5055/webhook")  # endpoints.yml needs it
    monkeypatch.setenv("HELPLINE_REDIS_URL", "")
    config = read_endpoint_config(str(PROJECT_ROOT / "endpoints.yml"), "tracker_store")
    store = TrackerStore.create(config, Domain.empty())
    assert isinstance(getattr(store, "_tracker_store", store), HelplineTrackerStore)
    agent = Agent(domain=Domain.empty(), tracker_store=store)
    assert persistence_problem(agent) is None
    fallback = Agent(domain=Domain.empty(), tracker_store=InMemoryTrackerStore(Domain.empty()))
    assert "InMemoryTrackerStore" in persistence_problem(fallback)


def stored_rows(engine):
    with engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(
            "select sender_id, type_name, intent_name, action_name, data from events order by id")]


def test_saving_without_counting_stores_what_rasas_own_store_stores(tmp_path):
    """The store knows how many of a tracker's events it has (bot/storage/tracker_store.py) instead of
    counting them with a query; over several messages and a new session the rows must be
    exactly those Rasa's SQLTrackerStore writes."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import SessionStarted
    from sqlalchemy import event

    ours = HelplineTrackerStore(domain=Domain.empty(), host=f"sqlite:///{tmp_path / 'ours.db'}")
    stock = SQLTrackerStore(domain=Domain.empty(), host=f"sqlite:///{tmp_path / 'stock.db'}")
    counted = []
    event.listen(ours.engine, "before_cursor_execute",
                 lambda *args: counted.append(args[2]) if "count(" in args[2].lower() else None)
    turns = [[ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")],
             [UserUttered("hi", {"name": "greet", "confidence": 0.9}), BotUttered("Hello"),
              ActionExecuted("action_listen")],
             [UserUttered("thanks", {"name": "thank", "confidence": 0.8}), BotUttered("You're welcome")],
             [ActionExecuted("action_listen"), ActionExecuted("action_session_start"), SessionStarted(),
              ActionExecuted("action_listen")],
             [UserUttered("again", {"name": "greet", "confidence": 0.7}), BotUttered("Hello again")]]
    for store in (ours, stock):
        for turn in turns:
            tracker = run(store.retrieve("visitor-1")) or DialogueStateTracker("visitor-1", [])
            for new_event in turn:
                tracker.update(new_event)
            run(store.save(tracker))
    assert stored_rows(ours.engine) == stored_rows(stock.engine)
    assert len(stored_rows(ours.engine)) == sum(len(turn) for turn in turns)
    # read back as Rasa reads it: the latest session only, in order, timestamps included
    mine, theirs = run(ours.retrieve("visitor-1")), run(stock.retrieve("visitor-1"))
    assert [e.as_dict() for e in mine.events] == [e.as_dict() for e in theirs.events]
    assert [e.type_name for e in mine.events] == ["session_started", "action", "user", "bot"]
    assert run(ours.retrieve("nobody")) is None
    # only the very first save (a tracker the store did not load) counted
    assert len(counted) == 1, counted
    # a tracker saved twice: nothing written twice (Rasa's count, which starts at the latest
    # session start, writes the events before it again)
    tracker = run(ours.retrieve("visitor-1"))
    tracker.update(UserUttered("once", {"name": "greet", "confidence": 0.9}))
    run(ours.save(tracker))
    run(ours.save(tracker))
    assert len(stored_rows(ours.engine)) == sum(len(turn) for turn in turns) + 1


def test_an_in_memory_database_keeps_the_conversation():
    store = HelplineTrackerStore(domain=Domain.empty(), host="sqlite://")
    tracker = DialogueStateTracker.from_events("visitor-1", [
        ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet", "confidence": 0.9})])
    run(store.save(tracker))
    again = run(store.retrieve("visitor-1"))
    assert [e.text for e in again.events if isinstance(e, UserUttered)] == ["hi"]
