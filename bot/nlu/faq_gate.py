"""Rasa NLU component: no confident wrong FAQ answer.

``FallbackClassifier`` only looks at the intent. For the retrieval intent
``faq`` the answer is chosen by the topic selector; when *its* top
confidence is low, or its top two answers are too close, this component turns
the intent into ``nlu_fallback`` so the assistant asks to rephrase and offers
the likely topics instead of answering.

The other way round, the intent classifier can be pulled off a FAQ question by
one word it has seen elsewhere ("signs of overdose" -> goodbye, because of
"i'm signing off"). When the intent is one of the small-talk intents but the
topic selector is very sure of one FAQ topic, the message is a FAQ question.

And a question about another medicine ("how much melatonin can a kid take") must
never get a clonazepam answer: a FAQ question that names a medicine listed in
``data/scope/other_medicines.yml`` and none of the assistant's own topics becomes
``out_of_scope``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Pattern, Text, Tuple

import yaml

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY
from rasa.shared.nlu.training_data.message import Message

from bot import PROJECT_ROOT
from bot.nlu.linear import message_text

SCOPE_FILE = PROJECT_ROOT / "data" / "scope" / "other_medicines.yml"


def _words(terms: List[str]) -> Optional[Pattern[str]]:
    terms = [t for t in terms if t]
    if not terms:
        return None
    alternatives = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


def load_scope(path: Path = SCOPE_FILE) -> Dict[str, Any]:
    """The two word lists; a broken file fails loudly (at start-up, not per message)."""
    spec = yaml.safe_load(Path(path).read_text()) or {}
    lists = ("our_topics", "other_medicines")
    if not isinstance(spec, dict) or not all(isinstance(spec.get(k, []), list) for k in lists):
        raise ValueError(f"{path}: expected the lists 'our_topics' and 'other_medicines'")
    ours, other = ([t.strip().lower() for t in spec.get(k, []) if isinstance(t, str)]
                   for k in ("our_topics", "other_medicines"))
    both = set(ours) & set(other)
    if both:
        raise ValueError(f"{path}: in both lists: {', '.join(sorted(both))}")
    return {"ours": _words(ours), "other": _words(other), "our_lemmas": {t for t in ours if " " not in t}}


def _set_intent(message: Message, intent: Dict[Text, Any], why: Dict[Text, Any]) -> None:
    """Replace the intent; it heads the ranking, the classifier's view stays below it."""
    ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != intent["name"]]
    message.set(INTENT, intent, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [intent] + ranking, add_to_output=True)
    message.set("faq_gate", why, add_to_output=True)


def _top_two(ranking: List[Dict[Text, Any]]) -> Tuple[float, float]:
    top = ranking[0].get("confidence", 0.0)
    return top, ranking[1].get("confidence", 0.0) if len(ranking) > 1 else 0.0


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class FaqConfidenceGate(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "retrieval_intent": "faq",
            "threshold": 0.5,
            "ambiguity_threshold": 0.1,
            # small-talk intents a very confident FAQ topic overrides
            "rescue_from": ["out_of_scope", "nlu_fallback", "goodbye", "greet", "thanks", "help",
                            "bot_challenge"],
            "rescue_threshold": 0.9,
            "rescue_margin": 0.5,
            # word lists for other medicines; empty means data/scope/other_medicines.yml
            "scope": "",
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.config = config
        self.scope = load_scope(Path(config["scope"]) if config.get("scope") else SCOPE_FILE)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "FaqConfidenceGate":
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._rescue(message)
            if self._about_another_medicine(message):
                continue
            if self._unsure(message):
                confidence = (message.get(INTENT) or {}).get("confidence", 0.0)
                _set_intent(message, {"name": "nlu_fallback", "confidence": self.config["threshold"]},
                            {"intent_confidence": confidence})
        return messages

    def _about_another_medicine(self, message: Message) -> bool:
        intent = message.get(INTENT) or {}
        if intent.get("name") not in (self.config["retrieval_intent"], "nlu_fallback"):
            return False
        text = message.get("text") or ""
        other, ours = self.scope["other"], self.scope["ours"]
        found = other.search(text) if other else None
        if found is None or (ours and ours.search(text)):
            return False
        # misspellings the project's spaCy pipeline knows ("klonopn") have the lemma "clonazepam"
        if any(word in self.scope["our_lemmas"] for word in message_text(message).split()):
            return False
        _set_intent(message, {"name": "out_of_scope", "confidence": 1.0},
                    {"other_medicine": found.group(0).lower(), "was": intent.get("name")})
        return True

    def _selector_ranking(self, message: Message) -> List[Dict[Text, Any]]:
        selector = (message.get("response_selector") or {}).get(self.config["retrieval_intent"]) or {}
        return selector.get("ranking") or []

    def _rescue(self, message: Message) -> None:
        intent = message.get(INTENT) or {}
        if intent.get("name") not in self.config["rescue_from"]:
            return
        ranking = self._selector_ranking(message)
        if not ranking:
            return
        top, second = _top_two(ranking)
        if top >= self.config["rescue_threshold"] and top - second >= self.config["rescue_margin"]:
            _set_intent(message, {"name": self.config["retrieval_intent"], "confidence": top},
                        {"rescued_from": intent.get("name")})

    def _unsure(self, message: Message) -> bool:
        intent = message.get(INTENT) or {}
        name = self.config["retrieval_intent"]
        if intent.get("name") != name:
            return False
        ranking = self._selector_ranking(message)
        if not ranking:
            return True
        top, second = _top_two(ranking)
        return top < self.config["threshold"] or top - second < self.config["ambiguity_threshold"]
