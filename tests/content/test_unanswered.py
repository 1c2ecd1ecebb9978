"""The unanswered-questions report (bot/content/unanswered.py) on a tracker store written by Rasa itself.

The conversations are saved with ``rasa.core.tracker_store.SQLTrackerStore``, so
the ``events`` table and its JSON are exactly what a running assistant writes.
No Rasa server and no model are needed.
"""
from __future__ import annotations

import csv
import hashlib
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.content.unanswered import (CSV_COLUMNS, Unanswered, build_report, group_messages, main, mask_pii,
                            write_reports)
from tests.conftest import postgres_schema, run_async

NOW = datetime(2025, 3, 31, 12, 0, tzinfo=timezone.utc)

REHAB = "how much does rehab cost without insurance"
PII_MESSAGE = ("My name is Sarah Connor, email sarah.connor@example.com or call (555) 123-4567 "
               "about a detox bed")
MEMBER_ID = "my member id is 88812345 can you look it up"
SECRETS = ["Sarah", "Connor", "sarah.connor@example.com", "example.com", "(555) 123-4567", "123-4567",
           "88812345", "555-987-6543"]
NEVER_REPORTED = ["end my life", "request_human", "how long does withdrawal last", "hello", "parking",
                  "555-987-6543"]


# --------------------------------------------------------------------------- personal data

@pytest.mark.parametrize("text, expected", [
    ("call me at (555) 123-4567 please", "call me at [phone] please"),
    ("my number is 555-123-4567", "my number is [phone]"),
    ("555.123.4567 after 5", "[phone] after 5"),
    ("reach me on 555 123 4567", "reach me on [phone]"),
    ("text 5551234567", "text [phone]"),
    ("+1 555 123 4567 is my cell", "[phone] is my cell"),
    ("+15551234567", "[phone]"),
    ("+1 (555) 123-4567", "[phone]"),
    ("1-800-662-4357 is busy", "[phone] is busy"),
    ("my cell is 555-1234", "my cell is [phone]"),
])
def test_phone_numbers_are_masked(text, expected):
    assert mask_pii(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("email me at jane.doe+rehab@mail.example.org", "email me at [email]"),
    ("JOHN_SMITH99@Gmail.com is mine", "[email] is mine"),
])
def test_email_addresses_are_masked(text, expected):
    assert mask_pii(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("is https://example.com/rehab?id=7 legit?", "is [url] legit?"),
    ("see www.somerehab.org.", "see [url]."),
    ("what about mybenzoclinic.com/prices", "what about [url]"),
])
def test_links_are_masked(text, expected):
    assert mask_pii(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("my member id is 88812345", "my member id is [number]"),
    ("policy W123456789 with aetna", "policy W[number] with aetna"),
    ("card 4111 1111 1111 1111", "card [number] [number] [number] [number]"),
])
def test_long_digit_runs_are_masked(text, expected):
    assert mask_pii(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("My name is Sarah Connor and I need help", "My name is [name] and I need help"),
    ("my name is john smith", "my name is [name]"),
    ("my name's Bob. what is detox", "my name's [name]. what is detox"),
    ("Hi, I'm Maria, is klonopin safe", "Hi, I'm [name], is klonopin safe"),
    ("This is Dr. Patel calling", "This is [name] calling"),
])
def test_names_are_masked(text, expected):
    assert mask_pii(text) == expected


@pytest.mark.parametrize("text", [
    "I'm worried about my son taking 2 mg",
    "my name is not important, how long is detox",
    "call 988 or 911 if you are in danger",
    "can i take 0.5 mg of klonopin",
])
def test_ordinary_words_and_short_numbers_are_kept(text):
    assert mask_pii(text) == text


# --------------------------------------------------------------------------- grouping

def test_groups_are_similar_messages_with_the_central_one_as_representative():
    texts = [REHAB, REHAB, "how much does rehab cost with no insurance", "How much is rehab without insurance?",
             "can you help me find a job", "help me find a job please", "what's the weather today"]
    messages = [Unanswered(f"s{i % 3}", float(1000 + i), text, "nlu_fallback") for i, text in enumerate(texts)]
    groups = group_messages(messages)
    assert [(g.messages, g.conversations) for g in groups] == [(4, 3), (2, 2), (1, 1)]
    assert groups[0].representative == REHAB
    assert sorted(groups[0].examples) == ["How much is rehab without insurance?",
                                          "how much does rehab cost with no insurance"]
    assert {groups[1].representative, *groups[1].examples} == {"can you help me find a job",
                                                               "help me find a job please"}
    assert (groups[0].first_seen, groups[0].last_seen) == (1000.0, 1003.0)


def test_at_most_five_examples_and_a_high_threshold_splits_groups():
    texts = [f"is rehab covered by insurance plan {letter}" for letter in "abcdefgh"]
    messages = [Unanswered("s", float(i), text, "out_of_scope") for i, text in enumerate(texts)]
    [group] = group_messages(messages)
    assert group.messages == 8 and len(group.examples) == 5
    assert len(group_messages(messages, threshold=0.99)) == 8
    assert group_messages([]) == []


