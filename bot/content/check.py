"""Check the content before it goes live: training examples, answers and crisis rules.

    python -m bot.content.check            # or: make content-check
    python -m bot.content.check --strict   # warnings fail too

Every problem is printed as ``file:line: error|warning: what is wrong``, followed by what to
do about it. The command exits with 1 when there is an error (or, with --strict, a warning),
and 0 otherwise. The thresholds are in data/quality.yml. What is checked:

* examples: every intent and FAQ topic has enough *different* examples; the same or nearly
  the same example under two intents is reported with both places;
* answers: every FAQ topic has an answer and every answer a topic; each answer has a
  "Source:" line, a ``reviewed`` date (warning when older than the limit), the right number of
  sentences, a place to turn to, a readable school grade (warning) and none of the seed
  pages' wrong claims;
* safe messaging: a reply that talks about suicide names 988; no reply names a method or an
  amount for self-harm; crisis replies carry the escalation payload with the right lines;
* crisis rules: every labelled crisis message in tests/crisis/labelled.yml is caught at its
  tier or higher, no labelled non-crisis message is, and every rule in
  data/crisis/patterns.yml catches at least a minimum number of the labelled messages.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple


from bot import PROJECT_ROOT
from bot.crisis.detector import TIERS
from bot.yaml_files import (ContentError, Example, Labelled, Problem, Response, Where, _get, _line,
                            _read_mapping, _read_yaml, error, read_examples, read_responses,
                            warning)

RETRIEVAL_PREFIX = "faq/"
ANSWER_PREFIX = "utter_faq/"
# a reply must offer one of these: a person, a line or a place to turn to
PLACES_TO_TURN = ("prescriber", "doctor", "pharmacist", "911", "988", "1-800", "talk to a person",
                  "our team", "helpline", "findtreatment.gov")
# the lines each crisis reply must carry: the first one, then others anywhere in the list
# the replies that escalate (the widget's emergency bar and the handoff), with their tier; no other may
ESCALATING = {"utter_crisis_emergency": "emergency", "utter_crisis_suicide": "suicide",
              "utter_crisis_medical": "medical", "utter_crisis_not_safe": "suicide",
              "utter_crisis_check_in": "check"}
# the line each tier lists first, and the lines it must also list; by situation where it differs
# (the variation's crisis_situation condition: the visitor themself, a young child)
CRISIS_LINES = {"emergency": ("911", {"1-800-222-1222"}), "suicide": ("988", {"911"}), "medical": ("911", set()),
                "check": ("988", {"911"}), ("emergency", "self"): ("911", {"988"}),
                ("emergency", "child"): ("1-800-222-1222", {"911"})}
SUICIDE_WORDS = re.compile(r"\bsuicid\w*|\bkill(ing)? (yourself|myself|themselves)|\bend (your|my|their) life|"
                           r"\bself-harm|\bhurt(ing)? (yourself|myself|themselves)", re.IGNORECASE)
METHOD_WORDS = re.compile(r"\b(hang(ing)? (yourself|myself)|noose|jump(ing)? (off|from)|firearm|gun|"
                          r"shoot(ing)? (yourself|myself)|wrists?|carbon monoxide|suffocat\w*|"
                          r"poison(ing)? (yourself|myself))\b", re.IGNORECASE)
LETHAL_WORDS = re.compile(r"\b(lethal|fatal|deadly|enough to (die|kill)|to die|kill (you|someone|a person))\b",
                          re.IGNORECASE)
AMOUNT = re.compile(r"\b\d+(\.\d+)?\s*(mg|milligrams?|pills?|tablets?|bars?|doses?)\b|\bhow many (pills|tablets)\b",
                    re.IGNORECASE)
SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
def read_labelled(path: Path) -> List[Labelled]:
    data, root = _read_mapping(path, "items")
    nodes = _get(root, "items")
    labelled = []
    for item, node in zip(data.get("items") or [], nodes.value if nodes is not None else []):
        if not isinstance(item, dict):
            raise ContentError(error(Where(path, _line(node)), f"not a labelled message: {item!r}",
                                     'write it as  - {text: "the message", tier: emergency|suicide|medical|none}'))
        labelled.append(Labelled(str(item.get("text", "")), str(item.get("tier", "")), Where(path, _line(node))))
    return labelled


def rule_lines(path: Path) -> Dict[str, int]:
    """Crisis rule id -> line of the rule in the patterns file."""
    data, root = _read_mapping(path, "rules")
    nodes = _get(root, "rules")
    return {str(rule.get("id")): _line(node) if isinstance(rule, dict) else 0
            for rule, node in zip(data.get("rules") or [], nodes.value if nodes is not None else [])}


POLICY_KEYS = {
    "examples": ["min_per_intent", "near_duplicate_similarity"],
    "answers": ["review_max_age_days", "readability_max_grade", "min_sentences", "max_sentences"],
    "crisis": ["min_examples_per_rule"],
    "nlu": ["intent_f1_weighted_min", "intent_f1_each_min", "faq_topic_accuracy_min"],
    "forbidden_claims": [],
}


@dataclass
class Project:
    """Where the content lives (a copy of the project in tests)."""
    root: Path = PROJECT_ROOT

    @property
    def nlu_dir(self) -> Path:
        return self.root / "data" / "nlu"

    @property
    def domain_dir(self) -> Path:
        return self.root / "domain"

    @property
    def patterns(self) -> Path:
        return self.root / "data" / "crisis" / "patterns.yml"

    @property
    def labelled(self) -> Path:
        return self.root / "tests" / "crisis" / "labelled.yml"

    @property
    def policy(self) -> Path:
        return self.root / "data" / "quality.yml"

    def read_policy(self) -> Dict[str, Any]:
        data, _ = _read_yaml(self.policy)
        data = data if isinstance(data, dict) else {}
        missing = [f"{section}.{key}" if key else section for section, keys in POLICY_KEYS.items()
                   for key in (keys or [None])
                   if not isinstance(data.get(section), (dict, list)) or (key and key not in data[section])]
        if missing or not data.get("forbidden_claims"):
            names = ", ".join(missing or ["forbidden_claims"])
            raise ContentError(error(Where(self.policy, 0), f"missing settings: {names}",
                                     "restore them from the project's history (git log -p data/quality.yml)"))
        return data


# -- the checks --------------------------------------------------------------------------------
def normalise(text: str) -> str:
    """Lower case, letters and digits only, single spaces: what makes two examples "the same"."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def similar_pairs(texts: Sequence[str], threshold: float) -> List[Tuple[int, int, float]]:
    """Index pairs (i < j) whose texts are at least `threshold` similar, as the share of letters in
    common (difflib's ratio: "klonopin withdrawl" / "klonopin withdrawal" 0.97, "absolutely not" /
    "absolutely" 0.83). Letter n-gram cosines pick the candidates, so it stays fast on thousands."""
    if len(texts) < 2:
        return []
    from difflib import SequenceMatcher

    from sklearn.feature_extraction.text import TfidfVectorizer

    plain = [normalise(t) for t in texts]
    matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), use_idf=False).fit_transform(plain)
    cosine = (matrix @ matrix.T).tocoo()
    pairs = []
    for i, j, score in zip(cosine.row, cosine.col, cosine.data):
        if i < j and score >= threshold - 0.2:
            ratio = SequenceMatcher(None, plain[i], plain[j]).ratio()
            if ratio >= threshold:
                pairs.append((int(i), int(j), ratio))
    return sorted(pairs)


