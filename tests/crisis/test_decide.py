"""The one place that decides about a crisis (bot/crisis/decide.py).

The bands of the decision policy are tested with a stand-in classifier whose score is set by the
test, so each test names the band it checks. The situation, language and reply tests use the real
classifier built by `make crisis-model` (the train split; these messages are written for the tests).
"""
from pathlib import Path

import pytest
import yaml

from bot.crisis import decide
from bot.crisis.detector import CrisisDetector
from bot.crisis.semantic import CLASSES, Score
from bot.nlu.spacy_pipeline import shared_pipeline

DOMAIN = Path(__file__).resolve().parents[2] / "domain"


class FixedScore:
    """A classifier that gives every message the same probabilities."""

    def __init__(self, crisis: float, tier: str = "suicide", who: str = "other") -> None:
        rest = {name: 0.0 for name in CLASSES}
        rest["none"], rest[tier] = 1.0 - crisis, crisis
        self.score_ = Score(rest, "piece", [{"text": "an example", "tier": tier, "similarity": 0.9}], who)

    def score(self, text, signals):
        return self.score_


@pytest.fixture(scope="module")
def detector():
    return CrisisDetector(shared_pipeline())


@pytest.fixture(scope="module")
def screen():
    return decide.load()


class Raises:
    """A classifier that fails on every message."""

    def __init__(self, problem: Exception) -> None:
        self.problem = problem

    def score(self, text, signals):
        raise self.problem


def english_screen(detector, semantic):
    return decide.CrisisScreen(detector, semantic, language=lambda text: 0.0)


def fixed(detector, crisis, **kwargs):
    return english_screen(detector, FixedScore(crisis, **kwargs))


# -- the bands ---------------------------------------------------------------------------

def test_explicit_wording_escalates_whatever_the_classifier_says(detector):
    decision = fixed(detector, 0.0).screen("my husband is not breathing")
    assert (decision.action, decision.tier, decision.source) == ("escalate", "emergency", "rules")
    assert "not_breathing" in decision.rules and decision.reason.startswith("rule ")


def test_a_confident_classifier_escalates_without_any_rule(detector):
    decision = fixed(detector, 0.97, tier="suicide").screen("i gave my guitar to my cousin, wont need it where im going")
    assert (decision.action, decision.tier, decision.source) == ("escalate", "suicide", "classifier")
    assert "0.97" in decision.reason and "an example" in decision.reason  # the score and the nearest examples
    assert decision.intent == "crisis_suicide"


def test_the_middle_band_checks_in(detector):
    decision = fixed(detector, 0.6, tier="suicide").screen("honestly whats even the point of anything")
    assert (decision.action, decision.tier, decision.intent) == ("check", "check", "crisis_check")
    assert decision.is_crisis and "checks in" in decision.reason


def test_below_the_check_band_nothing(detector):
    decision = fixed(detector, decide.CHECK - 0.01).screen("how long does the intake call take")
    assert (decision.action, decision.tier, decision.intent) == ("none", None, None)
    assert not decision.is_crisis


def test_a_question_asked_for_information_gets_its_answer_and_a_line(detector):
    decision = fixed(detector, 0.05).screen("what are the signs of an overdose")
    assert (decision.action, decision.intent) == ("info", None)  # the FAQ intent stays
    assert decision.slots()["crisis_line"] == "911"
    suicide = fixed(detector, 0.05, tier="suicide").screen("what are the warning signs of suicide in teens")
    assert suicide.action == "info" and suicide.slots()["crisis_line"] == "988"


def test_a_weak_rule_the_classifier_rejects_becomes_a_question_with_its_line(detector):
    # "mixing" is a weak emergency rule: without the classifier's agreement it is a question
    decision = fixed(detector, 0.05).screen("mixing benzos and painkillers")
    assert (decision.action, decision.tier) == ("info", "emergency") and "weak rule" in decision.reason
    assert fixed(detector, 0.9).screen("mixing benzos and painkillers").action == "escalate"
    # a strong rule is never vetoed
    assert fixed(detector, 0.0).screen("i want to kill myself").action == "escalate"


@pytest.mark.parametrize("text", [
    "lol my sister said she will kill me if i eat her fries",
    "hace como diez anos intente quitarme la vida, ya estoy bien. tienen grupos de apoyo?",
    "what do i say if my friend tells me she wants to die? i want to be prepared",
])
def test_words_about_the_past_a_frame_or_a_joke_lower_a_rule_to_a_check_in(detector, text):
    """Contested: the rules match, but the message speaks of the past, asks to be ready, or jokes.
    Unless the classifier agrees it is a crisis, the assistant checks in: never silence."""
    decision = fixed(detector, decide.CONTESTED - 0.05).screen(text)
    assert (decision.action, decision.tier, decision.source) == ("check", "check", "rules"), decision.reason
    assert decision.rules and "checks in" in decision.reason
    assert fixed(detector, decide.CONTESTED).screen(text).action == "escalate"
    # without the classifier the rules decide alone, as before
    assert english_screen(detector, None).screen(text).action == "escalate"


