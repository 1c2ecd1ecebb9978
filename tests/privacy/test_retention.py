"""The retention job (bot/ops/retention.py) on SQLite and PostgreSQL.

Conversations are written as the running assistant writes them (see conftest.py) and dated
back; the job must erase exactly those whose last activity is older than the limit, in the
tracker store and in the helpline tables, and nothing else.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot import PROJECT_ROOT
from bot.handoff.store import CallbackRequest, HandoffRequest, HandoffStore, StaffMessage, StaffSession, Status
from bot.ops.retention import main, run
from tests.privacy.conftest import (NOW, add_transcript, backdate, conversation_rows, days_ago, row_counts,
                                    save_tracker, tracker_rows)

OLD_NOTE = "Visitor said her name is Ana, tapering from 2 mg"
PHONE = "412-555-0134"


def old_handoff(store, conversation_id, staff, status, days, now=NOW):
    """A handoff of ``days`` ago in ``status``, with a staff message, audit entries and a callback."""
    request = store.request_handoff(conversation_id, "visitor_request", message_text="talk to a person")
    if status != Status.waiting.value:
        store.claim(request.id, staff.id)
        store.audit(staff.id, "claimed", request.id)
        with store.session() as session:
            session.add(StaffMessage(handoff_id=request.id, staff_id=staff.id, text="Hi, this is Dana"))
    if status == Status.resolved.value:
        store.close(request.id, Status.resolved, OLD_NOTE)
        store.audit(staff.id, "resolved", request.id, note=OLD_NOTE)
    backdate(store, HandoffRequest, request.id, days_ago(days, now), "created_at", "updated_at")
    return request


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def recorded(urls, store, now):
    """Conversations of every kind, in the tracker store and the helpline tables, dated back from ``now``."""
    tracker_url, _ = urls

    def days_ago(days):
        return now - timedelta(days=days)

    dana = store.add_staff("dana", "Dana", "not-a-real-hash")
    # old everywhere: erased
    save_tracker(tracker_url, "old-plain", ["how long does withdrawal last"], days_ago(40))
    add_transcript(store, "old-plain", ["how long does withdrawal last"], days_ago(40))
    save_tracker(tracker_url, "old-full", ["can i talk to someone", PHONE], days_ago(45))
    add_transcript(store, "old-full", ["can i talk to someone", PHONE], days_ago(45))
    resolved = old_handoff(store, "old-full", dana, Status.resolved.value, 45, now)
    callback = store.add_callback("old-full", PHONE, "mornings", consent=True)
    backdate(store, CallbackRequest, callback.id, days_ago(45))
    add_transcript(store, "old-transcript-only", ["is klonopin addictive"], days_ago(31))
    # old, but a person is still to answer it: kept
    save_tracker(tracker_url, "old-waiting", ["i need a person"], days_ago(50))
    old_handoff(store, "old-waiting", dana, Status.waiting.value, 50, now)
    save_tracker(tracker_url, "old-claimed", ["please help me"], days_ago(50))
    old_handoff(store, "old-claimed", dana, Status.claimed.value, 50, now)
    # recent somewhere: kept
    save_tracker(tracker_url, "recent", ["what is detox"], days_ago(2))
    add_transcript(store, "recent", ["what is detox"], days_ago(2))
    save_tracker(tracker_url, "old-tracker-new-transcript", ["old question"], days_ago(40))
    add_transcript(store, "old-tracker-new-transcript", ["new question"], days_ago(1))
    save_tracker(tracker_url, "new-tracker-old-transcript", ["new question"], days_ago(3))
    add_transcript(store, "new-tracker-old-transcript", ["old question"], days_ago(60))
    new_callback = store.add_callback("recent-callback", "555-0100", "evenings", consent=True)
    backdate(store, CallbackRequest, new_callback.id, days_ago(5))
    # staff console sessions: one expired, one valid
    store.create_session(dana.id, "a" * 64, "csrf-a", now - timedelta(hours=1))
    store.create_session(dana.id, "b" * 64, "csrf-b", now + timedelta(hours=1))
    return {"resolved": resolved, "dana": dana}


ERASED = ["old-plain", "old-full", "old-transcript-only"]
KEPT = ["old-waiting", "old-claimed", "recent", "old-tracker-new-transcript", "new-tracker-old-transcript"]


def test_old_conversations_are_erased_everywhere_and_nothing_else(urls, store, recorded, capsys):
    tracker_url, database_url = urls
    kept_before = {c: (len(tracker_rows(tracker_url, c)), conversation_rows(store, c)) for c in KEPT}
    assert all(events and sum(rows.values()) for events, rows in kept_before.values())

    report = run(tracker_url, database_url, days=30, now=NOW)

    assert report.conversations == 3 and report.kept_open == 2
    assert report.counts["events"] == 5 + 9  # 1 and 2 visitor turns of 4 events, after an action_listen
    assert report.counts["transcript_messages"] == 4
    assert report.counts["handoff_requests"] == 1 and report.counts["staff_messages"] == 1
    assert report.counts["callback_requests"] == 1
    assert report.counts["audit_log"] == 2  # claimed + resolved, detached
    assert report.counts["staff_sessions"] == 1
    for conversation in ERASED:
        assert tracker_rows(tracker_url, conversation) == []
        assert conversation_rows(store, conversation) == {"transcript": 0, "handoffs": 0, "callbacks": 0, "audit": 0}
    for conversation in KEPT:
        assert (len(tracker_rows(tracker_url, conversation)), conversation_rows(store, conversation)) \
            == kept_before[conversation], conversation
    assert [c.conversation_id for c in store.callbacks()] == ["recent-callback"]
    assert not any(PHONE in (c.phone or "") for c in store.callbacks())

    # the audit trail stays, without the link or the resolution note
    entries = store.audit_entries()
    detached = [e for e in entries if e.action in ("claimed", "resolved") and e.handoff_id is None]
    assert len(detached) == 2 and all(e.details is None and e.staff_id == recorded["dana"].id for e in detached)
    assert not any(OLD_NOTE in str(e.details) for e in entries)
    [erased] = [e for e in entries if e.action == "erased"]
    assert erased.details == {"by": "retention", "handoffs": 1}
    # the open handoffs' own audit entries are still linked
    assert any(e.action == "claimed" and e.handoff_id is not None for e in entries)

    # sessions: the expired one went, the valid one and the account stayed
    with store.engine.connect() as connection:
        assert list(connection.execute(select(StaffSession.token_hash)).scalars()) == ["b" * 64]
    assert store.get_staff(recorded["dana"].id) is not None
    printed = capsys.readouterr().out
    assert "Found 3 conversations to erase." in printed
    assert "kept 2 old ones with an open handoff" in printed
    assert "transcript_messages" in printed and "callback_requests" in printed

    # a second run finds nothing more
    again = run(tracker_url, database_url, days=30, now=NOW)
    assert again.conversations == 0 and sum(again.counts.values()) == 0


def test_dry_run_counts_but_deletes_nothing(urls, store, recorded, capsys):
    tracker_url, database_url = urls
    before = row_counts(tracker_url), row_counts(database_url)
    audit_before = [(e.id, e.handoff_id, e.details) for e in store.audit_entries()]

    dry = run(tracker_url, database_url, days=30, dry_run=True, now=NOW)

    assert (row_counts(tracker_url), row_counts(database_url)) == before
    assert [(e.id, e.handoff_id, e.details) for e in store.audit_entries()] == audit_before
    assert "Dry run, nothing is deleted." in capsys.readouterr().out
    real = run(tracker_url, database_url, days=30, now=NOW)
    assert dry.conversations == real.conversations == 3
    assert dry.counts == real.counts  # what it said it would delete is what goes


def test_a_longer_limit_keeps_more(urls, store, recorded):
    tracker_url, database_url = urls
    report = run(tracker_url, database_url, days=42, now=NOW)
    assert report.conversations == 1  # only old-full (45 days); old-plain is 40 days, the transcript 31
    assert tracker_rows(tracker_url, "old-plain") and not tracker_rows(tracker_url, "old-full")


def test_an_open_handoff_is_kept_until_staff_close_it(urls, store, recorded):
    tracker_url, database_url = urls
    run(tracker_url, database_url, days=30, now=NOW)
    waiting = store.open_handoff("old-waiting")
    assert waiting is not None and tracker_rows(tracker_url, "old-waiting")
    store.close(waiting.id, Status.cancelled)
    backdate(store, HandoffRequest, waiting.id, days_ago(50), "updated_at")
    report = run(tracker_url, database_url, days=30, now=NOW)
    assert report.conversations == 1 and report.kept_open == 1  # old-claimed is still open
    assert tracker_rows(tracker_url, "old-waiting") == [] and store.get_handoff(waiting.id) is None


# --------------------------------------------------------------------------- fresh installs

def test_nothing_recorded_yet_creates_no_database(tmp_path, capsys):
    tracker, helpline = tmp_path / "var" / "tracker.db", tmp_path / "var" / "helpline.db"
    assert main(["--tracker-url", f"sqlite:///{tracker}", "--database-url", f"sqlite:///{helpline}"]) == 0
    printed = capsys.readouterr().out
    assert "No conversations in the tracker store" in printed and "No helpline tables" in printed
    assert "Deleted 0 conversations" in printed
    assert not tracker.exists() and not helpline.exists()


def test_a_tracker_store_without_its_table_yet_still_erases_the_helpline_tables(tmp_path):
    empty = tmp_path / "tracker.db"
    sqlite3.connect(empty).close()  # Rasa has not created its table yet
    store = HandoffStore(f"sqlite:///{tmp_path / 'helpline.db'}")
    add_transcript(store, "old", ["hello"], days_ago(90, now=datetime.now(timezone.utc)))
    report = run(f"sqlite:///{empty}", f"sqlite:///{tmp_path / 'helpline.db'}", days=30)
    assert report.conversations == 1 and report.counts["transcript_messages"] == 1
    assert store.transcript("old") == []
    store.engine.dispose()


# --------------------------------------------------------------------------- the command line

@pytest.mark.parametrize("now", [datetime.now(timezone.utc)])  # the command line erases by today's date
def test_days_come_from_the_environment(urls, store, recorded, monkeypatch, capsys):
    tracker_url, database_url = urls
    monkeypatch.setenv("HELPLINE_RETENTION_DAYS", "42")
    assert main(["--tracker-url", tracker_url, "--database-url", database_url, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "(42 days)" in printed and "Would delete 1 conversation;" in printed  # the 45-day-old one
    # --days wins over the environment
    assert main(["--tracker-url", tracker_url, "--database-url", database_url, "--days", "30"]) == 0
    assert "Deleted 3 conversations;" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--tracker-url", "not a url"], "not a database URL"),
    (["--tracker-url", "nosuchdb://host/db"], "cannot use"),
    (["--tracker-url", "postgresql://keeper:s3cret@127.0.0.1:1/helpline"], "cannot read the tracker store"),
])
def test_a_bad_or_unreachable_database_is_one_line_and_exit_2(argv, message, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot.ops.retention", *argv, "--database-url", f"sqlite:///{tmp_path / 'h.db'}"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT), "SQLALCHEMY_SILENCE_UBER_WARNING": "1"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
    assert result.stdout == ""


def test_a_file_that_is_not_a_database_is_one_line_and_exit_2(tmp_path):
    bogus = tmp_path / "tracker.db"
    bogus.write_text("this is not sqlite\n" * 100)
    before = bogus.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "bot.ops.retention", "--tracker-url", f"sqlite:///{bogus}",
         "--database-url", f"sqlite:///{tmp_path / 'h.db'}"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT), "SQLALCHEMY_SILENCE_UBER_WARNING": "1"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "not an SQLite database" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert bogus.read_bytes() == before


def test_a_bad_retention_setting_is_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HELPLINE_RETENTION_DAYS", "a month")
    assert main(["--tracker-url", f"sqlite:///{tmp_path / 't.db'}", "--database-url",
                 f"sqlite:///{tmp_path / 'h.db'}"]) == 2
    assert "HELPLINE_RETENTION_DAYS must be a whole number of days" in capsys.readouterr().err


def test_make_retention_passes_days_and_dry_run():
    result = subprocess.run(["make", "-s", "-n", "retention", "DAYS=7", "DRY_RUN=1"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "-m bot.ops.retention --days 7 --dry-run" in result.stdout
    plain = subprocess.run(["make", "-s", "-n", "retention"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                           timeout=60)
    assert "-m bot.ops.retention" in plain.stdout and "--days" not in plain.stdout and "--dry-run" not in plain.stdout


# --------------------------------------------------------------------------- POSTGRESQL_SCHEMA

@pytest.fixture
def own_postgres_database():
    """The URL of a PostgreSQL database of the test's own: its ``public`` schema is nobody else's."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tests.conftest import postgres_or_skip

    server = make_url(postgres_or_skip())
    name = f"t_schema_{os.getpid()}"
    admin = create_engine(server, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'drop database if exists "{name}"'))
        connection.execute(text(f'create database "{name}"'))
    url = server.set(database=name)
    with create_engine(url, future=True).begin() as connection:
        connection.execute(text('create schema "helpline"'))  # Rasa's store needs it made beforehand
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


