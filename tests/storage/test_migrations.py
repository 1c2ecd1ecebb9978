"""Schema migrations of the helpline database (bot/storage/migrate.py, bot/storage/migrations),
on SQLite and PostgreSQL."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, event, inspect, insert, text
from sqlalchemy.engine import make_url

from bot import PROJECT_ROOT
from bot.storage import migrate
from bot.handoff.store import Base, HandoffStore, Status

# what revision 0002 added; a database made before migrations has none of them
NEW_IN_0002 = {"ix_staff_messages_handoff", "ix_audit_handoff", "ix_callback_handoff", "ix_transcript_activity",
               "ix_staff_sessions_staff", "ix_staff_sessions_expires"}
# what revision 0003 added
NEW_IN_0003 = {("handoff_requests", "crisis_detail")}
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


def engine_for(url):
    return create_engine(url, future=True)


def old_metadata(tables=None) -> MetaData:
    """The tables as create_all made them before migrations: the models without 0002's indexes
    and 0003's column."""
    old = MetaData()
    for table in Base.metadata.sorted_tables:
        if tables is None or table.name in tables:
            copy = table.to_metadata(old)
            for index in [index for index in copy.indexes if index.name in NEW_IN_0002]:
                copy.indexes.discard(index)
            for column in [c for c in copy.columns if (table.name, c.name) in NEW_IN_0003]:
                copy._columns.remove(column)
    return old


def differences(url, metadata=Base.metadata):
    """What Alembic's autogenerate would change to make the database match ``metadata``."""
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def revisions(url):
    engine = engine_for(url)
    try:
        return migrate.stored_revisions(engine)
    finally:
        engine.dispose()


def table_names(url):
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def index_names(url):
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            return {index["name"] for name in inspector.get_table_names() for index in inspector.get_indexes(name)}
    finally:
        engine.dispose()


def fill_old_schema(url, metadata: MetaData) -> int:
    """Rows as the previous release wrote them: a staff user, a handoff, a transcript message, ...
    (the handoff's id)."""
    engine = engine_for(url)
    tables = metadata.tables
    with engine.begin() as connection:
        staff_id = connection.execute(insert(tables["staff_users"]).values(
            username="ana", display_name="Ana", password_hash="$argon2id$x", role="supervisor",
            active=True, failed_logins=0, created_at=T0)).inserted_primary_key[0]
        handoff_id = connection.execute(insert(tables["handoff_requests"]).values(
            conversation_id="conv-1", reason="crisis", tier="suicide", priority=1,
            trigger_phrases=["end it all", "no way out"], message_text="I want to end it all", status="waiting",
            created_at=T0, updated_at=T0)).inserted_primary_key[0]
        connection.execute(insert(tables["audit_log"]).values(
            staff_id=staff_id, action="viewed", handoff_id=handoff_id, details={"from": "queue"}, created_at=T0))
        connection.execute(insert(tables["callback_requests"]).values(
            conversation_id="conv-1", handoff_id=handoff_id, phone="+1 555 0100", best_time="evenings", consent=True,
            consent_at=T0, status="pending", created_at=T0))
        if "transcript_messages" in tables:
            connection.execute(insert(tables["transcript_messages"]).values(
                conversation_id="conv-1", role="visitor", text="I want to end it all",
                data={"quick_replies": ["Talk to someone"]}, created_at=T0))
        if "staff_sessions" in tables:
            connection.execute(insert(tables["staff_sessions"]).values(
                token_hash="a" * 64, staff_id=staff_id, csrf_token="b" * 64, created_at=T0,
                expires_at=T0 + timedelta(days=3650)))
    engine.dispose()
    return handoff_id


def assert_data_survived(store: HandoffStore, handoff_id: int, transcript=True) -> None:
    ana = store.staff_by_username("ana")
    assert (ana.display_name, ana.role, ana.active) == ("Ana", "supervisor", True)
    handoff = store.get_handoff(handoff_id)
    assert handoff.trigger_phrases == ["end it all", "no way out"]  # JSON
    assert (handoff.conversation_id, handoff.tier, handoff.status) == ("conv-1", "suicide", "waiting")
    assert [entry.details for entry in store.audit_entries(handoff_id)] == [{"from": "queue"}]
    assert [(c.phone, c.consent) for c in store.callbacks()] == [("+1 555 0100", True)]
    if transcript:
        [message] = store.transcript("conv-1")
        assert (message.role, message.text, message.data) == (
            "visitor", "I want to end it all", {"quick_replies": ["Talk to someone"]})
        assert store.get_session("a" * 64) is not None
    # and the store goes on working on it
    assert store.claim(handoff_id, ana.id).status == Status.claimed.value
    assert store.request_handoff("conv-2", "crisis", tier="emergency").id != handoff_id


