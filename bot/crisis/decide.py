"""One place decides about a crisis: whether a message is one, which tier, what to answer.

Every path that reads a visitor's message asks this module: the NLU component (bot/nlu/crisis.py)
for the dialogue, the web chat and REST channels for a message over the flood limit, live handoff
for a message while staff have the chat, and the transcript check for a "no" to "Are you safe
right now?". Nothing else reads or writes the ``crisis`` key of a message's parse data.

The decision, in order:

1. **Rules** (detector.py, data/crisis/patterns.yml): explicit wording (a strong rule) always
   escalates. A weak rule's match ("mixing", "too many" with a word about taking) escalates too,
   unless the classifier is nearly sure the message is no crisis (below ``VETO``): then it is
   answered as a question asked for information, with its line.
   **Contested** messages (words about the past, "just to be prepared", "lol"; no word saying it is
   happening now) escalate only when the classifier agrees (at least ``CONTESTED``); otherwise
   the assistant checks in (3.). Such words lower a rule's match to a check-in, never to silence.
   So does a classifier nearly sure that a *question* is no crisis (below ``DOUBT``: "does the
   intake ask about suicidal thoughts?"), unless it names signs of danger or pills taken. Signs of
   danger now (not breathing, will not wake, seizing) and reports of pills taken are lowered by a
   contest only when the classifier reads no crisis at all (under ``CHECK``).
2. **The semantic classifier** (semantic.py): escalates when the probability that the message is
   a crisis is at least ``ESCALATE`` (tier: its most likely one).
3. **A check-in** between ``CHECK`` and ``ESCALATE``: the assistant asks directly whether the
   visitor is thinking about suicide or whether someone is in danger now, with the lines. It is
   queued for staff under tier ``check``, below every confirmed crisis. This holds for a question
   too ("how long until 20 of them wear off, i took them at 9?"): a question can carry a crisis.
4. **A question asked for information** (the rules saw crisis words inside a general question,
   "what are the signs of an overdose", and the classifier is below ``CHECK``): the FAQ answer,
   plus one line with 911 or 988 (the entity ``crisis_line``, data/rules/crisis.yml).
5. Otherwise no crisis.

The thresholds were chosen on the dev split of the corpus (docs/crisis.md); the frozen test split
gives the reported figures (`make crisis-report`). Every decision carries its reason.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from bot.crisis.detector import TIERS, CrisisDetector, normalise

logger = logging.getLogger(__name__)

PARSE_KEY = "crisis"          # the decision in a message's parse data; nothing else writes it
ESCALATE = 0.80               # semantic classifier: escalate at or above (dev split)
CHECK = 0.40                  # semantic classifier: check in at or above (dev split)
VETO = 0.40                   # below this, a weak rule's match is read as a question, not a crisis (dev split)
CONTESTED = 0.90              # a contested message (words about the past, a frame, a joke) escalates from here (dev split)
DOUBT = 0.10                  # a question's rule match the classifier puts below this gets a check-in (not danger, pills)
SPANISH = 0.50                # lingua's Spanish confidence from which a message is answered in Spanish
MIN_WORDS = 3                 # a shorter message changes the language of the replies only when sure
SHORT_SURE = 0.90

ESCALATE_ACTION, CHECK_ACTION, INFO_ACTION, NONE_ACTION = "escalate", "check", "info", "none"
CHECK_TIER = "check"          # the staff queue's tier for a check-in (below every crisis tier)
INTENTS = {**{f"crisis_{tier}": tier for tier in TIERS}, "crisis_check": CHECK_TIER}
LINE_SLOT = "crisis_line"     # only a question asked for information gets it (its FAQ answer, then the line)
ANSWER_ENTITY = "crisis_answer"  # a check-in on a FAQ question: the answer first, then the check-in
SLOT_ENTITIES = ("crisis_situation", "crisis_language", LINE_SLOT, ANSWER_ENTITY)

# signs that call for 911 first, whoever it is: the bystander advice, never "Poison Help first"
DANGER_RULES = {"not_breathing", "unresponsive", "blue_lips", "wont_wake", "seizure_now", "es_not_breathing"}
# Signs of danger, and pills taken: a contested report of them ("she passed away last year and i
# took all her pills"; "visiting hours for where my mom stayed last year... his breathing isn't
# normal") is lowered to a check-in only when the classifier reads no crisis at all (under CHECK),
# not merely when it is unsure
TAKING_RULES = {"took_a_number", "took_too_many", "all_the_pills", "overdose_recent", "child_swallowed",
                "es_overdose", "plan_to_take_them_all"}
# someone other than the writer, named by a word about a person ("my mom", "mi hermano")
_PERSON = re.compile(r"\b(mom|mum|mother|dad|father|husband|wife|son|daughter|brother|sister|friend|roommate|"
                     r"boyfriend|girlfriend|bf|gf|partner|baby|kid|grandma|grandpa|uncle|aunt|cousin|mama|papa|"
                     r"hermano|hermana|hijo|hija|esposo|esposa|amigo|amiga|novio|novia|abuela|abuelo|primo|prima)\b")
# a young child, in English and Spanish (the classifier's "who" is the other half of this)
_AGE = r"([1-6](\.5)?|one|two|three|four|five|six|\d{1,2} ?months?|uno|un|dos|tres|cuatro|cinco|seis|\d{1,2} ?mes(es)?)"
_CHILD = re.compile("|".join([
    r"\b(toddler|baby|infant|preschooler|kiddo|grandbaby|crib|daycare|diaper)s?\b",
    r"\blittle (one|boy|girl|guy)\b",
    r"\b([1-6]|one|two|three|four|five|six)[- ]?(year|yr|y/?o)s?[- ]?old\b", r"\b[1-6] ?y/?o\b",
    r"\b\d{1,2} ?months?( old)?\b",
    # "my daughter is three", "my son (4)", "son is 2.5", "shes 4", "mis gemelos de 3", "tiene 3"
    r"\b(son|daughter|niece|nephew|grandson|granddaughter|kid|child|twins?|boy|girl)( is|,)? \(?" + _AGE + r"\b",
    r"\b(he|she|hes|shes|he's|she's|he is|she is|tiene) " + _AGE + r"\b",
    r"\bkid (swallowed|ate|got into|chewed|took)\b",
    r"\b(hij[oa]|nin[oa]|nene|nena|bebe|beba|chamac\w*|chamaquit[oa]|gemel[oa]s|niet[oa]|sobrin[oa]) de " + _AGE + r"\b",
    r"\b(el|la|mi|mis|los|las) (nin[oa]s?|nene|nena|bebe|beba)\b",
    r"\b(bebe|nene|nena|beba|chiquit[oa]|chamaquit[oa]|hijit[oa]|nietecit[oa])\b",
    r"\b" + _AGE + r" (anos|anitos|añitos)\b",
]))
# a subject who is someone else, and words about the writer (whom an emergency is about, with the classifier's "who")
_OTHER = re.compile(r"\b(he|she|hes|shes|he's|she's|they|theyre|someone|somebody|el|ella|alguien)\b")
_SELF = re.compile(r"\b(i|im|i'm|ive|i've|me|myself|yo|estoy|tome|me tome)\b")
# answers to "Are you safe right now?" that mean no
_NOT_SAFE = re.compile(r"^\s*(no+|nope|nah|not really|i'?m not|im not|not safe|no i'?m not|no estoy|no me siento)\b",
                       re.I)


@dataclass
class Decision:
    action: str = NONE_ACTION            # escalate | check | info | none
    tier: Optional[str] = None           # escalate: emergency/suicide/medical; check: check; info: the topic's tier
    source: Optional[str] = None         # rules | classifier
    situation: str = "none"              # emergency: self | other | child
    language: Optional[str] = None       # en | es: the language of the reply; None: too short to tell
    triggers: List[str] = field(default_factory=list)
    rules: List[str] = field(default_factory=list)
    score: Optional[float] = None        # the classifier's probability of a crisis
    likely_tier: Optional[str] = None    # the classifier's most likely crisis tier
    nearest: List[Dict[str, Any]] = field(default_factory=list)
    reason: str = ""

    @property
    def is_crisis(self) -> bool:
        return self.action in (ESCALATE_ACTION, CHECK_ACTION)

    @property
    def intent(self) -> Optional[str]:
        if self.action == ESCALATE_ACTION:
            return f"crisis_{self.tier}"
        if self.action == CHECK_ACTION:
            return "crisis_check"
        return None  # a question asked for information keeps its FAQ intent

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def slots(self) -> Dict[str, str]:
        """The values the crisis replies' variations are chosen by (domain/crisis.yml)."""
        slots = {"crisis_situation": self.situation, "crisis_language": self.language,
                 LINE_SLOT: "988" if (self.tier if self.tier in TIERS else self.likely_tier) == "suicide" else "911"}
        return {name: value for name, value in slots.items() if value is not None}


