from actions.fallback import ActionSuggestTopics, likely_topics
from bot.faq import canonical_question
from tests.actions.conftest import tracker, user_uttered


def selector(*ranked):
    return {"faq": {"ranking": [{"intent_response_key": f"faq/{t}", "confidence": c} for t, c in ranked]}}


def test_likely_topics_are_ranked_and_weak_ones_dropped():
    parse = {"response_selector": selector(("dosage", 0.4), ("overdose_signs", 0.3), ("alcohol", 0.1), ("pregnancy", 0.01))}
    assert likely_topics(parse) == ["dosage", "overdose_signs", "alcohol"]
    assert likely_topics({}) == []


async def test_low_confidence_offers_the_likely_topics_and_a_person(dispatcher):
    events = [user_uttered("klonopin mg thing", "nlu_fallback", 0.3,
                           response_selector=selector(("dosage", 0.4), ("overdose_signs", 0.3)))]
    await ActionSuggestTopics().run(dispatcher, tracker(events), {})
    [message] = dispatcher.messages
    assert message["response"] == "utter_suggest_topics"
    payloads = [b["payload"] for b in message["buttons"]]
    assert payloads == [canonical_question("dosage"), canonical_question("overdose_signs"), "/request_human"]


async def test_with_no_likely_topic_a_person_is_still_offered(dispatcher):
    await ActionSuggestTopics().run(dispatcher, tracker([user_uttered("zzz", "nlu_fallback", 0.1)]), {})
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == ["/request_human"]
