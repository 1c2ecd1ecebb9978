"""Read the FAQ content: topics, their training questions and their answers."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, List

import yaml

from bot import PROJECT_ROOT

NLU_DIR = PROJECT_ROOT / "data" / "nlu"
DOMAIN_DIR = PROJECT_ROOT / "domain"
RETRIEVAL_INTENT = "faq"


def _examples(block: str) -> List[str]:
    return [line[2:].strip() for line in block.splitlines() if line.startswith("- ")]


@lru_cache(maxsize=1)
def faq_questions(nlu_dir: Path = NLU_DIR) -> Dict[str, List[str]]:
    """topic -> training questions, in file order (the first one is the topic's canonical question)."""
    topics: Dict[str, List[str]] = {}
    for path in sorted(Path(nlu_dir).glob("*.yml")):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            intent = item.get("intent", "")
            if intent.startswith(f"{RETRIEVAL_INTENT}/"):
                topics.setdefault(intent.split("/", 1)[1], []).extend(_examples(item.get("examples", "")))
    return topics


@lru_cache(maxsize=1)
def faq_answers(domain_dir: Path = DOMAIN_DIR) -> Dict[str, List[str]]:
    """topic -> answer texts."""
    answers: Dict[str, List[str]] = {}
    prefix = f"utter_{RETRIEVAL_INTENT}/"
    for path in sorted(Path(domain_dir).glob("*.yml")):
        responses = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}
        for name, variants in responses.items():
            if name.startswith(prefix):
                answers[name[len(prefix):]] = [v.get("text", "") for v in variants]
    return answers


def canonical_question(topic: str) -> str:
    questions = faq_questions().get(topic)
    if not questions:
        raise KeyError(f"unknown FAQ topic {topic!r}")
    return questions[0]
