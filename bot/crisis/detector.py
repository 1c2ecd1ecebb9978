"""Rule-based crisis detector.

The rules live in ``data/crisis/patterns.yml`` so the content team can read and
extend them (its header explains them). In short, each rule names a tier
(``emergency`` > ``suicide`` > ``medical``) and a strength, and:

* strong matches escalate ("not breathing", "kill myself"), except emergency and
  medical ones inside a *general question* ("is slow breathing a sign of overdose?");
* weak matches escalate unless the message is a general question: a question with
  no word about a particular person ("my", "he", "son") and no urgent word;
* an information frame ("just to be prepared", "for a class", "will the police arrest") cancels
  the rules it names, as history phrases do, unless a word says it is happening now;
* ``needs: <context>`` rules count only with that context (a hallucination *after
  stopping* clonazepam); idioms cancel the matches they overlap (a strong match
  only when the idiom covers it whole); history phrases ("died of an overdose in
  2019") cancel the overdose rules they name unless a word says it is happening now;
* any of those words, or a joke's ("lol", "from laughing"), with no word saying it is happening
  now, marks the result ``contested``: the decision (decide.py) then escalates only when the
  semantic classifier agrees, and checks in otherwise. Nothing is silenced by them alone.

Phrases are compared on lemmas from the project's spaCy pipeline, so "overdosed",
"od'd" and "overdosing" all meet the phrase "overdose"; ``match: exact`` compares
lower-cased words instead (for tense: "overdosed" but not "overdose").
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import yaml

from bot import PROJECT_ROOT

PATTERNS_PATH = PROJECT_ROOT / "data" / "crisis" / "patterns.yml"
TIERS = ("emergency", "suicide", "medical")  # priority order
STRENGTHS = ("strong", "weak")
RULE_KEYS = {"id", "tier", "strength", "phrases", "patterns", "match", "needs", "note", "always"}


class PatternError(ValueError):
    """The patterns file is not in the documented shape (message names the rule)."""


@dataclass(frozen=True)
class Hit:
    rule: str
    tier: str
    strength: str
    text: str
    start: int
    end: int


@dataclass
class CrisisResult:
    tier: Optional[str] = None          # None: no crisis
    triggers: List[str] = field(default_factory=list)
    rules: List[str] = field(default_factory=list)
    question: bool = False             # the message reads as a question about a topic
    suppressed: List[str] = field(default_factory=list)  # matches a general question or information frame cancelled
    evidence: List[str] = field(default_factory=list)    # every crisis word seen, escalating or not
    suppressed_tier: Optional[str] = None                 # the highest tier among the suppressed matches
    strong: bool = False                                  # a strong rule escalated (plain, explicit wording)
    idiom: bool = False                                   # an idiom was seen ("this job is killing me")
    history: bool = False                                 # words about the past ("years ago") were seen
    contested: bool = False                               # words about the past, a frame or a joke speak against
                                                          # "now", and no word says it is happening now

    @property
    def is_crisis(self) -> bool:
        return self.tier is not None

    def as_dict(self) -> Dict:
        return {
            "tier": self.tier,
            "triggers": self.triggers,
            "rules": self.rules,
            "question": self.question,
            "suppressed": self.suppressed,
            "evidence": self.evidence,
            "suppressed_tier": self.suppressed_tier,
            "strong": self.strong,
            "idiom": self.idiom,
            "history": self.history,
            "contested": self.contested,
        }


@dataclass
class _Rule:
    id: str
    tier: str
    strength: str
    needs: Optional[str]
    always: bool = False  # strong, and escalates even inside a general question


APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'", "`": "'"})


def normalise(text: str) -> str:
    """Lower case, phone keyboards' curly apostrophes made straight ("won\u2019t" -> "won't"), and
    accents dropped, as phones often drop them ("está" -> "esta", "niño" -> "nino")."""
    text = unicodedata.normalize("NFKD", text.translate(APOSTROPHES).lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def _contains(words: List[str], phrase: Tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i:i + n]) == phrase for i in range(len(words) - n + 1))


class CrisisDetector:
    def __init__(self, nlp, patterns_path: Path = PATTERNS_PATH) -> None:
        from spacy.matcher import Matcher, PhraseMatcher

        self.nlp = nlp
        self.path = Path(patterns_path)
        spec = self._read(self.path)
        self._rules: Dict[str, _Rule] = {}
        self._lemma = PhraseMatcher(nlp.vocab, attr="LEMMA")
        self._lower = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._tokens = Matcher(nlp.vocab)

        contexts = spec.get("contexts") or {}
        if not isinstance(contexts, dict):
            raise PatternError(f"{self.path}: 'contexts' must be a mapping of name to phrases")
        for name, body in contexts.items():
            self._add(f"context:{name}", body, where=f"contexts.{name}")
        for section in ("questions", "history", "idioms", "frames", "softeners"):
            if section in spec:
                self._add(section, spec[section], where=section,
                          allow=("starts", "marks", "cancels", "unless", "cancel_only", "contests"))
        cancel_only = (spec.get("frames") or {}).get("cancel_only") or []
        if cancel_only:  # frames that cancel, but never make a message contested (fear of the police)
            self._add("frames_cancel_only", {"phrases": cancel_only}, where="frames.cancel_only")
        self._softener_contests = set((spec.get("softeners") or {}).get("contests") or [])
        self._question_starts = self._words(spec, "questions", "starts")
        self._question_marks = self._phrases(spec, "questions", "marks")
        self._personal = self._words(spec, "generic", "personal")
        self._urgent = self._phrases(spec, "generic", "urgent")
        history = spec.get("history") or {}
        self._history_now = self._phrases(spec, "history", "unless")
        self._history_cancels = set(history.get("cancels") or [])
        self._frame_cancels = set((spec.get("frames") or {}).get("cancels") or [])

        rules = spec.get("rules")
        if not isinstance(rules, list) or not rules:
            raise PatternError(f"{self.path}: 'rules' must be a non-empty list")
        for index, body in enumerate(rules):
            where = f"rules[{index}]"
            if not isinstance(body, dict):
                raise PatternError(f"{self.path}: {where} must be a mapping")
            unknown = set(body) - RULE_KEYS
            if unknown:
                raise PatternError(f"{self.path}: {where} has unknown keys {sorted(unknown)}")
            rule_id = str(body.get("id") or f"rule_{index}")
            where = f"rule '{rule_id}'"
            if rule_id in self._rules:
                raise PatternError(f"{self.path}: {where} is defined twice")
            tier, strength = body.get("tier"), body.get("strength", "strong")
            if tier not in TIERS:
                raise PatternError(f"{self.path}: {where}: tier must be one of {TIERS}, not {tier!r}")
            if strength not in STRENGTHS:
                raise PatternError(f"{self.path}: {where}: strength must be one of {STRENGTHS}")
            needs = body.get("needs")
            if needs is not None and needs not in contexts:
                raise PatternError(f"{self.path}: {where}: needs unknown context {needs!r}")
            self._rules[rule_id] = _Rule(rule_id, tier, strength, needs, bool(body.get("always")))
            self._add(rule_id, body, where=where)
        for section, names in (("history", self._history_cancels), ("frames", self._frame_cancels),
                               ("softeners", self._softener_contests)):
            unknown = names - set(self._rules)
            if unknown:
                raise PatternError(f"{self.path}: {section}.cancels names unknown rules {sorted(unknown)}")

    def tier_of(self, rule: str) -> str:
        return self._rules[rule].tier

    # -- loading -----------------------------------------------------------------
    @staticmethod
    def _read(path: Path) -> Dict:
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise PatternError(f"crisis patterns file not found: {path}") from exc
        except yaml.YAMLError as exc:
            raise PatternError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(spec, dict):
            raise PatternError(f"{path}: expected a mapping with 'rules'")
        return spec

    def _words(self, spec: Dict, section: str, key: str) -> set:
        words = (spec.get(section) or {}).get(key) or []
        if not isinstance(words, list):
            raise PatternError(f"{self.path}: {section}.{key} must be a list of words")
        return {str(w).lower() for w in words}

    def _phrases(self, spec: Dict, section: str, key: str) -> List[Tuple[str, ...]]:
        """Word lists that may hold phrases, as token tuples ("help!" -> ("help", "!"))."""
        return [tuple(t.lower_ for t in self.nlp.make_doc(w)) for w in self._words(spec, section, key)]

    def _add(self, key: str, body, where: str, allow=()) -> None:
        if not isinstance(body, dict):
            raise PatternError(f"{self.path}: {where} must have 'phrases' and/or 'patterns'")
        phrases = body.get("phrases") or []
        patterns = body.get("patterns") or []
        if not phrases and not patterns and not any(body.get(k) for k in allow):
            raise PatternError(f"{self.path}: {where} has neither phrases nor patterns")
        if not all(isinstance(p, str) and p.strip() for p in phrases):
            raise PatternError(f"{self.path}: {where}: every phrase must be non-empty text")
        exact = body.get("match", "lemma") == "exact"
        if body.get("match", "lemma") not in ("lemma", "exact"):
            raise PatternError(f"{self.path}: {where}: match must be 'lemma' or 'exact'")
        if phrases:
            if exact:
                self._lower.add(key, [self.nlp.make_doc(p.lower()) for p in phrases])
            else:
                self._lemma.add(key, list(self.nlp.pipe(p.lower() for p in phrases)))
        if patterns:
            try:
                self._tokens.add(key, patterns)
            except Exception as exc:  # spaCy raises several types for bad patterns
                raise PatternError(f"{self.path}: {where}: invalid spaCy pattern: {exc}") from exc

    # -- detection ---------------------------------------------------------------
    def _matches(self, doc) -> Iterable[Tuple[str, int, int]]:
        strings = self.nlp.vocab.strings
        for matcher in (self._lemma, self._lower, self._tokens):
            for match_id, start, end in matcher(doc):
                yield strings[match_id], start, end

    def detect(self, text_or_doc) -> CrisisResult:
        doc = self.nlp(normalise(text_or_doc)) if isinstance(text_or_doc, str) else text_or_doc
        idioms: List[Tuple[int, int]] = []
        contexts = set()
        words = [t.lower_ for t in doc]
        question = bool(words) and (
            words[0] in self._question_starts or words[-1] == "?"
            or any(_contains(words, mark) for mark in self._question_marks)
        )
        asks_information = history = frame = softened = contesting_frame = False
        frame_spans: List[Tuple[int, int]] = []
        hits: List[Hit] = []
        for key, start, end in self._matches(doc):
            if key == "idioms":
                idioms.append((start, end))
            elif key == "questions":
                question = asks_information = True
            elif key == "history":
                history = True
            elif key in ("frames", "frames_cancel_only"):
                frame = True
                contesting_frame = contesting_frame or key == "frames"
                frame_spans.append((start, end))
            elif key == "softeners":
                softened = True
            elif key.startswith("context:"):
                contexts.add(key.split(":", 1)[1])
            else:
                rule = self._rules[key]
                hits.append(Hit(key, rule.tier, rule.strength, doc[start:end].text, start, end))

        def in_idiom(hit: Hit) -> bool:
            if hit.strength == "strong":  # "die for" must not cancel "want to die for real"
                return any(s <= hit.start and hit.end <= e for s, e in idioms)
            return any(s < hit.end and hit.start < e for s, e in idioms)

        seen = [h for h in hits if not in_idiom(h)]
        live = [h for h in seen if self._rules[h.rule].needs in (None, *contexts)]
        # words about an event that is over, or asked to be ready / for a class / about a film:
        # a question's line, not an escalation (unless a word says it is happening now)
        cancels = (self._history_cancels if history else set()) | (self._frame_cancels if frame else set())
        # a word about now inside a frame ("nothing is happening right now") does not count
        outside = [w if not any(s <= i < e for s, e in frame_spans) else "" for i, w in enumerate(words)]
        now = any(_contains(outside, phrase) for phrase in self._history_now)
        past: List[Hit] = []
        if cancels and not now:
            past = [h for h in live if h.rule in cancels]
            live = [h for h in live if h.rule not in cancels]
        urgent = any(_contains(words, phrase) for phrase in self._urgent)
        general_question = question and not urgent and not set(words) & self._personal
        escalating = [
            h for h in live
            if (h.strength == "strong" and (h.tier == "suicide" or self._rules[h.rule].always or not general_question))
            or (h.strength == "weak" and not general_question and (urgent or not asks_information))
        ]
        joke = softened and bool(escalating) and {h.rule for h in escalating} <= self._softener_contests
        result = CrisisResult(question=question, idiom=bool(idioms), history=history,
                              contested=(history or contesting_frame or joke) and not now)
        result.evidence = sorted({h.text for h in seen})
        suppressed = [h for h in live if h not in escalating] + past
        result.suppressed = sorted({h.text for h in suppressed})
        if suppressed:
            result.suppressed_tier = min((h.tier for h in suppressed), key=TIERS.index)
        if escalating:
            result.tier = min((h.tier for h in escalating), key=TIERS.index)
            ordered = sorted(escalating, key=lambda h: (TIERS.index(h.tier), h.start))
            result.triggers = list(dict.fromkeys(h.text for h in ordered))
            result.rules = list(dict.fromkeys(h.rule for h in ordered))
            result.strong = any(h.strength == "strong" for h in escalating)
        return result
