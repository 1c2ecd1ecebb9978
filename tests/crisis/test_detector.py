"""The crisis rule layer on the labelled set (tests/crisis/labelled.yml) and on bad pattern files."""
from pathlib import Path

import pytest
import yaml

from bot.crisis import TIERS, CrisisDetector, PatternError
from bot.crisis.detector import PATTERNS_PATH
from bot.nlu.spacy_pipeline import shared_pipeline

LABELLED = yaml.safe_load((Path(__file__).parent / "labelled.yml").read_text())["items"]


@pytest.fixture(scope="module")
def detector():
    return CrisisDetector(shared_pipeline())


def test_labelled_set_is_large_and_covers_every_tier():
    counts = {t: sum(1 for i in LABELLED if i["tier"] == t) for t in (*TIERS, "none")}
    assert len(LABELLED) >= 200
    assert all(n >= 30 for n in counts.values()), counts


# Every labelled message caught at its tier or higher, no false alarm, every rule with messages
# it catches: make content-check (bot/content/check.py check_crisis), which fails CI on a miss;
# tested in tests/content/test_content_check.py.


def test_exact_tier_accuracy(detector):
    crisis = [i for i in LABELLED if i["tier"] != "none"]
    exact = sum(detector.detect(i["text"]).tier == i["tier"] for i in crisis)
    print(f"exact tier on {len(crisis)} crisis messages: {exact / len(crisis):.1%}")
    assert exact / len(crisis) >= 0.97


def test_upper_case_and_question_framing(detector):
    assert detector.detect("MY SON IS NOT BREATHING").tier == "emergency"
    assert detector.detect("What are the signs of an overdose?").tier is None
    assert detector.detect("my friend overdosed what are the signs he is ok").tier == "emergency"


def _write(tmp_path, text):
    path = tmp_path / "patterns.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("rules: [{id: a, tier: urgent, phrases: [x]}]", "tier must be one of"),
        ("rules: [{id: a, tier: suicide}]", "neither phrases nor patterns"),
        ("rules: [{id: a, tier: suicide, phrases: [x], colour: red}]", "unknown keys"),
        ("rules: [{id: a, tier: suicide, phrases: [x], needs: nowhere}]", "unknown context"),
        ("rules: [{id: a, tier: suicide, patterns: [[{LOWER: {IN: [no, 'off']}}]]}]", "invalid spaCy pattern"),
        ("rules: [{id: a, tier: suicide, phrases: [x]}, {id: a, tier: suicide, phrases: [y]}]", "defined twice"),
        ("rules: [", "not valid YAML"),
        ("rules: []", "non-empty list"),
    ],
)
def test_bad_pattern_files_are_refused_with_the_reason(tmp_path, text, message):
    with pytest.raises(PatternError, match=message):
        CrisisDetector(shared_pipeline(), _write(tmp_path, text))


def test_project_patterns_file_loads_and_names_every_tier():
    spec = yaml.safe_load(PATTERNS_PATH.read_text())
    assert {rule["tier"] for rule in spec["rules"]} == set(TIERS)
