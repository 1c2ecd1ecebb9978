"""Rasa NLU component: no confident wrong FAQ answer.

``FallbackClassifier`` only looks at the intent. For the retrieval intent
``faq`` the answer is chosen by the ``ResponseSelector``; when *its* top
confidence is low, or its top two answers are too close, this component turns
the intent into ``nlu_fallback`` so the assistant asks to rephrase and offers
the likely topics instead of answering.

The other way round, the intent classifier can be pulled off a FAQ question by
one word it has seen elsewhere ("signs of overdose" -> goodbye, because of
"i'm signing off"). When the intent is one of the small-talk intents but the
``ResponseSelector`` is very sure of one FAQ topic, the message is a FAQ question.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY
from rasa.shared.nlu.training_data.message import Message


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
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.config = config

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
            if self._unsure(message):
                confidence = (message.get(INTENT) or {}).get("confidence", 0.0)
                fallback = {"name": "nlu_fallback", "confidence": self.config["threshold"]}
                message.set(INTENT, fallback, add_to_output=True)
                ranking = message.get(INTENT_RANKING_KEY) or []
                message.set(INTENT_RANKING_KEY, [fallback] + ranking, add_to_output=True)
                message.set("faq_gate", {"intent_confidence": confidence}, add_to_output=True)
        return messages

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
