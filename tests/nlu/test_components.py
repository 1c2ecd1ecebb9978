"""The project's NLU components on Rasa Message objects, as the pipeline calls them."""
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.crisis import CrisisRules
from bot.nlu.faq_gate import FaqConfidenceGate


def message(text, intent, confidence=0.9, ranking=None, selector=None):
    data = {"text": text, "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": ranking or [{"name": intent, "confidence": confidence}]}
    if selector is not None:
        data["response_selector"] = {"faq": {"ranking": [
            {"intent_response_key": f"faq/{t}", "confidence": c} for t, c in selector]}}
    return Message(data=data)


def crisis_rules(**config):
    return CrisisRules({**CrisisRules.get_default_config(), **config})


def test_rules_override_whatever_the_classifier_said():
    [m] = crisis_rules().process([message("my son is not breathing", "faq", 0.99)])
    assert m.get("intent") == {"name": "crisis_emergency", "confidence": 1.0}
    assert m.get("intent_ranking")[0]["name"] == "crisis_emergency"
    assert m.get("intent_ranking")[1]["name"] == "faq"  # the classifier's view is kept
    assert m.get("crisis")["tier"] == "emergency" and m.get("crisis")["source"] == "rules"
    assert "not breathing" in m.get("crisis")["triggers"]


def test_rules_override_the_fallback_intent():
    [m] = crisis_rules().process([message("kms", "nlu_fallback", 0.3)])
    assert m.get("intent")["name"] == "crisis_suicide"


def test_a_question_about_a_crisis_topic_gets_its_answer_and_a_line():
    [m] = crisis_rules().process([message("what are the signs of an overdose", "faq", 0.99)])
    assert m.get("intent")["name"] == "faq" and m.get("crisis")["action"] == "info"  # utter_faq answers
    slots = {e["entity"]: e["value"] for e in m.get("entities")}
    assert slots["crisis_line"] == "911" and slots["crisis_language"] == "en"  # then the line


def test_the_classifier_alone_never_escalates_a_crisis_intent():
    ranking = [{"name": "crisis_suicide", "confidence": 0.9}, {"name": "faq", "confidence": 0.1}]
    [m] = crisis_rules().process([message("how do i pay the bill for my last visit", "crisis_suicide", 0.9, ranking)])
    assert m.get("intent")["name"] == "nlu_fallback" and m.get("crisis")["action"] == "none"


def test_the_semantic_layer_escalates_without_crisis_words():
    [m] = crisis_rules().process([message("just wanted someone to know before i go. bye", "goodbye", 0.8)])
    assert m.get("intent") == {"name": "crisis_suicide", "confidence": 1.0}
    assert m.get("crisis")["source"] == "classifier" and m.get("crisis")["nearest"]


def test_every_screened_message_fills_the_reply_slots():
    [m] = crisis_rules().process([message("mi hijo no respira, se tomo mis pastillas", "faq", 0.5)])
    slots = {e["entity"]: e["value"] for e in m.get("entities")}
    assert slots == {"crisis_situation": m.get("crisis")["situation"], "crisis_language": "es"}  # no line: a crisis
    assert m.get("intent")["name"] == "crisis_emergency"


def test_a_button_payload_is_not_screened():
    [m] = crisis_rules().process([message("/request_human", "request_human")])
    assert m.get("crisis") is None and m.get("intent")["name"] == "request_human"


def test_empty_text_is_ignored():
    [m] = crisis_rules().process([message("   ", "greet")])
    assert m.get("intent")["name"] == "greet"


def gate(**config):
    return FaqConfidenceGate({**FaqConfidenceGate.get_default_config(), **config})


def test_confident_faq_answer_passes():
    [m] = gate().process([message("is it addictive", "faq", 0.99, selector=[("addictive", 0.95), ("get_high", 0.02)])])
    assert m.get("intent")["name"] == "faq"


def test_unsure_topic_becomes_fallback():
    [m] = gate(threshold=0.5).process([message("klonopin thing", "faq", 0.99, selector=[("dosage", 0.3), ("alcohol", 0.2)])])
    assert m.get("intent")["name"] == "nlu_fallback"
    assert m.get("intent_ranking")[0]["name"] == "nlu_fallback"