@pytest.mark.parametrize("text", [
    "my mom passed out from her pills when i was a teenager, she is fine now. do you have family groups?",
    "my friend takes kpins, what do i do if he stops breathing? just to be prepared",
    "sorry, i was asking about visiting hours for where my mom stayed last year. my stepdad is on the couch "
    "and his breathing isnt normal",
    "she passed away last year and i took all her pills",
])
def test_signs_of_danger_and_pills_taken_are_lowered_only_when_the_classifier_reads_no_crisis(detector, text):
    assert fixed(detector, decide.CHECK).screen(text).action == "escalate"
    assert fixed(detector, decide.CHECK - 0.05).screen(text).action == "check"


def test_a_confident_classifier_is_also_lowered_to_a_check_in_by_words_about_the_past(detector):
    text = "when my son was 2 he swallowed one of my pills, poison control helped and he's fine. he's 10 now"
    assert fixed(detector, decide.ESCALATE + 0.01, tier="emergency").screen(text).action == "check"
    assert fixed(detector, decide.CONTESTED, tier="emergency").screen(text).action == "escalate"


@pytest.mark.parametrize("text", [
    "i overdosed years ago and i just took 20 again, cant feel my legs",
    "nothing was wrong last year but right now he is not breathing",
    "hace anos que tomo rivotril y ahorita se tomo todo el frasco, no despierta",
    # fear of the police, a joke as cover, "now" after the past: no contest either
    "will the police come if i call 911? my friend took 30 bars",
    "no es broma, me quiero morir",
    "kms lol for real tho i have the pills",
    "lol i took 40 klonopin",
    "my brother died of an overdose in 2019 and now i want to die too",
])
def test_a_word_about_now_keeps_the_escalation(detector, text):
    assert fixed(detector, 0.1).screen(text).action == "escalate"


def test_the_writers_wish_not_to_wake_up_gets_the_suicide_reply_not_overdose_advice(screen):
    wish = screen.screen("going to sleep and not waking up sounds nice honestly")
    assert (wish.action, wish.tier) == ("escalate", "suicide"), wish.reason
    assert screen.screen("my dad wont wake up and his pill bottle is empty").tier == "emergency"
    assert screen.screen("took the whole bottle, hope im not waking up").tier == "emergency"
    # someone else who will not wake is an emergency, whatever the writer feels
    assert screen.screen("my mom is not waking up and i want to kill myself").tier == "emergency"


def test_a_question_the_classifier_reads_as_no_crisis_checks_in_unless_it_names_danger_now(detector):
    question = "does the intake ask about suicidal thoughts? im nervous about that part"
    assert fixed(detector, decide.DOUBT - 0.05).screen(question).action == "check"
    assert fixed(detector, decide.DOUBT + 0.05).screen(question).action == "escalate"
    # explicit words that are not a question, and signs of danger now, escalate whatever the score
    assert fixed(detector, 0.0).screen("i want to kill myself tonight").action == "escalate"
    assert fixed(detector, 0.0).screen("is he dying?? my husband is not breathing").action == "escalate"


def test_without_a_classifier_the_rules_still_decide(detector):
    rules_only = english_screen(detector, None)
    assert rules_only.screen("she took all her pills and wont wake up").action == "escalate"
    assert rules_only.screen("how long is rehab").action == "none"


def test_a_failing_classifier_leaves_the_rules(detector):
    screen = english_screen(detector, Raises(RuntimeError("boom")))
    assert screen.screen("he is not breathing").tier == "emergency"


# -- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   ", "🙏🙏🙏😭", "HELLLLLLLLP", "ПОМОГИТЕ 救命 help", "1234 5678", "x" * 2000,
                                  "\u200f\u200e", "?!?!?!"])
def test_odd_messages_get_a_decision(screen, text):
    decision = screen.screen(text)
    assert decision.action in ("escalate", "check", "info", "none")


def test_a_crisis_at_the_end_of_a_long_message_is_caught(screen):
    filler = ("My insurance changed in January and I am trying to work out whether the new plan covers the "
              "outpatient program my counselor suggested, and how many sessions a week it would pay for. ")
    text = (filler * 30)[:1900] + " Honestly I took every pill I had an hour ago and I can't stay awake."
    assert len(text) > 1900
    decision = screen.screen(text)
    assert decision.action == "escalate" and decision.tier == "emergency"


