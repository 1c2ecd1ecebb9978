"""Content facts the general checks (make content-check) do not cover: topics, figures, no leaks."""
import re

import pytest
import yaml

from bot import PROJECT_ROOT
from bot.faq import faq_answers, faq_questions

DOMAIN = {}
for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
    DOMAIN.update((yaml.safe_load(path.read_text()) or {}).get("responses") or {})
TOPICS = sorted(faq_questions())
ANSWERS = faq_answers()


def normalise(text):
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def test_at_least_30_topics():
    # examples, answers, sources, review dates and the escalation payload: make content-check
    # (bot/content/check.py), tested in tests/content/test_content_check.py
    assert len(TOPICS) >= 30


def test_dosage_answer_states_the_label_maximums_and_gives_no_personal_dose():
    [text] = ANSWERS["dosage"]
    assert "4 mg" in text and "20 mg" in text
    assert "prescriber" in text


def test_crisis_replies_follow_safe_messaging():
    suicide = DOMAIN["utter_crisis_suicide"][0]["text"]
    assert "988" in suicide and "safe right now" in suicide and "911" in suicide
    emergency = DOMAIN["utter_crisis_emergency"][0]["text"]
    assert emergency.index("911") < emergency.index("1-800-222-1222"), "911 first, Poison Help only if awake"


def test_no_evaluation_message_leaked_into_training_data_or_tests():
    eval_file = PROJECT_ROOT.parent / "shared" / "eval" / "realworld.yml"
    if not eval_file.exists():
        pytest.skip(f"no evaluation file at {eval_file}")
    held_out = {normalise(i["text"]) for i in yaml.safe_load(eval_file.read_text())["items"]}
    corpus = []
    for folder in ("data", "tests"):
        for path in (PROJECT_ROOT / folder).rglob("*.yml"):
            corpus.extend(normalise(line.lstrip("- ").strip('"{} ')) for line in path.read_text().splitlines())
    leaked = held_out & set(corpus)
    assert not leaked, f"{len(leaked)} held-out messages found in data/ or tests/"
    joined = "\n".join(corpus)
    assert not [t for t in held_out if len(t) > 25 and t in joined]