# --------------------------------------------------------------------------- a tracker store

def _turn(text: str, intent: str, next_action: str, when: float, **parse_extra) -> List[Event]:
    parse = {"intent": {"name": intent, "confidence": 0.4}, "entities": [], "text": text, **parse_extra}
    return [
        UserUttered(text, intent=parse["intent"], parse_data=parse, timestamp=when),
        ActionExecuted(next_action, timestamp=when + 1),
        BotUttered("a reply", timestamp=when + 2),
        ActionExecuted("action_listen", timestamp=when + 3),
    ]


def conversations(now: datetime) -> Dict[str, List[Event]]:
    def at(days_ago: float, minute: int) -> float:
        return (now - timedelta(days=days_ago)).timestamp() + 60 * minute

    return {
        "visitor-a": [
            *_turn(REHAB, "nlu_fallback", "action_suggest_topics", at(1, 0)),
            *_turn("How much does rehab cost with no insurance?", "nlu_fallback", "action_suggest_topics", at(1, 1)),
            *_turn("how long does withdrawal last", "faq", "utter_faq", at(1, 2)),
            *_turn("/request_human", "request_human", "action_request_handoff", at(1, 3)),
        ],
        "visitor-b": [
            *_turn(REHAB, "nlu_fallback", "action_suggest_topics", at(2, 0)),
            *_turn("can you help me find a job", "out_of_scope", "utter_out_of_scope", at(2, 1)),
            *_turn("i want to end my life tonight", "crisis_suicide", "action_request_handoff", at(2, 2),
                   crisis={"tier": "suicide", "triggers": ["end my life"], "source": "rules"}),
        ],
        "visitor-c": [
            *_turn("How much is rehab without insurance", "nlu_fallback", "action_suggest_topics", at(3, 0)),
            *_turn(PII_MESSAGE, "nlu_fallback", "action_suggest_topics", at(3, 1)),
            *_turn("help me find a job please", "out_of_scope", "utter_out_of_scope", at(3, 2)),
            *_turn("how much melatonin can a kid take", "out_of_scope", "utter_out_of_scope", at(3, 3),
                   faq_gate={"other_medicine": "melatonin", "was": "faq"}),
        ],
        "visitor-d": [
            *_turn("hello", "greet", "utter_greet", at(5, 0)),
            *_turn("blorp zingle wobble", "greet", "action_default_fallback", at(5, 1)),
            *_turn("yes", "affirm", "callback_form", at(5, 2)),
            *_turn("555-987-6543", "nlu_fallback", "callback_form", at(5, 3)),  # the form's answer
            *_turn(MEMBER_ID, "nlu_fallback", "action_suggest_topics", at(5, 4)),
            # the crisis screen checked in: a crisis, not an unanswered question
            *_turn("i feel like giving up", "crisis_check", "utter_crisis_check_in", at(5, 5),
                   crisis={"action": "check", "tier": "check"}),
            # every screened message carries a decision: "none" leaves it among the unanswered
            *_turn("what is the cost of the detox bed per night", "nlu_fallback", "action_suggest_topics", at(5, 6),
                   crisis={"action": "none", "tier": None}),
        ],
        "visitor-old": [  # outside a 30-day window
            *_turn(REHAB, "nlu_fallback", "action_suggest_topics", at(40, 0)),
            *_turn("where do i park for the old question about parking", "out_of_scope", "utter_out_of_scope",
                   at(40, 1)),
        ],
    }


def save_trackers(url: str, now: datetime = NOW) -> None:
    store = SQLTrackerStore(Domain.empty(), host=url)
    try:
        for sender_id, events in conversations(now).items():
            run_async(store.save(DialogueStateTracker.from_events(sender_id, events)))
    finally:
        store.engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    save_trackers(url)
    return url