class CrisisScreen:
    """The rules, the semantic classifier and the language of a message, loaded once."""

    def __init__(self, detector: CrisisDetector, semantic=None, language=None,
                 escalate: float = ESCALATE, check: float = CHECK, veto: float = VETO,
                 contested: float = CONTESTED) -> None:
        self.detector = detector
        self.escalate, self.check, self.veto, self.contested = escalate, check, veto, contested
        self.semantic = semantic      # None: rules only (the classifier could not be loaded)
        self.language = language or spanish_confidence

    def language_of(self, text: str) -> Optional[str]:
        """es or en. A message of one or two words ("no", "ok", "si") says which only when the
        detector is sure ("quiero morir"); otherwise None, and the conversation's language stays
        as it was (English at the start: the slot's initial value)."""
        confidence = self.language(text)
        if len(re.findall(r"[^\W\d_]{2,}", text)) < MIN_WORDS:
            return "es" if confidence >= SHORT_SURE else ("en" if confidence <= 1 - SHORT_SURE else None)
        return "es" if confidence >= SPANISH else "en"

    def screen(self, text: str) -> Decision:
        text = text or ""
        if not text.strip():
            return Decision(reason="empty message")
        normal = normalise(text)
        folded = _fold_repeats(normal)
        rules = self.detector.detect(folded)
        single = _fold_repeats(normal, keep=1)  # "breathinggg" -> "breathing", where two letters were not enough
        if single != folded and not rules.is_crisis:
            rules = self.detector.detect(single)
        decision = Decision(language=self.language_of(text))
        score = None
        if self.semantic is not None and re.search(r"[^\W\d_]", text):  # emoji or digits alone: the rules
            try:
                score = self.semantic.score(text, _signals(rules))
            except Exception:  # the rules still decide; a missed semantic score is logged loudly
                logger.exception("the semantic crisis classifier failed on a message; rules only")
        if score is not None:
            decision.score, decision.likely_tier = round(score.crisis, 4), score.tier
            decision.nearest = score.nearest
        vetoed = rules.is_crisis and not rules.strong and score is not None and score.crisis < self.veto
        # words about the past, a frame or a joke, and the classifier does not confirm a crisis
        # (signs of danger and pills taken: only when it reads no crisis at all)
        serious = bool((DANGER_RULES | TAKING_RULES) & set(rules.rules))
        contested = (rules.contested and score is not None
                     and score.crisis < (self.check if serious else self.contested))
        doubted = (rules.is_crisis and rules.question and score is not None and score.crisis < DOUBT
                   and not serious)
        if vetoed:
            decision.action, decision.tier, decision.source = INFO_ACTION, rules.tier, "rules"
            decision.triggers = rules.triggers
            decision.reason = (f"weak rule {', '.join(rules.rules)} matched, but the classifier read no crisis "
                               f"({score.crisis:.2f}): answered as a question, with its line")
        elif rules.is_crisis and (contested or doubted):
            decision.action, decision.tier, decision.source = CHECK_ACTION, CHECK_TIER, "rules"
            decision.triggers, decision.rules = rules.triggers, rules.rules
            why = ("words about the past, a frame or a joke speak against it happening now" if contested
                   else "the classifier reads no crisis")
            decision.reason = (f"rule {', '.join(rules.rules)} matched: {', '.join(rules.triggers)}; but {why} "
                               f"({score.crisis:.2f}), so the assistant checks in")
        elif rules.is_crisis:
            decision.action, decision.tier, decision.source = ESCALATE_ACTION, rules.tier, "rules"
            decision.triggers, decision.rules = rules.triggers, rules.rules
            decision.reason = f"rule {', '.join(rules.rules)} matched: {', '.join(rules.triggers)}"
        elif score is not None and score.crisis >= self.escalate and not contested:
            decision.action, decision.tier, decision.source = ESCALATE_ACTION, score.tier, "classifier"
            decision.triggers = [score.piece[:120]]
            decision.reason = f"classifier: {score.crisis:.2f} that this is a crisis ({score.tier})" + _near(score)
        elif score is not None and score.crisis >= self.check:
            decision.action, decision.tier, decision.source = CHECK_ACTION, CHECK_TIER, "classifier"
            decision.triggers = [score.piece[:120]]
            decision.reason = (f"classifier unsure: {score.crisis:.2f} that this is a crisis "
                               f"({score.tier}), so the assistant checks in") + _near(score)
        elif rules.suppressed:
            decision.action, decision.tier, decision.source = INFO_ACTION, rules.suppressed_tier, "rules"
            decision.triggers = rules.suppressed
            decision.reason = f"a question asked for information about {', '.join(rules.suppressed)}"
        else:
            decision.reason = "no crisis words" if score is None else f"classifier: {score.crisis:.2f}"
        if decision.action == ESCALATE_ACTION and decision.tier == "emergency":
            decision.situation = _situation(folded, rules, score)
            tiers = {r: self.detector.tier_of(r) for r in decision.rules}
            emergency_rules = {r for r, tier in tiers.items() if tier == "emergency"}
            wish = (decision.situation == "self" and emergency_rules == {"wont_wake"} and "suicide" in tiers.values()
                    and not _PERSON.search(folded))
            if wish:
                # "going to sleep and not waking up sounds nice": the writer's wish, not an overdose
                decision.tier, decision.situation = "suicide", "none"
                decision.reason += "; the writer speaks of not waking up, with words about suicide: the suicide reply"
        return decision


