import pytest
from rasa_sdk.events import SlotSet

from actions.callback import (ActionDeclineCallback, ActionSubmitCallback, ValidateCallbackForm,
                              answer_text, normalise_us_phone)
from tests.actions.conftest import tracker, user_uttered


@pytest.mark.parametrize("text, expected", [
    ("(412) 555-0134", "412-555-0134"),
    ("+1 412 555 0134", "412-555-0134"),
    ("412.555.0134", "412-555-0134"),
    ("14125550134", "412-555-0134"),
    ("412-555-013", None),          # too short
    ("555-123-4567", None),         # exchange cannot start with 1
    ("012-555-0134", None),         # area code cannot start with 0
    ("412 555 0134 ext 2", None),
    ("call me maybe", None),
    ("", None),
    (None, None),
])
def test_us_phone_numbers(text, expected):
    assert normalise_us_phone(text) == expected


def asked(slot, text, intent, **parse):
    return tracker([user_uttered(text, intent, **parse)], slots={"requested_slot": slot}, active_loop="callback_form")


@pytest.mark.parametrize("slot, text, intent, expected", [
    ("callback_phone", "412 555 0134", "nlu_fallback", "412 555 0134"),
    ("callback_phone", "412 555 0134", "faq", "412 555 0134"),   # digits win over a FAQ guess
    ("callback_phone", "blorp", "nlu_fallback", "blorp"),         # gets "not a phone number"
    ("callback_phone", "is it safe in pregnancy", "faq", None),   # answered, then asked again
    ("callback_phone", "my friend is not breathing 911", "crisis_emergency", None),  # crisis first
    ("callback_phone", "never mind", "cancel", None),
    ("callback_time", "weekday mornings", "nlu_fallback", "weekday mornings"),
    ("callback_time", "after work", "faq", "after work"),         # not a question: an answer
    ("callback_time", "how long is rehab?", "faq", None),
    ("callback_time", "i want to die", "crisis_suicide", None),
    ("callback_time", "/affirm", "affirm", None),
    ("callback_time", "ok", "affirm", None),                      # small talk is not a time
    ("callback_time", "weekday mornings", "greet", "weekday mornings"),  # "good morning" to the classifier
    ("callback_time", "thanks", "thanks", None),
])
def test_what_counts_as_an_answer(slot, text, intent, expected):
    assert answer_text(asked(slot, text, intent), slot) == expected


def test_an_answer_only_for_the_slot_being_asked():
    assert answer_text(asked("callback_time", "412 555 0134", "nlu_fallback"), "callback_phone") is None


async def test_form_extracts_and_validates_a_phone_number(dispatcher):
    form = ValidateCallbackForm()
    t = asked("callback_phone", "(412) 555-0134", "nlu_fallback")
    assert await form.extract_callback_phone(dispatcher, t, {}) == {"callback_phone": "(412) 555-0134"}
    assert form.validate_callback_phone("(412) 555-0134", dispatcher, t, {}) == {"callback_phone": "412-555-0134"}
    assert dispatcher.messages == []


def test_invalid_phone_is_explained_and_asked_again(dispatcher):
    result = ValidateCallbackForm().validate_callback_phone("12345", dispatcher, asked("callback_phone", "12345", "nlu_fallback"), {})
    assert result == {"callback_phone": None}
    assert [m["response"] for m in dispatcher.messages] == ["utter_invalid_phone"]


@pytest.mark.parametrize("value, ok", [("mornings", True), ("  ", False), ("x" * 200, False)])
def test_best_time(dispatcher, value, ok):
    result = ValidateCallbackForm().validate_callback_time(value, dispatcher, asked("callback_time", value, "nlu_fallback"), {})
    assert result == {"callback_time": value.strip() if ok else None}
    assert bool(dispatcher.messages) is not ok


async def test_submit_stores_the_callback_with_consent_and_clears_the_number(configure, dispatcher):
    store = configure()
    slots = {"callback_consent": True, "callback_phone": "412-555-0134", "callback_time": "mornings"}
    events = await ActionSubmitCallback().run(dispatcher, tracker([], slots=slots), {})
    [saved] = store.callbacks()
    assert (saved.conversation_id, saved.phone, saved.best_time, saved.consent) == ("visitor-1", "412-555-0134", "mornings", True)
    assert dispatcher.messages[0]["response"] == "utter_callback_saved"
    assert SlotSet("callback_phone", None) in events and SlotSet("callback_offered", False) in events


async def test_nothing_is_stored_without_consent(configure, dispatcher):
    store = configure()
    slots = {"callback_consent": None, "callback_phone": "412-555-0134", "callback_time": "mornings"}
    await ActionSubmitCallback().run(dispatcher, tracker([], slots=slots), {})
    assert store.callbacks() == []
    assert dispatcher.messages == []


async def test_database_failure_on_submit_is_told_to_the_visitor(configure, dispatcher):
    configure(broken_store=True)
    slots = {"callback_consent": True, "callback_phone": "412-555-0134", "callback_time": "mornings"}
    await ActionSubmitCallback().run(dispatcher, tracker([], slots=slots), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff_unavailable"]


async def test_decline_clears_everything(dispatcher):
    events = await ActionDeclineCallback().run(dispatcher, tracker([]), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_callback_declined"]
    assert SlotSet("callback_offered", False) in events and SlotSet("callback_phone", None) in events