def check_examples(examples: List[Example], policy: Dict[str, Any]) -> List[Problem]:
    minimum = int(policy["min_per_intent"])
    threshold = float(policy["near_duplicate_similarity"])
    problems: List[Problem] = []
    copies: Dict[int, int] = {}  # example index -> an earlier example of the same intent it (nearly) copies
    for i, j, score in similar_pairs([e.text for e in examples], threshold):
        a, b = examples[i], examples[j]
        if a.intent == b.intent:
            copies.setdefault(j, i)
            continue
        same = normalise(a.text) == normalise(b.text)
        make = error if same else warning
        problems.append(make(
            b.where,
            f"{'the same' if same else 'nearly the same'} example under '{b.intent}' and '{a.intent}': "
            f"\"{b.text}\" / \"{a.text}\"",
            "keep it under the one intent it means, or reword one of them so they ask different things", a.where))
    by_intent: Dict[str, List[int]] = {}
    for index, example in enumerate(examples):
        by_intent.setdefault(example.intent, []).append(index)
    for intent, indexes in by_intent.items():
        varied = [i for i in indexes if i not in copies]
        if len(varied) < minimum:
            near = len(indexes) - len(varied)
            problems.append(error(
                examples[indexes[0]].where,
                f"'{intent}' has {len(varied)} different examples, fewer than {minimum}"
                + (f" ({near} more are nearly copies of others)" if near else ""),
                f"add {minimum - len(varied)} or more ways a visitor might ask this, in their own words "
                "(misspellings, short and long, about themselves and about someone else)"))
        for i in indexes:
            if i in copies and normalise(examples[i].text) == normalise(examples[copies[i]].text):
                problems.append(error(examples[i].where, f"'{intent}' has this example twice: \"{examples[i].text}\"",
                                      "delete one of the two"))
    return problems