def test_with_postgresql_schema_the_job_erases_what_the_servers_wrote(own_postgres_database, monkeypatch):
    """POSTGRESQL_SCHEMA is Rasa's setting: its tracker store keeps the events in that schema. The
    helpline tables must be there too, and the job must look for both there."""
    url = own_postgres_database
    monkeypatch.setenv("POSTGRESQL_SCHEMA", "helpline")
    save_tracker(url, "old", ["how long does withdrawal last"], days_ago(40))
    store = HandoffStore(url)  # as the servers open it: the same URL, the schema from the environment
    try:
        add_transcript(store, "old", ["how long does withdrawal last"], days_ago(40))
        callback = store.add_callback("old", PHONE, "mornings", consent=True)
        backdate(store, CallbackRequest, callback.id, days_ago(40))
        report = run(url, url, days=30, now=NOW)
        assert report.conversations == 1
        assert report.counts["events"] == 5
        assert report.counts["transcript_messages"] == 1 and report.counts["callback_requests"] == 1
        assert store.transcript("old") == [] and store.callbacks() == []
    finally:
        store.engine.dispose()
    from sqlalchemy import create_engine, inspect

    plain = create_engine(url, future=True)  # no search path: the default schema, public
    try:
        with plain.connect() as connection:
            assert inspect(connection).get_table_names(schema="public") == []
            assert "transcript_messages" in inspect(connection).get_table_names(schema="helpline")
    finally:
        plain.dispose()