def _situation(folded: str, rules, score) -> str:
    """self, other or child, for the emergency reply. A young child only when the message says
    so (the child reply sends Poison Help first); signs of danger now (not breathing, will not
    wake, seizing) always get the 911-first reply, for the writer or for someone else."""
    danger = bool(DANGER_RULES & set(rules.rules))
    other_words = bool(_OTHER.search(folded))
    if _CHILD.search(folded) and not danger:
        return "child"
    who = score.who if score is not None else ("self" if _SELF.search(folded) else "other")
    if who == "self" and not other_words:
        return "self"
    return "other"


def _signals(result) -> List[float]:
    from bot.crisis.semantic import signals

    return signals(result)


def _near(score) -> str:
    return "; nearest examples: " + " | ".join(f"{n['text'][:60]} ({n['tier']})" for n in score.nearest)


def _fold_repeats(text: str, keep: int = 2) -> str:
    """"killlll" -> "kill", "plzzzzz" -> "plzz": three or more of a letter become two (or one)."""
    return re.sub(r"(\w)\1{2,}", r"\1" * keep, text)


@lru_cache(maxsize=1)
def _lingua():
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SPANISH) \
        .with_preloaded_language_models().build()


def spanish_confidence(text: str) -> float:
    """How likely the message is Spanish (lingua, English and Spanish only)."""
    from lingua import Language

    letters = re.sub(r"[^\w\s']", " ", text)
    if not re.search(r"[^\W\d_]", letters):
        return 0.0  # emoji or numbers only
    return _lingua().compute_language_confidence(letters, Language.SPANISH)