def check_topics(examples: List[Example], responses: List[Response], domain_dir: Path) -> List[Problem]:
    asked = {e.intent[len(RETRIEVAL_PREFIX):]: e.where for e in examples if e.intent.startswith(RETRIEVAL_PREFIX)}
    answered = {r.name[len(ANSWER_PREFIX):]: r.where for r in responses if r.name.startswith(ANSWER_PREFIX)}
    problems = [error(where, f"FAQ topic '{topic}' has examples but no answer",
                      f"add a response 'utter_faq/{topic}' to {domain_dir.name}/faq.yml")
                for topic, where in sorted(asked.items()) if topic not in answered]
    problems += [error(where, f"the answer 'utter_faq/{topic}' has no examples, so it can never be chosen",
                       f"add an intent 'faq/{topic}' with examples under data/nlu/, or delete the answer")
                 for topic, where in sorted(answered.items()) if topic not in asked]
    return problems


def reading_grade(text: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # textstat imports pkg_resources
        import textstat
    return float(textstat.flesch_kincaid_grade(text))


def _review_date(value: Any) -> Optional[dt.date]:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def check_answers(responses: List[Response], policy: Dict[str, Any], claims: List[Dict[str, str]],
                  today: dt.date) -> List[Problem]:
    problems: List[Problem] = []
    for response in (r for r in responses if r.name.startswith(ANSWER_PREFIX)):
        where, name = response.where, response.name
        body, marker, source = response.text.partition("Source:")
        if not marker or not source.strip():
            problems.append(error(where, f"'{name}' has no Source line",
                                  "end the answer with a blank line and 'Source: ...' naming where it comes from"))
        sentences = len(SENTENCE_END.findall(body.strip()))
        low, high = int(policy["min_sentences"]), int(policy["max_sentences"])
        if not low <= sentences <= high:
            problems.append(error(where, f"'{name}' has {sentences} sentences, not {low} to {high}",
                                  "shorten it or split the topic; a frightened visitor reads on a phone"))
        if not any(place in response.text for place in PLACES_TO_TURN):
            problems.append(error(where, f"'{name}' does not tell the visitor where to turn",
                                  "name the prescriber, a helpline number or our team"))
        for claim in claims:
            if re.search(claim["pattern"], response.text, re.IGNORECASE):
                problems.append(error(where, f"'{name}' repeats a claim from the seed pages: '{claim['pattern']}'",
                                      f"remove or correct it ({claim['why']})"))
        reviewed = response.metadata.get("reviewed")
        date = _review_date(reviewed)
        if reviewed is None:
            problems.append(error(where, f"'{name}' has no review date",
                                  'under the text add:  metadata: {reviewed: "YYYY-MM-DD"}  (the date someone '
                                  "checked it against ../shared/FACTS.md and its source)"))
        elif date is None:
            problems.append(error(where, f"'{name}' has a review date that is not a quoted YYYY-MM-DD date: "
                                         f"{reviewed!r}",
                                  'write it with quotes, for example  reviewed: "2026-11-22"'))
        elif date > today:
            problems.append(error(where, f"'{name}' was reviewed in the future ({date})", "correct the date"))
        elif (today - date).days > int(policy["review_max_age_days"]):
            problems.append(warning(where, f"'{name}' was last reviewed on {date}, over "
                                    f"{policy['review_max_age_days']} days ago",
                                    "check it against FACTS.md and its source again, then update the date"))
        grade = reading_grade(body)
        if grade > float(policy["readability_max_grade"]):
            problems.append(warning(where, f"'{name}' reads at school grade {grade:.1f}, above "
                                    f"{policy['readability_max_grade']}",
                                    "use shorter sentences and everyday words "
                                    "(say 'stop suddenly', not 'abrupt discontinuation')"))
    return problems


def check_safe_messaging(responses: List[Response]) -> List[Problem]:
    problems: List[Problem] = []
    for response in responses:
        where, name, text = response.where, response.name, response.text
        if SUICIDE_WORDS.search(text) and "988" not in text:
            problems.append(error(where, f"'{name}' talks about suicide or self-harm without naming 988",
                                  "add: call or text 988 (Suicide & Crisis Lifeline), free and open 24/7"))
        method = METHOD_WORDS.search(text)
        if method:
            problems.append(error(where, f"'{name}' names a means of self-harm: '{method.group(0)}'",
                                  "never describe methods or places (safe-messaging guidance); remove it"))
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            if LETHAL_WORDS.search(sentence) and AMOUNT.search(sentence):
                problems.append(error(where,
                                      f"'{name}' puts an amount next to a lethal outcome: \"{sentence.strip()}\"",
                                      "never give amounts that could harm; say that any amount can be dangerous "
                                      "with alcohol or opioids and name 911 / Poison Help"))
        escalation = response.custom.get("escalation")
        if name in ESCALATING or escalation is not None:
            problems += _check_escalation(response, escalation)
        elif _has_key(response.variant, "escalation"):
            problems.append(error(where, f"'{name}' has an 'escalation' key outside custom.escalation",
                                  "only the crisis replies escalate; remove the key"))
    names = {r.name for r in responses}
    for name in sorted(set(ESCALATING) - names):
        if responses:
            problems.append(error(Where(responses[0].where.path.parent, 0), f"no crisis reply '{name}'",
                                  "the crisis replies live in domain/crisis.yml; restore it"))
    return problems


def _has_key(value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_has_key(v, key) for v in value.values())
    if isinstance(value, list):
        return any(_has_key(v, key) for v in value)
    return False


def _check_escalation(response: Response, escalation: Any) -> List[Problem]:
    where, name = response.where, response.name
    fix = ("give it  custom: {escalation: {tier: <emergency|suicide|medical|check>, "
           "lines: [{name, phone, sms, url}, ...]}} as in domain/crisis.yml")
    if name not in ESCALATING:
        return [error(where, f"'{name}' carries an escalation payload but is not a crisis reply",
                      f"only {', '.join(sorted(ESCALATING))} escalate; remove the payload")]
    if not isinstance(escalation, dict):
        return [error(where, f"crisis reply '{name}' has no escalation payload", fix)]
    problems: List[Problem] = []
    tier, lines = escalation.get("tier"), escalation.get("lines")
    if tier != ESCALATING[name]:
        problems.append(error(where, f"crisis reply '{name}' has the tier {tier!r}", f"use {ESCALATING[name]!r}"))
    if not response.text:
        problems.append(error(where, f"crisis reply '{name}' has no text",
                              "the lines go with a text that says what to do"))
    if not isinstance(lines, list) or not lines:
        return problems + [error(where, f"crisis reply '{name}' lists no lines to call", fix)]
    for line in lines:
        if not isinstance(line, dict) or set(line) != {"name", "phone", "sms", "url"} or not (
                line.get("phone") or line.get("sms") or line.get("url")):
            problems.append(error(where, f"crisis reply '{name}' has a line the widget cannot show: {line!r}",
                                  "each line needs name, phone, sms and url (null where there is none), "
                                  "and at least one of phone, sms or url"))
    phones = [line.get("phone") for line in lines if isinstance(line, dict)]
    situation = next((c.get("value") for c in response.variant.get("condition") or []
                      if isinstance(c, dict) and c.get("name") == "crisis_situation"), None)
    if tier in CRISIS_LINES:
        first, others = CRISIS_LINES.get((tier, situation), CRISIS_LINES[tier])
        if not phones or phones[0] != first:
            problems.append(error(where, f"crisis reply '{name}' must list {first} first",
                                  f"put {first} first in its lines"))
        for phone in sorted(others - set(phones)):
            problems.append(error(where, f"crisis reply '{name}' does not list {phone}", f"add the {phone} line"))
    return problems


def check_crisis(labelled: List[Labelled], rule_at: Dict[str, int], patterns: Path,
                 policy: Dict[str, Any]) -> List[Problem]:
    from bot.crisis import CrisisDetector, PatternError
    from bot.nlu.spacy_pipeline import shared_pipeline

    try:
        detector = CrisisDetector(shared_pipeline(), patterns)
    except PatternError as exc:
        return [error(Where(patterns, 0), str(exc), "fix the rule named in the message")]
    rank = {tier: i for i, tier in enumerate(TIERS)}
    caught_by: Dict[str, int] = {rule: 0 for rule in rule_at}
    problems: List[Problem] = []
    for item in labelled:
        result = detector.detect(item.text)
        for rule in result.rules:
            caught_by[rule] = caught_by.get(rule, 0) + 1
        if item.tier == "none":
            if result.tier is not None:
                problems.append(error(item.where, f"false alarm: \"{item.text}\" escalates as {result.tier} "
                                      f"(rules {', '.join(result.rules)})",
                                      "narrow the rule, or add the phrase to `idioms` in data/crisis/patterns.yml"))
        elif item.tier not in rank:
            problems.append(error(item.where, f"unknown tier {item.tier!r}", f"use one of {', '.join(TIERS)} or none"))
        elif result.tier is None:
            problems.append(error(item.where, f"missed crisis ({item.tier}): \"{item.text}\"",
                                  "add a phrase to the rule that should catch it in data/crisis/patterns.yml"))
        elif rank[result.tier] > rank[item.tier]:
            problems.append(error(item.where, f"\"{item.text}\" escalates as {result.tier}, below its tier {item.tier}",
                                  f"add a phrase to a {item.tier} rule in data/crisis/patterns.yml"))
        elif not result.triggers:
            problems.append(error(item.where, f"\"{item.text}\" escalates without naming what triggered it",
                                  "staff see the trigger words: check the rule in data/crisis/patterns.yml"))
    minimum = int(policy["min_examples_per_rule"])
    for rule, count in sorted(caught_by.items()):
        if count < minimum and rule in rule_at:
            problems.append(error(Where(patterns, rule_at[rule]),
                                  f"crisis rule '{rule}' catches {count} labelled message(s), fewer than {minimum}",
                                  "add messages it must catch to tests/crisis/labelled.yml (written by us, "
                                  "never copied from the evaluation set)"))
    return problems


def run_checks(project: Project, today: Optional[dt.date] = None) -> List[Problem]:
    """Every check on the project's content; problems sorted by file and line."""
    today = today or dt.date.today()
    try:
        policy = project.read_policy()
        examples = read_examples(project.nlu_dir)
        responses = read_responses(project.domain_dir)
        labelled = read_labelled(project.labelled)
        rules = rule_lines(project.patterns)
    except ContentError as exc:
        return [exc.problem]
    problems = (
        check_examples(examples, policy["examples"])
        + check_topics(examples, responses, project.domain_dir)
        + check_answers(responses, policy["answers"], policy["forbidden_claims"], today)
        + check_safe_messaging(responses)
        + check_crisis(labelled, rules, project.patterns, policy["crisis"])
    )
    return sorted(problems, key=lambda p: (str(p.where.path), p.where.line, p.message))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    started = time.monotonic()
    print("Checking examples, answers, safe messaging and crisis rules...", flush=True)
    problems = run_checks(Project(args.root))
    for problem in problems:
        print(problem.show(args.root))
    errors = sum(p.level == "error" for p in problems)
    warned = len(problems) - errors
    print(f"{errors} error(s), {warned} warning(s) in {time.monotonic() - started:.1f} s")
    if errors or (args.strict and warned):
        print("content-check failed: fix the errors above (each says what to do)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