def test_repeated_letters_and_capitals(screen):
    assert screen.screen("HE IS NOT BREATHINGGGG").tier == "emergency"
    assert screen.screen("i want to dieeeee").tier == "suicide"


# -- the situation, the language ----------------------------------------------------------

@pytest.mark.parametrize("text, situation", [
    ("i took my whole bottle of klonopin like 20 min ago", "self"),
    ("my brother swallowed all his klonopin and hes barely breathing", "other"),
    ("my 2 year old got into my purse and ate some of my pills", "child"),
    ("mi chamaquito de tres años se comio unas pastillas de mi mama", "child"),
])
def test_emergency_advice_fits_the_situation(screen, text, situation):
    decision = screen.screen(text)
    assert (decision.action, decision.tier, decision.situation) == ("escalate", "emergency", situation)


@pytest.mark.parametrize("text", [
    "mi hijo no despierta, se tomo todas mis pastillas",
    "my 3 year old swallowed some pills and now she wont wake up",
])
def test_a_child_who_will_not_wake_gets_911_first_not_poison_help(screen, text):
    decision = screen.screen(text)
    assert (decision.action, decision.tier, decision.situation) == ("escalate", "emergency", "other")


@pytest.mark.parametrize("text, tier", [
    ("mi esposo se tomo todo el frasco de clonazepam y no despierta", "emergency"),
    ("ya no aguanto mas, me quiero morir", "suicide"),
    ("mi mama dejo el rivotril de golpe y ahora ve gente que no esta en el cuarto", "medical"),
])
def test_spanish_in_every_tier_is_answered_in_spanish(screen, text, tier):
    decision = screen.screen(text)
    assert (decision.action, decision.tier, decision.language) == ("escalate", tier, "es")


def test_spanglish_is_caught_whichever_language_it_is_answered_in(screen):
    decision = screen.screen("my tia took like 15 pastillas y no responde")
    assert (decision.action, decision.tier) == ("escalate", "emergency")


def test_a_short_reply_keeps_the_conversations_language(screen):
    assert screen.screen("no").language is None and "crisis_language" not in screen.screen("si").slots()
    assert screen.screen("where can i find help for my son").language == "en"


# -- the replies ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def responses():
    merged = {}
    for path in DOMAIN.glob("*.yml"):
        merged.update((yaml.safe_load(path.read_text()) or {}).get("responses") or {})
    return merged


def lines(reply):
    return [line["phone"] for line in reply["custom"]["escalation"]["lines"]]


def test_first_person_overdose_gets_advice_for_the_person_who_took_it(responses):
    reply = decide.reply(responses, "utter_crisis_emergency", {"crisis_situation": "self", "crisis_language": "en"})
    assert "unlock the door" in reply["text"] and "Don't try to make yourself vomit" in reply["text"]
    assert "stay with the person" not in reply["text"] and lines(reply)[0] == "911"


def test_someone_else_gets_bystander_advice(responses):
    reply = decide.reply(responses, "utter_crisis_emergency", {"crisis_situation": "other", "crisis_language": "en"})
    assert "stay with the person" in reply["text"] and "second dose" in reply["text"]
    assert "cannot harm" not in reply["text"]


def test_a_young_child_gets_poison_help_first(responses):
    reply = decide.reply(responses, "utter_crisis_emergency", {"crisis_situation": "child", "crisis_language": "en"})
    assert reply["text"].startswith("Call Poison Help at 1-800-222-1222 now, even if your child seems fine")
    assert "911" in reply["text"] and lines(reply) == ["1-800-222-1222", "911"]


def test_withdrawal_seizure_or_confusion_is_911_first(responses):
    reply = decide.reply(responses, "utter_crisis_medical", {"crisis_language": "en"})
    first_paragraph = reply["text"].split("\n\n")[0]
    assert "call 911 now" in first_paragraph and "urgent care" not in reply["text"]
    assert lines(reply)[0] == "911"


@pytest.mark.parametrize("name, situation", [("utter_crisis_emergency", "other"), ("utter_crisis_emergency", "self"),
                                             ("utter_crisis_emergency", "child"), ("utter_crisis_suicide", None),
                                             ("utter_crisis_medical", None), ("utter_crisis_check_in", None),
                                             ("utter_crisis_not_safe", None)])
