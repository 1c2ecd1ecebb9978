"""The "unanswered questions" report: what visitors asked that the assistant could not answer.

    python -m bot.content.unanswered [--days 30] [--tracker-url URL] [--out results/unanswered]
                             [--threshold 0.45]

Reads the conversations Rasa keeps in its SQL tracker store (the ``events``
table), read-only, and picks the visitor messages of the last ``--days`` days
that got no answer:

* the NLU intent was ``nlu_fallback`` (FallbackClassifier, or FaqConfidenceGate
  unsure of the FAQ topic; the assistant then asked to rephrase and offered
  topics) or ``out_of_scope`` (including questions about other medicines), or
* the next action was a fallback action (``action_default_fallback``: the
  dialogue policy was unsure what to do).

Left out: messages the crisis rules escalated (intent ``crisis_<tier>``; the
crisis path answered them), answers to the callback form (a phone number or a
time), and button clicks (payloads starting with "/"). Button clicks are not
counted as visitor messages either.

Before anything is grouped or written, phone numbers, e-mail addresses, links,
long numbers (4+ digits) and names ("my name is ...", "I'm Sarah") are replaced
by placeholders such as ``[phone]`` (``mask_pii``, bot/privacy/masking.py). Similar messages are
grouped (TF-IDF of character n-grams, cosine similarity of at least
``--threshold``) and the groups are written, largest first, to
``unanswered.csv`` and ``unanswered.md`` in ``--out``.

The tracker store is ``--tracker-url``, else ``HELPLINE_TRACKER_URL``, else the
SQLite file the assistant uses by default (var/tracker.db). Exit codes: 0 when
the reports were written (also when there is nothing to report), 2 when the
tracker store cannot be read (bad URL, server down, not a database).
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
import yaml
from scipy.sparse import vstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy import case, column, inspect, select, table, text
from sqlalchemy.engine import Connection, Result
from sqlalchemy.exc import SQLAlchemyError

from bot import PROJECT_ROOT
from bot.crisis import decide
from bot.privacy.masking import mask_pii
from bot.storage.engine import open_engine
from bot.storage.urls import first_line, redact
from bot.faq import DOMAIN_DIR
from bot import config

DEFAULT_DAYS = 30
MAX_DAYS = 36500
DEFAULT_OUT = PROJECT_ROOT / "results" / "unanswered"
DEFAULT_THRESHOLD = 0.45  # on the FAQ training questions, 80% of a group's phrasings share its main topic
MAX_EXAMPLES = 5
TABLE = "events"

# intents that mean "no answer": set by FallbackClassifier / FaqConfidenceGate (bot/nlu/faq_gate.py)
FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE_INTENT = "out_of_scope"
# the crisis screen's intents (bot/crisis/decide.py): crisis_<tier>, crisis_check
CRISIS_PREFIX = "crisis_"
# the policy's fallback (config.yml: core_fallback_action_name), and Rasa's rephrase fallback if a
# domain ever uses it; this domain has no utter_ask_rephrase, nlu_fallback goes to action_suggest_topics
CORE_FALLBACK_ACTIONS = {"action_default_fallback", "action_two_stage_fallback", "utter_ask_rephrase"}
# actions that may come before the real reply and say nothing about it
IGNORED_ACTIONS = {"action_listen", "action_unlikely_intent"}

CSV_COLUMNS = ["rank", "messages", "conversations", "share_of_unanswered", "reasons",
               "representative", "examples", "first_seen", "last_seen"]


# --------------------------------------------------------------------------- reading the tracker store

class TrackerStoreError(Exception):
    """The tracker store cannot be read: bad URL, unreachable server, not a database."""


class NothingRecorded(Exception):
    """The tracker store holds no conversations yet: no SQLite file, or no ``events`` table."""


@dataclass
class Unanswered:
    sender_id: str
    timestamp: float
    text: str       # masked
    reason: str     # nlu_fallback, out_of_scope, other_medicine or core_fallback


@dataclass
class Scan:
    """What one pass over the tracker store found."""
    visitor_messages: int = 0
    unanswered: List[Unanswered] = field(default_factory=list)
    crisis_excluded: int = 0
    form_answers: int = 0
    button_clicks: int = 0


def form_names(domain_dir: Path = DOMAIN_DIR) -> Set[str]:
    """The forms the domain declares: a message a form took as its answer was answered."""
    names: Set[str] = set()
    for path in sorted(Path(domain_dir).glob("*.yml")):
        try:
            forms = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("forms") or {}
        except (OSError, yaml.YAMLError):
            continue
        names.update(forms)
    return names


def _load(data: Optional[str]) -> Dict[str, Any]:
    try:
        value = json.loads(data) if data else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _rows(connection: Connection, since: float, until: float) -> Result:
    """(sender_id, type_name, timestamp, action_name, data) of user and action events, in tracker order."""
    events = table(TABLE, column("id"), column("sender_id"), column("type_name"), column("timestamp"),
                   column("action_name"), column("data"))
    query = (
        select(events.c.sender_id, events.c.type_name, events.c.timestamp, events.c.action_name,
               # the JSON of action events is not needed: do not fetch it
               case((events.c.type_name == "user", events.c.data), else_=None))
        .where(events.c.type_name.in_(["user", "action"]),
               events.c.timestamp >= since, events.c.timestamp <= until)
        .order_by(events.c.sender_id, events.c.id)  # id: the order the tracker store wrote them
    )
    return connection.execution_options(stream_results=True, yield_per=1000).execute(query)


def scan(url: str, since: float, until: float, forms: Optional[Set[str]] = None) -> Scan:
    """Visitor messages between two epoch times (raises NothingRecorded, TrackerStoreError)."""
    forms = form_names() if forms is None else forms
    # read-only; None when the SQLite file does not exist
    engine = open_engine(url, read_only=True, error=TrackerStoreError)
    if engine is None:
        raise NothingRecorded(f"No conversations recorded yet: {redact(url)} does not exist.")
    result = Scan()
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SET TRANSACTION READ ONLY"))
            if not inspect(connection).has_table(TABLE):
                raise NothingRecorded(f"No conversations recorded yet: the tracker store {redact(url)} "
                                      f"has no '{TABLE}' table.")
            pending: Optional[Tuple[str, float, Dict[str, Any]]] = None
            for sender_id, type_name, timestamp, action_name, data in _rows(connection, since, until):
                if pending and pending[0] != sender_id:
                    _classify(result, pending, None, forms)
                    pending = None
                if type_name == "user":
                    if pending:
                        _classify(result, pending, None, forms)
                    pending = (sender_id, timestamp, _load(data))
                elif pending and action_name not in IGNORED_ACTIONS:
                    _classify(result, pending, action_name, forms)
                    pending = None
            if pending:
                _classify(result, pending, None, forms)
            connection.rollback()
    except SQLAlchemyError as exc:
        raise TrackerStoreError(f"cannot read the tracker store at {redact(url)!r}: {first_line(exc)}") from None
    finally:
        engine.dispose()
    return result


def _classify(result: Scan, message: Tuple[str, float, Dict[str, Any]], next_action: Optional[str],
              forms: Set[str]) -> None:
    sender_id, timestamp, event = message
    raw = event.get("text")
    if not isinstance(raw, str) or not raw.strip():
        return
    if raw.lstrip().startswith("/"):
        result.button_clicks += 1
        return
    result.visitor_messages += 1
    parse = event.get("parse_data") or {}
    intent = str((parse.get("intent") or {}).get("name") or "")
    if intent.startswith(CRISIS_PREFIX) or decide.is_crisis(parse):
        result.crisis_excluded += 1
        return
    if intent == FALLBACK_INTENT:
        reason = FALLBACK_INTENT
    elif intent == OUT_OF_SCOPE_INTENT:
        # FaqConfidenceGate notes the medicine when it turned a FAQ question into out_of_scope
        reason = "other_medicine" if (parse.get("faq_gate") or {}).get("other_medicine") else OUT_OF_SCOPE_INTENT
    elif next_action in CORE_FALLBACK_ACTIONS:
        reason = "core_fallback"
    else:
        return
    if next_action in forms:  # a phone number or a time the callback form took: answered
        result.form_answers += 1
        return
    result.unanswered.append(Unanswered(sender_id, float(timestamp), mask_pii(raw), reason))


# --------------------------------------------------------------------------- grouping

@dataclass
class Group:
    messages: int
    conversations: int
    representative: str
    examples: List[str]
    first_seen: float
    last_seen: float
    reasons: Dict[str, int]


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip(" .!?")


def group_messages(messages: Sequence[Unanswered], threshold: float = DEFAULT_THRESHOLD) -> List[Group]:
    """Similar messages together, largest group first.

    Identical messages (ignoring case, spacing and end punctuation) count as one
    phrasing. Phrasings, most frequent first, each join the most similar group
    leader when the cosine similarity of their character n-gram TF-IDF vectors
    is at least ``threshold``, else lead a new group; a second pass moves each to
    its most similar leader. The representative is the phrasing closest to the
    group's centroid.
    """
    phrasings: Dict[str, List[Unanswered]] = {}
    for message in sorted(messages, key=lambda m: m.timestamp):
        key = _key(message.text)
        if key:
            phrasings.setdefault(key, []).append(message)
    if not phrasings:
        return []
    keys = sorted(phrasings, key=lambda k: (-len(phrasings[k]), phrasings[k][0].timestamp, k))
    weights = np.array([len(phrasings[k]) for k in keys], dtype=float)
    try:
        vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit_transform(keys)
    except ValueError:  # no n-grams at all (only one-letter messages): each its own group
        assignment = list(range(len(keys)))
        vectors = None
    else:
        leaders: List[int] = [0]
        stacked = vectors[0]
        for i in range(1, len(keys)):
            if (stacked @ vectors[i].T).toarray().max() < threshold:
                leaders.append(i)
                stacked = vstack([stacked, vectors[i]]).tocsr()
        assignment = []
        for start in range(0, len(keys), 1000):  # in blocks: phrasings x leaders can be large
            assignment.extend((vectors[start:start + 1000] @ stacked.T).toarray().argmax(axis=1))
        for group, leader in enumerate(leaders):  # a leader stays in its own group
            assignment[leader] = group

    members: Dict[int, List[int]] = {}
    for index, group in enumerate(assignment):
        members.setdefault(int(group), []).append(index)
    groups = []
    for indices in members.values():
        if vectors is not None and len(indices) > 1:
            block = vectors[indices]
            centroid = np.asarray(block.T @ weights[indices]).ravel() / weights[indices].sum()
            closeness = np.asarray(block @ centroid).ravel()
            # closest to the centroid; then the most frequent, then the shortest
            central = max(range(len(indices)), key=lambda j: (round(float(closeness[j]), 9),
                                                             weights[indices[j]], -len(keys[indices[j]])))
        else:
            central = 0
        texts = [_display(phrasings[keys[i]]) for i in indices]
        found = [m for i in indices for m in phrasings[keys[i]]]
        groups.append(Group(
            messages=len(found),
            conversations=len({m.sender_id for m in found}),
            representative=texts[central],
            examples=[t for j, t in enumerate(texts) if j != central][:MAX_EXAMPLES],
            first_seen=min(m.timestamp for m in found),
            last_seen=max(m.timestamp for m in found),
            reasons=dict(Counter(m.reason for m in found).most_common()),
        ))
    groups.sort(key=lambda g: (-g.messages, -g.conversations, g.first_seen, g.representative))
    return groups


def _display(messages: List[Unanswered]) -> str:
    """One phrasing as visitors wrote it (the latest of its spellings), on one line."""
    return re.sub(r"\s+", " ", messages[-1].text).strip()


# --------------------------------------------------------------------------- the report

@dataclass
class Report:
    days: int
    since: datetime
    until: datetime
    tracker_url: str
    nothing_recorded: Optional[str]  # why there is no data at all, if so
    scan: Scan
    groups: List[Group]
    csv_path: Optional[Path] = None
    md_path: Optional[Path] = None

    @property
    def unanswered(self) -> int:
        return len(self.scan.unanswered)

    @property
    def share(self) -> Optional[float]:
        return self.unanswered / self.scan.visitor_messages if self.scan.visitor_messages else None

    def period(self) -> str:
        return (f"{self.since:%Y-%m-%d %H:%M} to {self.until:%Y-%m-%d %H:%M} UTC "
                f"(last {self.days} day{'s' if self.days != 1 else ''})")

    def headline(self) -> str:
        share = f"{self.share:.1%}" if self.share is not None else "n/a"
        return (f"Period: {self.period()} · Visitor messages: {self.scan.visitor_messages:,} · "
                f"Unanswered: {self.unanswered:,} ({share})")

    def note(self) -> Optional[str]:
        """Why the report is empty, when it is."""
        if self.nothing_recorded:
            return self.nothing_recorded
        if not self.scan.visitor_messages:
            return "No visitor messages in this period."
        if not self.unanswered:
            return "No unanswered messages in this period."
        return None

    def summary(self) -> str:
        share = f" ({self.share:.1%})" if self.share is not None else ""
        return (f"Last {self.days} day{'s' if self.days != 1 else ''}: "
                f"{self.scan.visitor_messages:,} visitor messages, "
                f"{self.unanswered:,} unanswered{share} in {len(self.groups):,} groups; "
                f"left out {self.scan.crisis_excluded:,} crisis escalations, "
                f"{self.scan.form_answers:,} form answers, {self.scan.button_clicks:,} button clicks.")


def build_report(tracker_url: str, days: int = DEFAULT_DAYS, threshold: float = DEFAULT_THRESHOLD,
                 now: Optional[datetime] = None) -> Report:
    """Read the tracker store and group the unanswered messages (raises TrackerStoreError)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}, not {days}")
    until = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    since = until - timedelta(days=days)
    try:
        found = scan(tracker_url, since.timestamp(), until.timestamp())
    except NothingRecorded as exc:
        return Report(days, since, until, tracker_url, str(exc), Scan(), [])
    return Report(days, since, until, tracker_url, None, found, group_messages(found.unanswered, threshold))


