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
from typing import Any, Dict, List, Optional, Pattern, Text

import yaml

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY
from rasa.shared.nlu.training_data.message import Message

from bot import PROJECT_ROOT

SCOPE_FILE = PROJECT_ROOT / "data" / "scope" / "other_medicines.yml"


def _words(terms: List[str]) -> Optional[Pattern[str]]:
    terms = [t.strip().lower() for t in terms if isinstance(t, str) and t.strip()]
    if not terms:
        return None
    alternatives = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


def load_scope(path: Path = SCOPE_FILE) -> Dict[str, Any]:
    """The two word lists; a broken file fails loudly (at start-up, not per message)."""
    spec = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(spec, dict) or not all(isinstance(spec.get(k, []), list) for k in ("our_topics", "other_medicines")):
        raise ValueError(f"{path}: expected the lists 'our_topics' and 'other_medicines'")
    both = {str(t).lower() for t in spec.get("our_topics", [])} & {str(t).lower() for t in spec.get("other_medicines", [])}
    if both:
        raise ValueError(f"{path}: in both lists: {', '.join(sorted(both))}")
    ours = [str(t).lower() for t in spec.get("our_topics", [])]
    return {"ours": _words(ours), "other": _words(spec.get("other_medicines", [])),
            "our_lemmas": {t for t in ours if " " not in t}}


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
                fallback = {"name": "nlu_fallback", "confidence": self.config["threshold"]}
                message.set(INTENT, fallback, add_to_output=True)
                ranking = message.get(INTENT_RANKING_KEY) or []
                message.set(INTENT_RANKING_KEY, [fallback] + ranking, add_to_output=True)
                message.set("faq_gate", {"intent_confidence": confidence}, add_to_output=True)
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
        doc = message.get("text_spacy_doc")
        if doc is not None and any(token.lemma_.lower() in self.scope["our_lemmas"] for token in doc):
            return False
        out = {"name": "out_of_scope", "confidence": 1.0}
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != out["name"]]
        message.set(INTENT, out, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [out] + ranking, add_to_output=True)
        message.set("faq_gate", {"other_medicine": found.group(0).lower(), "was": intent.get("name")},
                    add_to_output=True)
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
        top = ranking[0].get("confidence", 0.0)
        second = ranking[1].get("confidence", 0.0) if len(ranking) > 1 else 0.0
        if top >= self.config["rescue_threshold"] and top - second >= self.config["rescue_margin"]:
            faq = {"name": self.config["retrieval_intent"], "confidence": top}
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != faq["name"]]
            message.set(INTENT, faq, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [faq] + ranking, add_to_output=True)
            message.set("faq_gate", {"rescued_from": intent.get("name")}, add_to_output=True)

    def _unsure(self, message: Message) -> bool:
        intent = message.get(INTENT) or {}
        name = self.config["retrieval_intent"]
        if intent.get("name") != name:
            return False
        ranking = self._selector_ranking(message)
        if not ranking:
            return True
        top = ranking[0].get("confidence", 0.0)
        second = ranking[1].get("confidence", 0.0) if len(ranking) > 1 else 0.0
        return top < self.config["threshold"] or top - second < self.config["ambiguity_threshold"]
