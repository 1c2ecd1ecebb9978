"""The callback form: consent first, a validated US phone number, a best time to call."""
from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from bot.crisis import CRISIS_INTENTS

logger = logging.getLogger(__name__)

MAX_TIME_LENGTH = 120
_NOT_DIGITS = re.compile(r"[\s().\-+]")
_QUESTION_WORDS = {"what", "whats", "how", "why", "can", "could", "is", "are", "does", "do", "will",
                   "would", "should", "who", "which", "where"}
# intents that are never an answer to "what's your number / a good time": the form steps
# aside and the rules handle them (crisis replies, FAQ answers, leaving the form)
# ("greet" is not here: "weekday mornings" can look like "good morning" to the classifier)
NOT_AN_ANSWER = {*CRISIS_INTENTS, "cancel", "deny", "request_human", "bot_challenge", "help", "goodbye",
                 "affirm", "thanks"}
# every slot of the callback, cleared when it is stored, declined or interrupted by a crisis
CALLBACK_RESET = (SlotSet("callback_offered", False), SlotSet("callback_consent", None),
                  SlotSet("callback_phone", None), SlotSet("callback_time", None))


def normalise_us_phone(text: Optional[str]) -> Optional[str]:
    """'(412) 555-0134', '+1 412 555 0134' -> '412-555-0134'; None if it is not a valid US number."""
    if not text:
        return None
    digits = _NOT_DIGITS.sub("", text.strip())
    if not digits.isdigit():
        return None
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    # NANP: area code and exchange cannot start with 0 or 1
    if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
        return None
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"


def answer_text(tracker: Tracker, slot: Text) -> Optional[Text]:
    """The latest message as an answer for `slot`, or None when it is something else."""
    if tracker.get_slot("requested_slot") != slot:
        return None
    message = tracker.latest_message or {}
    text = (message.get("text") or "").strip()
    intent = (message.get("intent") or {}).get("name")
    if not text or text.startswith("/") or intent in NOT_AN_ANSWER:
        return None
    if slot == "callback_phone":
        # digits: a phone attempt, valid or not; unclear text gets "that's not a phone number";
        # anything the assistant understood as something else is handled as that
        return text if any(c.isdigit() for c in text) or intent in ("nlu_fallback", None) else None
    is_question = text.endswith("?") or text.lower().split()[0] in _QUESTION_WORDS
    # a FAQ question is answered, then the form asks again
    return None if intent == "faq" and is_question else text


class ValidateCallbackForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_callback_form"

    async def extract_callback_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        text = answer_text(tracker, "callback_phone")
        return {"callback_phone": text} if text is not None else {}

    async def extract_callback_time(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        text = answer_text(tracker, "callback_time")
        return {"callback_time": text} if text is not None else {}

    def validate_callback_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return {"callback_consent": True if value is True else None}

    def validate_callback_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        phone = normalise_us_phone(value if isinstance(value, str) else None)
        if phone is None:
            dispatcher.utter_message(response="utter_invalid_phone")
        return {"callback_phone": phone}

    def validate_callback_time(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        text = value.strip() if isinstance(value, str) else ""
        if not text or len(text) > MAX_TIME_LENGTH:
            dispatcher.utter_message(response="utter_invalid_time")
            return {"callback_time": None}
        return {"callback_time": text}


class ActionSubmitCallback(Action):
    def name(self) -> Text:
        return "action_submit_callback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        phone, best_time = tracker.get_slot("callback_phone"), tracker.get_slot("callback_time")
        reset = list(CALLBACK_RESET)
        if tracker.get_slot("callback_consent") is not True or not phone or not best_time:
            return reset
        try:
            services.store().add_callback(tracker.sender_id, phone, best_time, consent=True)
        except Exception:
            logger.exception("could not store the callback for %s", tracker.sender_id)
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return reset
        dispatcher.utter_message(response="utter_callback_saved", callback_phone=phone, callback_time=best_time)
        return reset


class ActionDeclineCallback(Action):
    def name(self) -> Text:
        return "action_decline_callback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        dispatcher.utter_message(response="utter_callback_declined")
        return list(CALLBACK_RESET)