def test_two_topics_too_close_becomes_fallback():
    [m] = gate(ambiguity_threshold=0.1).process([message("x", "faq", 0.99, selector=[("dosage", 0.52), ("alcohol", 0.48)])])
    assert m.get("intent")["name"] == "nlu_fallback"


def test_a_very_sure_topic_rescues_a_small_talk_guess():
    [m] = gate().process([message("signs of overdose", "goodbye", 0.95, selector=[("overdose_signs", 0.98), ("naloxone", 0.01)])])
    assert m.get("intent") == {"name": "faq", "confidence": 0.98}
    assert m.get("faq_gate") == {"rescued_from": "goodbye"}


def test_no_rescue_from_intents_that_matter_or_when_unsure():
    [m] = gate().process([message("no", "deny", 0.99, selector=[("overdose_signs", 0.98)])])
    assert m.get("intent")["name"] == "deny"
    [m] = gate().process([message("what is metformin", "out_of_scope", 0.99, selector=[("what_is", 0.72), ("dosage", 0.1)])])
    assert m.get("intent")["name"] == "out_of_scope"


def test_a_question_about_another_medicine_never_gets_a_clonazepam_answer():
    [m] = gate().process([message("how much melatonin can a kid take", "faq", 0.9,
                                  selector=[("typical_dose", 0.9), ("what_is", 0.05)])])
    assert m.get("intent")["name"] == "out_of_scope"
    assert m.get("faq_gate") == {"other_medicine": "melatonin", "was": "faq"}
    [m] = gate().process([message("Is Zoloft safe when pregnant?", "nlu_fallback", 0.4, selector=[("pregnancy", 0.4)])])
    assert m.get("intent")["name"] == "out_of_scope"


def test_another_medicine_next_to_clonazepam_or_a_faq_topic_stays_a_faq_question():
    for text in ("can i take klonopin with ibuprofen", "k-pins and advil together?", "is ambien a benzo",
                 "mixing tylenol pm and alcohol"):
        [m] = gate().process([message(text, "faq", 0.9, selector=[("alcohol", 0.9), ("other_benzos", 0.05)])])
        assert m.get("intent")["name"] == "faq", text


def test_misspellings_the_spacy_pipeline_knows_count_as_clonazepam():
    from bot.nlu.spacy_pipeline import shared_pipeline

    text = "can i take klonnopin with zoloft"
    m = message(text, "faq", 0.9, selector=[("alcohol", 0.9), ("other_benzos", 0.05)])
    m.set("text_spacy_doc", shared_pipeline()(text))
    gate().process([m])
    assert m.get("intent")["name"] == "faq"


def test_the_medicine_lists_must_not_overlap(tmp_path):
    import pytest

    from bot.nlu.faq_gate import load_scope

    broken = tmp_path / "scope.yml"
    broken.write_text("our_topics: [klonopin, melatonin]\nother_medicines: [melatonin]\n")
    with pytest.raises(ValueError, match="in both lists: melatonin"):
        load_scope(broken)
    broken.write_text("our_topics: klonopin\n")
    with pytest.raises(ValueError, match="expected the lists"):
        load_scope(broken)


def test_a_check_in_on_a_faq_question_keeps_the_answer_for_before_the_check_in():
    from bot.crisis import decide
    from tests.crisis.test_decide import FixedScore

    rules = crisis_rules()
    rules._screen = decide.CrisisScreen(rules.screen.detector, FixedScore(0.6), language=lambda text: 0.0)
    text = "years ago i tried to kill myself, im fine now. what are the signs of an overdose?"
    [asked] = rules.process([message(text, "faq", 0.9)])
    assert asked.get("intent")["name"] == "crisis_check"
    assert {"entity": "crisis_answer", "value": "faq"} in [
        {"entity": e["entity"], "value": e["value"]} for e in asked.get("entities")]
    [chat] = rules.process([message("honestly whats even the point of anything", "goodbye", 0.5)])
    assert chat.get("intent")["name"] == "crisis_check"
    assert "crisis_answer" not in [e["entity"] for e in chat.get("entities")]  # no FAQ question: the check-in alone