# -- one screen per process ------------------------------------------------------------------

_SCREENS: Dict[tuple, CrisisScreen] = {}


def load(patterns_path=None, semantic_path=None) -> CrisisScreen:
    """The screen (rules, classifier, language), loaded at start-up, not on a message. It is
    loaded again when its files change (a new model after `make train` brings a new classifier)."""
    from bot.crisis.detector import PATTERNS_PATH
    from bot.crisis.semantic import MODEL_PATH, SemanticClassifier, SemanticError, encoder
    from bot.nlu.spacy_pipeline import shared_pipeline

    patterns, semantic_file = Path(patterns_path or PATTERNS_PATH), Path(semantic_path or MODEL_PATH)
    key = tuple((str(p), p.stat().st_mtime_ns if p.exists() else None) for p in (patterns, semantic_file))
    if key not in _SCREENS:
        detector = CrisisDetector(shared_pipeline(), patterns_path=patterns)
        try:
            semantic = SemanticClassifier(semantic_file)
            encoder()
        except SemanticError as problem:
            logger.critical("%s. Until then only the crisis rules screen messages.", problem)
            semantic = None
        except Exception:  # a damaged file or encoder: the rules still screen every message
            logger.critical("the semantic crisis classifier could not be loaded from %s; only the crisis "
                            "rules screen messages. Run `make crisis-model`.", semantic_file, exc_info=True)
            semantic = None
        _lingua()
        _SCREENS.clear()
        _SCREENS[key] = CrisisScreen(detector, semantic)
    return _SCREENS[key]