def assert_at_head(url) -> None:
    assert revisions(url) == migrate.heads()
    assert differences(url) == []


# --------------------------------------------------------------------------- the revisions

def test_revisions_form_one_line_numbered_in_order():
    assert migrate.heads() == ("0003",)
    line = [script.revision for script in migrate.scripts().walk_revisions()]  # newest first
    assert line == [f"{n:04d}" for n in range(len(line), 0, -1)]
    assert migrate.next_revision_id() == f"{len(line) + 1:04d}"


def test_upgrade_from_empty_reaches_head_and_matches_the_models(database_url):
    store = HandoffStore(database_url)
    assert_at_head(database_url)
    assert NEW_IN_0002 <= index_names(database_url)
    assert store.request_handoff("conv", "crisis", tier="suicide").status == Status.waiting.value
    store.engine.dispose()


def test_revision_0001_is_the_schema_create_all_made_before_migrations(database_url):
    engine = engine_for(database_url)
    migrate.upgrade(engine, "0001")
    engine.dispose()
    assert revisions(database_url) == ("0001",)
    assert differences(database_url, old_metadata()) == []
    assert not NEW_IN_0002 & index_names(database_url)


def test_upgrade_from_the_previous_schema_keeps_the_data(database_url):
    engine = engine_for(database_url)
    migrate.upgrade(engine, "0001")
    engine.dispose()
    handoff_id = fill_old_schema(database_url, old_metadata())

    store = HandoffStore(database_url)
    assert_at_head(database_url)
    assert_data_survived(store, handoff_id)
    store.engine.dispose()


def test_a_database_made_before_migrations_is_stamped_and_upgraded(database_url, caplog):
    engine = engine_for(database_url)
    old_metadata().create_all(engine)  # what HandoffStore did before migrations
    engine.dispose()
    handoff_id = fill_old_schema(database_url, old_metadata())
    assert "alembic_version" not in table_names(database_url)

    with caplog.at_level("INFO"):
        store = HandoffStore(database_url)
    assert_at_head(database_url)
    assert_data_survived(store, handoff_id)
    assert "made before migrations: adopting it at revision 0001" in caplog.text
    # stamped, not created again: alembic ran 0001 -> 0002 only
    assert "Running stamp_revision  -> 0001" in caplog.text
    assert "Running upgrade  -> 0001" not in caplog.text
    assert "Running upgrade 0001 -> 0002" in caplog.text
    store.engine.dispose()


def test_a_database_from_a_build_with_fewer_tables_gets_the_missing_ones(database_url):
    # the first builds had no transcript and no staff sessions (create_all added them later)
    early = old_metadata({"staff_users", "handoff_requests", "staff_messages", "audit_log", "callback_requests"})
    engine = engine_for(database_url)
    early.create_all(engine)
    engine.dispose()
    handoff_id = fill_old_schema(database_url, early)

    store = HandoffStore(database_url)
    assert_at_head(database_url)
    assert_data_survived(store, handoff_id, transcript=False)
    store.add_message("conv-1", "visitor", "hello")
    assert [m.text for m in store.transcript("conv-1")] == ["hello"]
    store.engine.dispose()


def test_downgrade_to_base_and_up_again(database_url):
    HandoffStore(database_url).engine.dispose()
    engine = engine_for(database_url)
    assert migrate.downgrade(engine, "0001") == (("0003",), ("0001",))
    assert differences(database_url, old_metadata()) == []
    migrate.downgrade(engine, "base")
    assert table_names(database_url) <= {"alembic_version"}
    assert migrate.upgrade(engine) == ((), ("0003",))
    engine.dispose()
    assert_at_head(database_url)


# --------------------------------------------------------------------------- at start

def test_at_head_the_start_check_is_one_query(database_url):
    HandoffStore(database_url).engine.dispose()
    engine = engine_for(database_url)
    with engine.connect():
        pass  # the driver's own queries on a first connection are not the check
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    migrate.ensure_schema(engine)
    engine.dispose()
    assert statements == ["select version_num from alembic_version"]


