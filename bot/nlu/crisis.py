"""Rasa NLU component: the crisis screen (bot/crisis/decide.py), run on every message.

Placed last in the pipeline so nothing overrides it. The screen's decision goes into the
message's parse data under ``crisis`` (action, tier, situation, language, reason), and:

* a crisis: the intent becomes ``crisis_<tier>`` with confidence 1.0 (data/rules/crisis.yml);
* a check-in: ``crisis_check``; the assistant asks whether the visitor is safe. When the message
  is also a FAQ question (the intent before the screen was ``faq``: "I overdosed years ago, what
  are the signs I should teach my family?"), it gets the entity ``crisis_answer`` too, and a rule
  sends the FAQ answer before the check-in: a question is answered, and the visitor still asked;
* a question asked for information about overdose or suicide keeps its FAQ intent and gets the
  entity ``crisis_line`` (911 or 988): a rule answers it with the FAQ answer and that line;
* a crisis intent from the statistical classifier that the screen did not confirm becomes
  ``nlu_fallback``: only the screen escalates.

It also adds two entities to every screened message, ``crisis_situation`` (self, other,
child) and ``crisis_language`` (en, es, left out when the message is too short to tell), which
fill the slots the crisis replies' variations are chosen by (domain/crisis.yml). The dialogue
never sees those two; it sees ``crisis_line``, which only a question asked for information gets.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.crisis import decide

FALLBACK_INTENT = "nlu_fallback"
EXTRACTOR = "CrisisRules"  # the extractor named on the slot-filling entities


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class CrisisRules(GraphComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"patterns": ""}  # patterns file; empty means data/crisis/patterns.yml

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.config = config
        self._screen: Optional[decide.CrisisScreen] = None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "CrisisRules":
        component = cls(config)
        component.screen  # load now: a broken patterns file fails at start-up, the encoder is warm
        return component

    @property
    def screen(self) -> decide.CrisisScreen:
        if self._screen is None:
            self._screen = decide.load(patterns_path=self.config.get("patterns") or None)
        return self._screen

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._process(message)
        return messages

    def _process(self, message: Message) -> None:
        text = message.get(TEXT) or ""
        if not text.strip() or text.startswith("/"):
            return  # a button's intent payload: nothing the visitor wrote
        decision = self.screen.screen(text)
        message.set(decide.PARSE_KEY, decision.as_dict(), add_to_output=True)
        slots = decision.slots()
        if decision.action != decide.INFO_ACTION:
            slots.pop(decide.LINE_SLOT)
        intent = message.get(INTENT) or {}
        if decision.action == decide.CHECK_ACTION and intent.get("name") == "faq":
            slots[decide.ANSWER_ENTITY] = "faq"  # the FAQ answer first, then the check-in
        entities = list(message.get(ENTITIES) or [])
        entities += [{"entity": name, "value": value, "start": 0, "end": 0, "extractor": EXTRACTOR}
                     for name, value in slots.items()]
        message.set(ENTITIES, entities, add_to_output=True)

        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != FALLBACK_INTENT]
        name = decision.intent  # None for a question asked for information: its intent stays, then the line
        if name is None:
            if intent.get("name") in decide.INTENTS:  # the statistical classifier alone never escalates
                message.set(INTENT, {"name": FALLBACK_INTENT, "confidence": intent.get("confidence", 0.0)},
                            add_to_output=True)
            return
        new = {"name": name, "confidence": 1.0}
        message.set(INTENT, new, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [new] + [r for r in ranking if r.get("name") != name], add_to_output=True)


def hide_slot_entities_from_tests() -> None:
    """`rasa test --e2e` compares every entity a message got with those its test story names.
    The screen's entities are no part of what the visitor said and carry no position in the
    text, so the conversation tests leave them out of that comparison (bot/ops/rasa_cli.py); a test
    story still names ``crisis_line`` where the dialogue should answer with the line."""
    import rasa.core.test as core_test

    if getattr(core_test._clean_entity_results, "hides_crisis_slots", False):
        return
    original = core_test._clean_entity_results

    def clean(text, entity_results):
        return original(text, [e for e in entity_results or [] if e.get("entity") not in decide.SLOT_ENTITIES])

    clean.hides_crisis_slots = True
    core_test._clean_entity_results = clean
