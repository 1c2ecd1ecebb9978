"""Record a handoff to people (crisis or visitor request) and tell the visitor what happens next."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.callback import CALLBACK_RESET
from bot.crisis import decide

logger = logging.getLogger(__name__)


def tier_just_sent(tracker: Tracker) -> Optional[str]:
    """The tier of a crisis reply sent since the visitor's last message (a "yes" to the check-in
    gets the suicide reply from a rule, not from the screen)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return None
        tier = decide.escalation_tier(event.get("data"))
        if event.get("event") == "bot" and tier:
            return tier
    return None


class ActionRequestHandoff(Action):
    def name(self) -> Text:
        return "action_request_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        message = tracker.latest_message or {}
        crisis = decide.decision_of(message) or {}
        tier = decide.tier_of(message) or tier_just_sent(tracker)
        try:
            staff_online = services.staff_hours().is_open()
            services.store().request_handoff(
                conversation_id=tracker.sender_id,
                reason="crisis" if tier else "visitor_request",
                tier=tier,
                triggers=crisis.get("triggers") or [],
                message_text=message.get("text"),
                detail=decide.staff_detail(crisis),
                live=staff_online,  # in hours the chat channel passes the conversation to staff
            )
        except Exception:  # the visitor must still get the lines
            logger.exception("could not record the handoff for %s", tracker.sender_id)
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return []

        if tier:
            # the crisis reply with the lines has already been sent; no callback questions now
            dispatcher.utter_message(
                response="utter_handoff_crisis_staff" if staff_online else "utter_handoff_crisis_offline"
            )
            return list(CALLBACK_RESET)
        if staff_online:
            dispatcher.utter_message(response="utter_handoff_connecting")
            return []
        phone = services.settings().helpline_phone
        dispatcher.utter_message(
            response="utter_handoff_offline" if phone else "utter_handoff_offline_no_phone",
            staff_hours=services.staff_hours().text,
            helpline_phone=phone or "",
        )
        return [SlotSet("callback_offered", True)]