def read_csv(path: Path) -> List[Dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == CSV_COLUMNS
        return list(reader)


def check_report(url: str, out: Path) -> None:
    report = build_report(url, days=30, now=NOW)
    csv_path, md_path = write_reports(report, out)

    scan = report.scan
    # typed messages in the window: 3 + 3 + 4 + 6; the button click is not one
    assert (scan.visitor_messages, scan.button_clicks, scan.crisis_excluded, scan.form_answers) == (17, 1, 2, 1)
    assert report.unanswered == 11

    groups = report.groups
    assert [(g.messages, g.conversations) for g in groups] == [(4, 3), (2, 2)] + [(1, 1)] * 5
    rehab, job = groups[0], groups[1]
    assert rehab.representative == REHAB
    assert rehab.reasons == {"nlu_fallback": 4}  # not 5: the 40-day-old one is outside the window
    assert datetime.fromtimestamp(rehab.first_seen, timezone.utc).date() == (NOW - timedelta(days=3)).date()
    assert datetime.fromtimestamp(rehab.last_seen, timezone.utc).date() == (NOW - timedelta(days=1)).date()
    assert {job.representative, *job.examples} == {"can you help me find a job", "help me find a job please"}
    assert job.reasons == {"out_of_scope": 2}
    by_text = {g.representative: g for g in groups[2:]}
    assert by_text["how much melatonin can a kid take"].reasons == {"other_medicine": 1}
    assert by_text["blorp zingle wobble"].reasons == {"core_fallback": 1}
    assert "i feel like giving up" not in by_text
    assert by_text["what is the cost of the detox bed per night"].reasons == {"nlu_fallback": 1}
    assert by_text["my member id is [number] can you look it up"].reasons == {"nlu_fallback": 1}
    assert by_text["My name is [name], email [email] or call [phone] about a detox bed"].reasons == {"nlu_fallback": 1}

    rows = read_csv(csv_path)
    assert [int(r["messages"]) for r in rows] == [4, 2, 1, 1, 1, 1, 1]
    assert rows[0]["representative"] == REHAB and rows[0]["conversations"] == "3"
    assert rows[0]["first_seen"] == "2025-03-28" and rows[0]["last_seen"] == "2025-03-30"
    assert rows[0]["share_of_unanswered"] == "36.4%"

    markdown = md_path.read_text(encoding="utf-8")
    assert "Period: 2025-03-01 12:00 to 2025-03-31 12:00 UTC (last 30 days)" in markdown
    assert "Visitor messages: 17" in markdown and "Unanswered: 11 (64.7%)" in markdown
    assert f"| 1 | 4 | 3 | {REHAB} |" in markdown

    for text in (csv_path.read_text(encoding="utf-8"), markdown):
        for secret in SECRETS:
            assert secret not in text
        for placeholder in ("[name]", "[email]", "[phone]", "[number]"):
            assert placeholder in text
        for excluded in NEVER_REPORTED:
            assert excluded not in text


def test_report_on_sqlite(sqlite_url, tmp_path):
    database = Path(sqlite_url[len("sqlite:///"):])
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    check_report(sqlite_url, tmp_path / "out")
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before, "the tracker store must not change"


def test_a_shorter_window_keeps_only_recent_messages(sqlite_url):
    report = build_report(sqlite_url, days=2, now=NOW)  # visitor-a (1 day ago) and visitor-b (2 days ago)
    assert (report.scan.visitor_messages, report.unanswered) == (6, 4)
    assert [(g.messages, g.conversations) for g in report.groups] == [(3, 2), (1, 1)]


def test_report_on_postgresql(tmp_path):
    with postgres_schema(f"t_unanswered_{os.getpid()}") as schema_url:
        save_trackers(schema_url)
        check_report(schema_url, tmp_path / "out")


# --------------------------------------------------------------------------- the command line

def test_cli_writes_both_reports_and_a_summary(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    save_trackers(url, now=datetime.now(timezone.utc))
    out = tmp_path / "results" / "unanswered"
    assert main(["--tracker-url", url, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "unanswered.csv" in printed and "unanswered.md" in printed
    assert "Last 30 days: 17 visitor messages, 11 unanswered (64.7%) in 7 groups" in printed
    assert len(read_csv(out / "unanswered.csv")) == 7


def test_no_events_table_gives_empty_reports(tmp_path, capsys):
    database = tmp_path / "empty.db"
    sqlite3.connect(database).close()
    out = tmp_path / "out"
    assert main(["--tracker-url", f"sqlite:///{database}", "--out", str(out), "--days", "7"]) == 0
    printed = capsys.readouterr().out
    assert "No conversations recorded yet" in printed and "has no 'events' table" in printed
    assert read_csv(out / "unanswered.csv") == []
    markdown = (out / "unanswered.md").read_text()
    assert "Visitor messages: 0 · Unanswered: 0 (n/a)" in markdown and "(last 7 days)" in markdown
    assert "| # | Messages | Conversations |" in markdown


def test_a_missing_sqlite_file_is_not_created(tmp_path, capsys):
    database = tmp_path / "var" / "tracker.db"
    assert main(["--tracker-url", f"sqlite:///{database}", "--out", str(tmp_path / "out")]) == 0
    assert f"No conversations recorded yet: sqlite:///{database} does not exist." in capsys.readouterr().out
    assert not database.exists()
    assert read_csv(tmp_path / "out" / "unanswered.csv") == []


def test_no_matching_messages_is_said_clearly(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    save_trackers(url, now=datetime.now(timezone.utc) - timedelta(days=100))
    assert main(["--tracker-url", url, "--out", str(tmp_path / "out")]) == 0
    assert "No visitor messages in this period." in capsys.readouterr().out
    assert read_csv(tmp_path / "out" / "unanswered.csv") == []


@pytest.mark.parametrize("url", [
    "not a url",
    "nosuchdb://host/db",
    "postgresql://reporter:s3cret@127.0.0.1:1/helpline",  # nothing listens on port 1
])
def test_a_bad_or_unreachable_database_is_one_line_and_exit_2(url, tmp_path, capsys):
    assert main(["--tracker-url", url, "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err and "s3cret" not in captured.err
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_a_database_is_exit_2(tmp_path, capsys):
    bogus = tmp_path / "tracker.db"
    bogus.write_text("this is not sqlite\n" * 100)
    assert main(["--tracker-url", f"sqlite:///{bogus}", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read the tracker store")