@pytest.mark.parametrize("start", ["0001", "empty"])
def test_auto_migrate_false_refuses_a_database_behind(database_url, monkeypatch, start):
    if start == "0001":
        engine = engine_for(database_url)
        migrate.upgrade(engine, "0001")
        engine.dispose()
    monkeypatch.setenv("HELPLINE_AUTO_MIGRATE", "false")
    with pytest.raises(migrate.SchemaError) as refused:
        HandoffStore(database_url)
    message = str(refused.value)
    assert "make migrate" in message and "HELPLINE_AUTO_MIGRATE=false" in message and "needs 0003" in message
    assert ("at schema revision 0001" if start == "0001" else "has no schema revision") in message
    assert revisions(database_url) == (("0001",) if start == "0001" else None)  # left as it was

    # the operator's way: make migrate, then the servers start
    assert migrate.main(["--database-url", database_url, "upgrade"]) == 0
    store = HandoffStore(database_url)
    assert_at_head(database_url)
    store.engine.dispose()


def test_bot_run_stops_before_starting_the_servers_when_the_schema_is_behind(tmp_path, monkeypatch):
    from bot.ops.run import database_problem

    url = f"sqlite:///{tmp_path / 'helpline.db'}"
    migrate.main(["--database-url", url, "upgrade", "0001"])
    monkeypatch.setenv("HELPLINE_DATABASE_URL", url)
    monkeypatch.setenv("HELPLINE_AUTO_MIGRATE", "false")
    assert "run `make migrate`" in database_problem()
    monkeypatch.setenv("HELPLINE_AUTO_MIGRATE", "true")
    assert database_problem() == ""
    assert revisions(url) == migrate.heads()
    monkeypatch.setenv("HELPLINE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/helpline")
    assert database_problem().startswith("cannot use the helpline database (HELPLINE_DATABASE_URL)")


@pytest.mark.parametrize("value, expected", [
    (None, True), ("", True), ("true", True), ("1", True), ("yes", True), (" TRUE ", True), ("on", True),
    ("false", False), ("0", False), ("no", False), ("Off", False),
])
def test_auto_migrate_setting(value, expected):
    assert migrate.auto_migrate({} if value is None else {"HELPLINE_AUTO_MIGRATE": value}) is expected


def test_auto_migrate_setting_rejects_other_values():
    with pytest.raises(migrate.SchemaError, match="HELPLINE_AUTO_MIGRATE must be true or false"):
        migrate.auto_migrate({"HELPLINE_AUTO_MIGRATE": "sometimes"})


def test_a_database_upgraded_by_a_newer_release_is_refused(database_url):
    HandoffStore(database_url).engine.dispose()
    engine = engine_for(database_url)
    with engine.begin() as connection:
        connection.execute(text("update alembic_version set version_num = '0099'"))
    with pytest.raises(migrate.SchemaError, match="at schema revision 0099, which this release does not know"):
        HandoffStore(database_url)
    with pytest.raises(migrate.SchemaError, match="upgraded by a newer release"):
        migrate.upgrade(engine)
    engine.dispose()


# --------------------------------------------------------------------------- several servers at once

def hold_migration_lock(url):
    """Take the lock a migrating server holds; returns the function that releases it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("BEGIN IMMEDIATE")

        def release():
            connection.execute("ROLLBACK")
            connection.close()
        return release
    engine = engine_for(url)
    connection = engine.connect()
    connection.execute(text("select pg_advisory_lock(:key)"), {"key": migrate.PG_LOCK_KEY})

    def release():
        connection.execute(text("select pg_advisory_unlock(:key)"), {"key": migrate.PG_LOCK_KEY})
        connection.close()
        engine.dispose()
    return release


def start_servers(url, count):
    """``count`` threads, each starting a HandoffStore on ``url`` like a server: (threads, errors, stores)."""
    errors, stores = [], []

    def server():
        try:
            stores.append(HandoffStore(url))
        except Exception as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=server, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, errors, stores


def test_servers_wait_for_a_migration_in_progress(database_url):
    release = hold_migration_lock(database_url)
    try:
        threads, errors, stores = start_servers(database_url, 2)
        time.sleep(1.5)
        assert all(thread.is_alive() for thread in threads), "a server migrated while another held the lock"
        assert not errors
    finally:
        release()
    for thread in threads:
        thread.join(60)
    assert not errors and len(stores) == 2
    assert_at_head(database_url)
    for store in stores:
        store.engine.dispose()


SERVER = """
import sys, time
from bot.handoff.store import HandoffStore
url, start_at = sys.argv[1], float(sys.argv[2])
if time.time() > start_at:
    sys.exit("too late: the processes would not start at the same moment")
