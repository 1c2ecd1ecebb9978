"""Content checks: every topic answered, answers sourced and sized, the widget contract, no leaks."""
import re

import pytest
import yaml

from bot import PROJECT_ROOT
from bot.content import faq_answers, faq_questions

DOMAIN = {}
for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
    DOMAIN.update((yaml.safe_load(path.read_text()) or {}).get("responses") or {})
TOPICS = sorted(faq_questions())
ANSWERS = faq_answers()
SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
# Claims from the seed pages that FACTS.md names as wrong: no answer may repeat them.
SEED_ERRORS = [r"birth defects", r"1,219", r"7,161", r"four hours", r"intermediate-acting", r"1975",
               r"brain damage", r"organ failure", r"heart failure", r"no more than (two|four) weeks",
               r"less than two weeks"]
DIRECTS_SOMEWHERE = ("prescriber", "doctor", "pharmacist", "911", "988", "1-800", "talk to a person",
                     "our team", "helpline", "findtreatment.gov")


def normalise(text):
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def test_at_least_30_topics_each_with_an_answer():
    assert len(TOPICS) >= 30
    assert set(TOPICS) == set(ANSWERS), "every FAQ topic needs exactly one answer and vice versa"


@pytest.mark.parametrize("topic", TOPICS)
def test_topic_has_enough_varied_examples(topic):
    questions = faq_questions()[topic]
    assert len(questions) >= 12
    assert len({normalise(q) for q in questions}) == len(questions), "duplicate examples"


@pytest.mark.parametrize("topic", TOPICS)
def test_answer_is_sourced_short_and_sends_people_somewhere(topic):
    for text in ANSWERS[topic]:
        body, _, source = text.partition("Source:")
        assert source.strip(), "every answer ends with a Source: line"
        assert 2 <= len(SENTENCE_END.findall(body.strip())) <= 5, "2 to 5 sentences"
        assert any(word in text for word in DIRECTS_SOMEWHERE), "name a prescriber, a line or our team"
        for error in SEED_ERRORS:
            assert not re.search(error, text, re.IGNORECASE), f"repeats a seed error: {error}"


def test_dosage_answer_states_the_label_maximums_and_gives_no_personal_dose():
    [text] = ANSWERS["dosage"]
    assert "4 mg" in text and "20 mg" in text
    assert "prescriber" in text


def test_escalation_payload_contract():
    carriers = {name for name, variants in DOMAIN.items()
                if any("escalation" in (v.get("custom") or {}) for v in variants)}
    tiers = {"utter_crisis_emergency": "emergency", "utter_crisis_suicide": "suicide",
             "utter_crisis_medical": "medical", "utter_crisis_not_safe": "suicide"}
    assert carriers == set(tiers)
    for name in carriers:
        for variant in DOMAIN[name]:
            assert variant.get("text"), "the payload goes next to a text"
            escalation = variant["custom"]["escalation"]
            assert escalation["tier"] == tiers[name]
            assert escalation["lines"]
            for line in escalation["lines"]:
                assert set(line) == {"name", "phone", "sms", "url"}
                assert line["phone"] or line["sms"] or line["url"]
    phones = {t: [l["phone"] for l in DOMAIN[f"utter_crisis_{t}"][0]["custom"]["escalation"]["lines"]]
              for t in ("emergency", "suicide", "medical")}
    assert phones["emergency"][0] == "911" and "1-800-222-1222" in phones["emergency"]
    assert phones["suicide"][0] == "988" and "911" in phones["suicide"]
    assert phones["medical"][0] == "911"
    # nothing else mentions the key anywhere
    for name, variants in DOMAIN.items():
        if name not in carriers:
            assert "escalation" not in yaml.safe_dump(variants)


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
