"""The FAQ content the actions send: topics, their training questions and their answers."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, List

from bot import PROJECT_ROOT
from bot.yaml_files import read_examples, read_responses

NLU_DIR = PROJECT_ROOT / "data" / "nlu"
DOMAIN_DIR = PROJECT_ROOT / "domain"
RETRIEVAL_INTENT = "faq"


@lru_cache(maxsize=1)
def faq_questions(nlu_dir: Path = NLU_DIR) -> Dict[str, List[str]]:
    """topic -> training questions, in file order (the first one is the topic's canonical question)."""
    topics: Dict[str, List[str]] = {}
    for example in read_examples(Path(nlu_dir)):
        if example.intent.startswith(f"{RETRIEVAL_INTENT}/"):
            topics.setdefault(example.intent.split("/", 1)[1], []).append(example.text)
    return topics


@lru_cache(maxsize=1)
def faq_answers(domain_dir: Path = DOMAIN_DIR) -> Dict[str, List[str]]:
    """topic -> answer texts."""
    answers: Dict[str, List[str]] = {}
    prefix = f"utter_{RETRIEVAL_INTENT}/"
    for response in read_responses(Path(domain_dir)):
        if response.name.startswith(prefix):
            answers.setdefault(response.name[len(prefix):], []).append(response.text)
    return answers


def canonical_question(topic: str) -> str:
    questions = faq_questions().get(topic)
    if not questions:
        raise KeyError(f"unknown FAQ topic {topic!r}")
    return questions[0]