time.sleep(start_at - time.time())  # every process starts its store at the same moment
store = HandoffStore(url)
print(store.request_handoff("conv-" + sys.argv[3], "crisis", tier="suicide").id)
"""


def test_servers_starting_at_once_all_succeed(database_url):
    count = 3
    start_at = time.time() + 8  # after every process has imported the project
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    servers = [subprocess.Popen([sys.executable, "-c", SERVER, database_url, str(start_at), str(n)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(count)]
    try:
        results = [server.communicate(timeout=120) for server in servers]
    finally:
        for server in servers:
            if server.poll() is None:
                server.kill()
                server.wait()
    for server, (out, err) in zip(servers, results):
        assert server.returncode == 0, err
    assert_at_head(database_url)
    store = HandoffStore(database_url)
    assert sorted(r.conversation_id for r in store.queue()) == [f"conv-{n}" for n in range(count)]
    store.engine.dispose()


# --------------------------------------------------------------------------- the command line

def test_command_line(database_url, capsys):
    if database_url.startswith("sqlite"):
        sqlite3.connect(make_url(database_url).database).close()  # an empty database
    assert migrate.main(["--database-url", database_url, "current"]) == 0
    assert "none: no helpline tables yet" in capsys.readouterr().out
    assert migrate.main(["--database-url", database_url, "check"]) == 1
    assert "not up to date" in capsys.readouterr().err
    assert migrate.main(["--database-url", database_url, "upgrade", "0001"]) == 0
    assert "upgraded from empty to 0001" in capsys.readouterr().out
    assert migrate.main(["--database-url", database_url, "current"]) == 0
    assert "0001 (behind: this release needs 0003; run `make migrate`)" in capsys.readouterr().out
    assert migrate.main(["--database-url", database_url, "upgrade"]) == 0
    assert "upgraded from 0001 to 0003" in capsys.readouterr().out
    assert migrate.main(["--database-url", database_url, "upgrade"]) == 0
    assert "already at 0003" in capsys.readouterr().out
    assert migrate.main(["--database-url", database_url, "current"]) == 0
    assert "0003 (head: up to date)" in capsys.readouterr().out
    assert migrate.main(["--database-url", database_url, "check"]) == 0
    assert migrate.main(["history"]) == 0
    assert "0002 -> 0003 (head)" in capsys.readouterr().out


def test_command_line_without_a_database(tmp_path, capsys):
    missing = f"sqlite:///{tmp_path / 'none' / 'helpline.db'}"
    assert migrate.main(["--database-url", missing, "current"]) == 1
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    assert migrate.main(["--database-url", "not a url", "upgrade"]) == 2
    assert "not a database URL" in capsys.readouterr().err
    assert migrate.main(["--database-url", "postgresql://nobody:secret@127.0.0.1:1/helpline", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "Connection refused" in err or "could not connect" in err
    assert "secret" not in err


def test_new_revision_file(tmp_path, monkeypatch, capsys):
    import shutil

    copy = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS", copy)
    migrate.scripts.cache_clear()
    migrate.known_revisions.cache_clear()
    try:
        url = f"sqlite:///{tmp_path / 'helpline.db'}"
        assert migrate.main(["--database-url", url, "upgrade"]) == 0
        engine = engine_for(url)
        with engine.begin() as connection:  # not ours (Rasa's tracker store can share the database): left alone
            connection.execute(text("create table events (id integer primary key, sender_id varchar(255))"))
        engine.dispose()
        assert migrate.main(["--database-url", url, "check"]) == 0
        assert migrate.main(["--database-url", url, "revision", "-m", "Add a thing", "--autogenerate"]) == 0
        [new] = copy.glob("versions/0004_*.py")
        assert new.name == "0004_add_a_thing.py"
        source = new.read_text()
        assert "revision: str = '0004'" in source and "down_revision: Union[str, None] = '0003'" in source
        assert "def upgrade() -> None:\n    # SQLite" in source and "    pass\n" in source  # nothing differs
        assert "events" not in source
    finally:
        migrate.scripts.cache_clear()
        migrate.known_revisions.cache_clear()
