from rasa_sdk.events import SlotSet

from actions.handoff import ActionRequestHandoff
from tests.actions.conftest import tracker, user_uttered

CRISIS = {"action": "escalate", "tier": "suicide", "triggers": ["kill myself"], "rules": ["suicide_self"],
          "source": "rules", "reason": "rule suicide_self matched: kill myself", "language": "en"}


def responses(dispatcher):
    return [m["response"] for m in dispatcher.messages]


async def test_crisis_is_recorded_with_tier_and_triggers(configure, dispatcher):
    store = configure(open_now=True)
    events = [user_uttered("i want to kill myself", "crisis_suicide", crisis=CRISIS)]
    result = await ActionRequestHandoff().run(dispatcher, tracker(events), {})
    [request] = store.queue()
    assert (request.conversation_id, request.reason, request.tier) == ("visitor-1", "crisis", "suicide")
    assert request.trigger_phrases == ["kill myself"]
    assert request.message_text == "i want to kill myself"
    assert responses(dispatcher) == ["utter_handoff_crisis_staff"]
    assert SlotSet("callback_offered", False) in result  # no callback questions after a crisis


async def test_crisis_outside_hours_says_so_and_offers_no_form(configure, dispatcher):
    configure(open_now=False)
    events = [user_uttered("i want to kill myself", "crisis_suicide", crisis=CRISIS)]
    result = await ActionRequestHandoff().run(dispatcher, tracker(events), {})
    assert responses(dispatcher) == ["utter_handoff_crisis_offline"]
    assert SlotSet("callback_consent", None) in result


async def test_visitor_request_inside_hours(configure, dispatcher):
    store = configure(open_now=True)
    result = await ActionRequestHandoff().run(dispatcher, tracker([user_uttered("talk to a person", "request_human")]), {})
    [request] = store.queue()
    assert (request.reason, request.tier, request.priority) == ("visitor_request", None, 5)
    assert responses(dispatcher) == ["utter_handoff_connecting"]
    assert result == []


async def test_visitor_request_outside_hours_gives_lines_and_offers_a_callback(configure, dispatcher):
    configure(open_now=False, phone="1-800-555-0100")
    result = await ActionRequestHandoff().run(dispatcher, tracker([user_uttered("talk to a person", "request_human")]), {})
    [message] = dispatcher.messages
    assert message["response"] == "utter_handoff_offline"
    assert message["helpline_phone"] == "1-800-555-0100"
    assert "America/New_York" in message["staff_hours"]
    assert result == [SlotSet("callback_offered", True)]


async def test_without_a_configured_number_no_placeholder_is_shown(configure, dispatcher):
    configure(open_now=False, phone=None)
    await ActionRequestHandoff().run(dispatcher, tracker([user_uttered("talk to a person", "request_human")]), {})
    assert responses(dispatcher) == ["utter_handoff_offline_no_phone"]


async def test_database_failure_still_gives_the_visitor_the_lines(configure, dispatcher):
    configure(broken_store=True)
    result = await ActionRequestHandoff().run(dispatcher, tracker([user_uttered("talk to a person", "request_human")]), {})
    assert responses(dispatcher) == ["utter_handoff_unavailable"]
    assert result == []


def test_the_crisis_handoff_reply_promises_no_person_and_sends_to_the_numbers_now():
    """Inside the hours is not "someone is free": the reply says a person joins only if one is
    free, and not to wait for that."""
    import yaml

    from bot import PROJECT_ROOT

    domain = yaml.safe_load((PROJECT_ROOT / "domain" / "handoff.yml").read_text(encoding="utf-8"))
    variations = domain["responses"]["utter_handoff_crisis_staff"]
    assert len(variations) == 2  # English and Spanish
    for variation in variations:
        text = variation["text"]
        assert "will join this chat." not in text.replace("If a team member is free, they will join this chat.", "")
        assert ("If a team member is free" in text and "Don't wait" in text) or \
               ("Si alguien está disponible" in text and "No espere" in text)