# -- what the channels ask of a parsed message --------------------------------------------

def decision_of(parse: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """The decision stored in a message's parse data, or None."""
    return (parse or {}).get(PARSE_KEY) or None


def is_crisis(parse: Optional[Mapping[str, Any]]) -> bool:
    """Whether a parsed message is a crisis or a check-in (a message that could not be screened
    counts as one: it is answered)."""
    if parse is None:
        return True
    return (decision_of(parse) or {}).get("action") in (ESCALATE_ACTION, CHECK_ACTION)


def tier_of(parse: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The tier of a crisis or check-in, else None."""
    decision = decision_of(parse) or {}
    return decision.get("tier") if decision.get("action") in (ESCALATE_ACTION, CHECK_ACTION) else None


def says_no(parse_or_intent, text: str) -> bool:
    """Whether a message may be a "no" (to the suicide reply's "Are you safe right now?")."""
    intent = parse_or_intent if isinstance(parse_or_intent, str) or parse_or_intent is None else \
        ((parse_or_intent.get("intent") or {}).get("name"))
    return intent == "deny" or bool(_NOT_SAFE.match(text or ""))


def escalation_of(data: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """A sent message's escalation payload ({"custom": {"escalation": ...}}), else {}."""
    escalation = ((data or {}).get("custom") or {}).get("escalation")
    return escalation if isinstance(escalation, dict) else {}


def escalation_tier(data: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The tier of a sent message's escalation payload, else None."""
    return escalation_of(data).get("tier")


def language_so_far(sent: Sequence[Optional[Mapping[str, Any]]]) -> str:
    """The language of the conversation's last crisis reply (its messages' data, oldest first),
    for a message too short to tell; English when there was none."""
    for data in reversed(sent):
        lang = escalation_of(data).get("lang")
        if lang in ("en", "es"):
            return lang
    return "en"


def asked_if_safe(turns: Sequence[Tuple[str, Optional[str]]]) -> bool:
    """Whether the bot's last crisis reply since the visitor last wrote was the suicide tier's
    "Are you safe right now?". ``turns``: (role, escalation tier) of the conversation's messages,
    oldest first, without the message being screened."""
    for role, tier in reversed(turns):
        if role == "visitor":
            return False
        if role == "bot" and tier:
            return tier == "suicide"
    return False


def reply(responses: Mapping[str, Any], name: str, slots: Mapping[str, Any],
          channel: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The variation of a domain response that Rasa would send with these slots."""
    from rasa.core.nlg.response import ResponseVariationFilter

    suitable = ResponseVariationFilter(dict(responses)).responses_for_utter_action(name, channel, dict(slots))
    return suitable[0] if suitable else None


def reply_name(decision: Mapping[str, Any]) -> Optional[str]:
    """The crisis response for a decision (None: no crisis)."""
    if decision.get("action") == ESCALATE_ACTION:
        return f"utter_crisis_{decision['tier']}"
    if decision.get("action") == CHECK_ACTION:
        return "utter_crisis_check_in"
    return None


def slots_of(decision: Mapping[str, Any]) -> Dict[str, str]:
    return Decision(**{k: v for k, v in decision.items() if k in Decision.__dataclass_fields__}).slots()


def staff_detail(decision: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """What staff are shown of a decision (kept with the handoff request): why, and how sure."""
    if not decision or decision.get("action") not in (ESCALATE_ACTION, CHECK_ACTION):
        return None
    return {key: decision.get(key) for key in ("action", "tier", "source", "reason", "score", "language",
                                               "situation")} | {
        "nearest": [n.get("text") for n in decision.get("nearest") or []]}