def test_every_crisis_reply_has_a_spanish_variation_with_spanish_lines(responses, name, situation):
    slots = {"crisis_language": "es", **({"crisis_situation": situation} if situation else {})}
    reply = decide.reply(responses, name, slots)
    assert reply["custom"]["escalation"]["lang"] == "es"
    assert any(word in reply["text"] for word in ("Llame", "llame", "Quiero"))
    if "988" in lines(reply):
        assert "marque 2" in reply["text"] and "AYUDA" in reply["text"]


def test_the_suicide_reply_keeps_safe_messaging_and_promises_no_person(responses):
    for language in ("en", "es"):
        text = decide.reply(responses, "utter_crisis_suicide", {"crisis_language": language})["text"]
        assert "988" in text and "staff" not in text and "equipo" not in text


# -- what the channels ask -----------------------------------------------------------------

def test_parse_helpers():
    escalated = {"crisis": {"action": "escalate", "tier": "suicide"}}
    check = {"crisis": {"action": "check", "tier": "check"}}
    info = {"crisis": {"action": "info", "tier": "emergency"}}
    assert decide.is_crisis(escalated) and decide.is_crisis(check) and not decide.is_crisis(info)
    assert decide.is_crisis(None)  # could not be screened: answered
    assert decide.tier_of(escalated) == "suicide" and decide.tier_of(check) == "check" and decide.tier_of(info) is None
    assert decide.reply_name(escalated["crisis"]) == "utter_crisis_suicide"
    assert decide.reply_name(check["crisis"]) == "utter_crisis_check_in" and decide.reply_name(info["crisis"]) is None


def test_a_no_counts_only_right_after_are_you_safe():
    assert decide.says_no({"intent": {"name": "deny"}}, "nah") and decide.says_no(None, "no estoy bien")
    assert not decide.says_no({"intent": {"name": "faq"}}, "how long is rehab")
    assert decide.asked_if_safe([("visitor", None), ("bot", "suicide"), ("bot", None)])
    assert not decide.asked_if_safe([("bot", "suicide"), ("visitor", None)])
    assert not decide.asked_if_safe([("visitor", None), ("bot", "emergency")])
    assert not decide.asked_if_safe([])


# -- found in review: the reply's language and situation on short or unusual messages ----------

@pytest.mark.parametrize("text, language", [("quiero morir", "es"), ("tomé 30 pastillas", "es"),
                                            ("no", None), ("ok", None)])
def test_a_short_message_says_its_language_only_when_sure(screen, text, language):
    assert screen.screen(text).language == language


def test_the_first_reply_defaults_to_english_and_a_spanish_chat_keeps_spanish():
    domain = yaml.safe_load((DOMAIN / "crisis.yml").read_text())
    assert domain["slots"]["crisis_language"]["initial_value"] == "en"
    sent = [{"custom": {"escalation": {"tier": "suicide", "lang": "es"}}}, None, {"text": "x"}]
    assert decide.language_so_far(sent) == "es" and decide.language_so_far([]) == "en"


@pytest.mark.parametrize("text, situation", [
    ("my brother swallowed a whole bottle of klonopin", "other"),   # no child named: not the child reply
    ("my 16 year old took a bunch of pills on purpose", "other"),
    ("i overdosed on my klonopin", "self"),
])
def test_whom_an_emergency_is_about(screen, text, situation):
    decision = screen.screen(text)
    assert (decision.action, decision.tier, decision.situation) == ("escalate", "emergency", situation)


def test_rules_alone_tell_the_writer_from_someone_else(detector):
    rules_only = english_screen(detector, None)
    assert rules_only.screen("i took 30 pills and i cant breathe").situation == "self"
    assert rules_only.screen("he took 30 pills and he cant breathe").situation == "other"


def test_emoji_alone_never_reaches_the_classifier(detector):
    # the screen catches a classifier's failure (the rules decide), so count the calls instead
    calls = []

    class Counts:
        def score(self, text, signals):
            calls.append(text)
            raise RuntimeError("scored")

    assert english_screen(detector, Counts()).screen("🙂 " * 700).action == "none" and calls == []


def test_a_damaged_classifier_file_leaves_the_rules(tmp_path):
    broken = tmp_path / "semantic.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip file")
    screen = decide.load(semantic_path=broken)
    assert screen.semantic is None and screen.screen("he is not breathing").tier == "emergency"


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_no_to_the_check_in_still_gets_988_for_someone_not_okay(responses, language):
    # "no estoy bien" and "not okay" are heard as "no": the reply must serve them too
    text = decide.reply(responses, "utter_crisis_check_in_ok", {"crisis_language": language})["text"]
    assert "988" in text and ("not okay" in text or "no se siente bien" in text)
