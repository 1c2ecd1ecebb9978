"""Rasa NLU component: the crisis rule layer, run on every message.

Placed last in the pipeline so nothing overrides it. When the rules in
``data/crisis/patterns.yml`` escalate, or the statistical classifier is confident
the message is a crisis and the rules saw crisis words in it, the intent becomes ``crisis_<tier>`` with
confidence 1.0 and the details go into ``message["crisis"]`` (tier, trigger
phrases, source), which the handoff action records. The classifier's own
ranking is kept after it.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.crisis import CRISIS_INTENTS, CrisisDetector
from bot.nlp import shared_pipeline

CRISIS_KEY = "crisis"
CHECK_KEY = "crisis_check"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class CrisisRules(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            # the statistical classifier escalates on its own above this confidence
            "classifier_threshold": 0.5,
            # patterns file; empty means data/crisis/patterns.yml
            "patterns": "",
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.config = config
        self._detector: Optional[CrisisDetector] = None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "CrisisRules":
        component = cls(config)
        component.detector  # load now: a broken patterns file must fail at start-up, not per message
        return component

    @property
    def detector(self) -> CrisisDetector:
        if self._detector is None:
            kwargs = {"patterns_path": self.config["patterns"]} if self.config.get("patterns") else {}
            self._detector = CrisisDetector(shared_pipeline(), **kwargs)
        return self._detector

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._process(message)
        return messages

    def _process(self, message: Message) -> None:
        text = message.get(TEXT) or ""
        if not text.strip():
            return
        result = self.detector.detect(text)
        tier, source = result.tier, "rules"
        intent = message.get(INTENT) or {}
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != "nlu_fallback"]
        if tier is None and result.evidence and not result.suppressed and ranking:
            # The classifier's own opinion counts when the rules saw crisis words they
            # did not act on (a weak phrase without its context, distress wording), and
            # not when they read the message as a question about the topic. Alone it
            # raised false alarms on ordinary messages ("smoking can kill you").
            top = ranking[0]
            if top.get("name") in CRISIS_INTENTS and top.get("confidence", 0) >= self.config["classifier_threshold"]:
                tier, source = CRISIS_INTENTS[top["name"]], "classifier"
        if tier is None:
            if intent.get("name") in CRISIS_INTENTS:
                # A crisis intent the rules did not confirm: treat as unsure, and when the
                # classifier was confident, the fallback reply checks in gently with 988
                # (actions/fallback.py) instead of escalating.
                message.set(INTENT, {"name": "nlu_fallback", "confidence": intent.get("confidence", 0.0)}, add_to_output=True)
                if not result.suppressed and intent.get("confidence", 0.0) >= self.config["classifier_threshold"]:
                    message.set(CHECK_KEY, {"tier": CRISIS_INTENTS[intent["name"]],
                                            "confidence": intent.get("confidence")}, add_to_output=True)
            return
        crisis_intent = {"name": f"crisis_{tier}", "confidence": 1.0}
        message.set(INTENT, crisis_intent, add_to_output=True)
        message.set(
            INTENT_RANKING_KEY,
            [crisis_intent] + [r for r in ranking if r.get("name") != crisis_intent["name"]],
            add_to_output=True,
        )
        message.set(
            CRISIS_KEY,
            {"tier": tier, "triggers": result.triggers, "rules": result.rules, "source": source},
            add_to_output=True,
        )