def _date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")


def _reasons(group: Group) -> str:
    return ", ".join(f"{name} {count}" for name, count in group.reasons.items())


def _csv_cell(value: Any) -> Any:
    # a spreadsheet would run a visitor's "=..." as a formula
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _md_cell(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"\s+", " ", text).replace("|", "\\|").strip()


def write_reports(report: Report, out_dir: Path) -> Tuple[Path, Path]:
    """unanswered.csv and unanswered.md in ``out_dir`` (made if needed)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "unanswered.csv", out_dir / "unanswered.md"
    total = report.unanswered or 1

    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for rank, group in enumerate(report.groups, 1):
            writer.writerow([_csv_cell(v) for v in [
                rank, group.messages, group.conversations, f"{group.messages / total:.1%}", _reasons(group),
                group.representative, "\n".join(group.examples), _date(group.first_seen), _date(group.last_seen),
            ]])

    lines = [
        "# Unanswered questions",
        "",
        report.headline(),
        "",
        f"Left out: {report.scan.crisis_excluded:,} messages the crisis rules escalated, "
        f"{report.scan.form_answers:,} answers to the callback form; "
        f"{report.scan.button_clicks:,} button clicks are not counted as visitor messages. "
        "Reasons: nlu_fallback (unsure, asked to rephrase), "
        "out_of_scope, other_medicine, core_fallback (the dialogue policy was unsure).",
        "",
        "Phone numbers, e-mail addresses, links, long numbers and names are masked, but the messages "
        "are still visitors' words: keep this report confidential.",
        "",
    ]
    note = report.note()
    if note:
        lines += [f"**{note}**", ""]
    lines += [
        "| # | Messages | Conversations | Representative message | Other phrasings | Reasons "
        "| First seen | Last seen |",
        "|---:|---:|---:|---|---|---|---|---|",
    ]
    for rank, group in enumerate(report.groups, 1):
        examples = "<br>".join(_md_cell(e) for e in group.examples)
        lines.append(
            f"| {rank} | {group.messages} | {group.conversations} | {_md_cell(group.representative)} | "
            f"{examples} | {_reasons(group)} | {_date(group.first_seen)} | {_date(group.last_seen)} |"
        )
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report.csv_path, report.md_path = csv_path, md_path
    return csv_path, md_path


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.content.unanswered", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="how many days back (default 30)")
    parser.add_argument("--tracker-url", default=None,
                        help="SQLAlchemy URL of Rasa's SQL tracker store (default: HELPLINE_TRACKER_URL, "
                             "else var/tracker.db)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the reports (default "
                        "results/unanswered)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="cosine similarity to join a group, 0-1 (default 0.45; higher: smaller, purer groups)")
    args = parser.parse_args(argv)
    if not 1 <= args.days <= MAX_DAYS:
        parser.error(f"--days must be between 1 and {MAX_DAYS}")
    if not 0 < args.threshold <= 1:
        parser.error("--threshold must be above 0 and at most 1")

    url = args.tracker_url or config.tracker_url()
    try:
        report = build_report(url, args.days, args.threshold)
    except TrackerStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        csv_path, md_path = write_reports(report, args.out)
    except OSError as exc:
        print(f"error: cannot write the reports to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    note = report.note()
    if note:
        print(note)
    print(f"Wrote {_shown(csv_path)} and {_shown(md_path)}")
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
