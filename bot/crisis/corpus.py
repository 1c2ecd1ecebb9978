"""The labelled crisis corpus: what the semantic layer learns from and is measured on.

    data/crisis/corpus/*.yml        written for the project; split by a hash of each text into
                                    train (4 in 5) and dev (1 in 5, for choosing thresholds)
    data/crisis/corpus/test3/*.yml  the FROZEN test split: written by a writer who saw none of the
                                    files above; it gives the reported figures and nothing is tuned
                                    on it. (The two splits before it, `former_test*.yml`, were
                                    reported after their first run, then tuned on, and are now part
                                    of the corpus; docs/crisis.md has their history.)
    tests/crisis/labelled.yml       the rules' own labelled set, also part of the train split
    data/nlu/*.yml                  the assistant's own training questions (FAQ, greetings, "talk
                                    to a person"), train only, as messages that are no crisis

Each item: ``{text, tier, kind, lang, who}`` and optionally ``explicit: true`` (plain crisis words)
and ``buried: true`` (the crisis sits inside a long message). The split is fixed by the text
alone, so it does not move when messages are added, and the same text never lands in two splits.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import yaml

from bot import PROJECT_ROOT

CORPUS_DIR = PROJECT_ROOT / "data" / "crisis" / "corpus"
TEST_DIR = CORPUS_DIR / "test3"                # the frozen test split: never trained or tuned on
SPLITS = ("train", "dev", "test")
LABELLED_PATH = PROJECT_ROOT / "tests" / "crisis" / "labelled.yml"
NLU_DIR = PROJECT_ROOT / "data" / "nlu"
_ANNOTATION = re.compile(r"\[([^\]]+)\]\([^)]*\)|\[([^\]]+)\]\{[^}]*\}")

TIERS = ("emergency", "suicide", "medical", "none")
LANGS = ("en", "es", "mix")
WHO = ("self", "other", "child", "none")
KINDS = {
    "emergency": ("overdose_self", "overdose_other", "overdose_question", "mixing_now", "child_ingestion",
                  "seizure_now"),
    "suicide": ("suicide_explicit", "suicide_indirect", "suicide_plan", "suicide_other", "self_harm"),
    "medical": ("withdrawal_seizure", "withdrawal_psychosis", "withdrawal_confusion"),
    "none": ("info_question", "service_question", "past_event", "taper_plan", "idiom", "faq_mixing",
             "faq_general", "chitchat"),
}
DEV_BUCKETS = 5  # one text in five goes to dev


class CorpusError(ValueError):
    """An item is not in the documented shape (the message names the file and item)."""


@dataclass(frozen=True)
class Item:
    text: str
    tier: str
    kind: str
    lang: str = "en"
    who: str = "none"
    explicit: bool = False
    buried: bool = False
    source: str = ""

    @property
    def crisis(self) -> bool:
        return self.tier != "none"


def split_of(text: str) -> str:
    """``train`` or ``dev``, fixed by the text (case and outer spaces ignored)."""
    digest = hashlib.sha256(text.strip().lower().encode("utf-8")).digest()
    return "dev" if digest[0] % DEV_BUCKETS == 0 else "train"


def read_file(path: Path) -> List[Item]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CorpusError(f"{path}: not valid YAML: {exc}") from exc
    rows = raw.get("items") if isinstance(raw, dict) else None
    if not isinstance(rows, list):
        raise CorpusError(f"{path}: expected a mapping with 'items'")
    items = []
    for index, row in enumerate(rows):
        where = f"{path.name} item {index + 1}"
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise CorpusError(f"{where}: needs a non-empty 'text'")
        tier = row.get("tier")
        if tier not in TIERS:
            raise CorpusError(f"{where}: tier must be one of {TIERS}, not {tier!r}")
        # the rules' labelled set has no kinds: each message counts under its tier
        kind = row.get("kind") or ("labelled" if path == LABELLED_PATH else None)
        if kind != "labelled" and kind not in KINDS[tier]:
            raise CorpusError(f"{where}: kind {kind!r} is not a kind of tier {tier} ({', '.join(KINDS[tier])})")
        lang, who = row.get("lang", "en"), row.get("who", "none")
        if lang not in LANGS or who not in WHO:
            raise CorpusError(f"{where}: lang must be one of {LANGS} and who one of {WHO}")
        items.append(Item(row["text"].strip(), tier, kind, lang, who, bool(row.get("explicit")),
                          bool(row.get("buried")), path.name))
    return items


def read_dir(folder: Path) -> List[Item]:
    items: List[Item] = []
    for path in sorted(Path(folder).glob("*.yml")):
        items.extend(read_file(path))
    return items


def nlu_questions(nlu_dir: Path = NLU_DIR) -> List[Item]:
    """The examples of every intent but the crisis ones, as messages that are no crisis."""
    items: List[Item] = []
    for path in sorted(Path(nlu_dir).glob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            intent = str(block.get("intent") or "")
            if not intent or intent.startswith("crisis_"):
                continue
            kind = "faq_general" if intent.startswith("faq") or intent == "out_of_scope" else "chitchat"
            for line in str(block.get("examples") or "").splitlines():
                text = _ANNOTATION.sub(lambda m: m.group(1) or m.group(2), line.strip()[2:].strip())
                if line.strip().startswith("- ") and text:
                    items.append(Item(text, "none", kind, "en", "none", source=path.name))
    return items


def load(split: str, corpus_dir: Path = CORPUS_DIR, labelled: Optional[Path] = LABELLED_PATH,
         nlu_dir: Optional[Path] = NLU_DIR) -> List[Item]:
    """The items of one split: ``train``, ``dev`` or ``test``. The assistant's own training
    questions join the train split only (they are not the hard cases the dev split measures)."""
    test_dir = Path(corpus_dir) / TEST_DIR.name
    if split == "test":
        return read_dir(test_dir)
    if split not in ("train", "dev"):
        raise ValueError(f"unknown split {split!r}")
    items = read_dir(corpus_dir) + (read_file(labelled) if labelled else [])
    test_texts = {i.text.lower() for i in read_dir(test_dir)}
    chosen = [i for i in _unique(items) if split_of(i.text) == split and i.text.lower() not in test_texts]
    if split == "train" and nlu_dir:
        taken = {i.text.lower() for i in items} | test_texts
        chosen += [i for i in _unique(nlu_questions(nlu_dir)) if i.text.lower() not in taken]
    return chosen


def _unique(items: Iterable[Item]) -> List[Item]:
    seen: Dict[str, Item] = {}
    for item in items:
        seen.setdefault(item.text.lower(), item)
    return list(seen.values())
