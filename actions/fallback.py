"""Low confidence: ask to rephrase, offer the most likely topics and a person."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.faq import RETRIEVAL_INTENT, canonical_question

MAX_SUGGESTIONS = 3
MIN_CONFIDENCE = 0.05


def likely_topics(parse_data: Dict[Text, Any], limit: int = MAX_SUGGESTIONS) -> List[str]:
    selector = (parse_data.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {}
    topics = []
    for candidate in selector.get("ranking") or []:
        key = candidate.get("intent_response_key", "")
        if key.startswith(f"{RETRIEVAL_INTENT}/") and candidate.get("confidence", 0) >= MIN_CONFIDENCE:
            topics.append(key.split("/", 1)[1])
    return topics[:limit]


class ActionSuggestTopics(Action):
    def name(self) -> Text:
        return "action_suggest_topics"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        buttons = []
        for topic in likely_topics(tracker.latest_message or {}):
            try:
                question = canonical_question(topic)
            except KeyError:
                continue
            buttons.append({"title": question[:1].upper() + question[1:], "payload": question})
        buttons.append({"title": "Talk to a person", "payload": "/request_human"})
        dispatcher.utter_message(response="utter_suggest_topics", buttons=buttons)
        return []
