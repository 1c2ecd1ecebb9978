"""The linear intent classifier and topic selector, trained, saved and loaded as Rasa does."""
import numpy
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.spacy_pipeline import shared_pipeline
from bot.nlu.faq_gate import FaqConfidenceGate
from bot.nlu.linear import MODEL_FILE, LinearIntentClassifier, LinearTopicSelector, message_text

EXAMPLES = {
    "faq/addictive": ["is klonopin addictive", "can you get hooked on clonazepam", "are kpins habit forming",
                      "can i get addicted to my klonopin", "is clonazepam addicting"],
    "faq/alcohol": ["can i drink on klonopin", "is it safe to mix clonazepam and alcohol",
                    "beer with kpins ok?", "what happens if you drink alcohol on klonopin", "klonopin and wine"],
    "greet": ["hi", "hello", "hey there", "good morning", "hiya"],
}
RESPONSES = {"utter_faq/addictive": [{"text": "Yes, it can be."}], "utter_faq/alcohol": [{"text": "Never mix."}]}


def with_doc(text: str, **data) -> Message:
    message = Message(data={"text": text, **data})
    message.set("text_spacy_doc", shared_pipeline()(text))
    return message


def training_data() -> TrainingData:
    examples = []
    for label, texts in EXAMPLES.items():
        intent, _, topic = label.partition("/")
        extra = {"intent_response_key": label} if topic else {}
        examples += [with_doc(text, intent=intent, **extra) for text in texts]
    return TrainingData(training_examples=examples, responses=RESPONSES)


@pytest.fixture
def storage(tmp_path):
    return LocalModelStorage(tmp_path)


def train(cls, storage, name, **config):
    context = ExecutionContext(GraphSchema({}), node_name=name)
    resource = Resource(name)
    component = cls.create({**cls.get_default_config(), **config}, storage, resource, context)
    component.train(training_data())
    return component, resource, context


def test_text_is_folded_to_lemmas_so_misspellings_meet_their_word():
    assert "clonazepam" in message_text(with_doc("is klonapin addictive")).split()
    assert message_text(Message(data={"text": "No Doc Here"})) == "no doc here"


def test_a_model_the_fast_predictor_does_not_know_is_predicted_by_scikit_learn(storage):
    """A model of another shape (here one whose word features are weighted) still classifies,
    through scikit-learn, rather than failing on every message."""
    trained, _, _ = train(LinearIntentClassifier, storage, "intents")
    trained.model.set_params(features__transformer_weights={"words": 2.0, "chars": 1.0})
    [message] = trained.process([with_doc("is klonnopin habit forming")])
    expected = trained.model.predict_proba([message_text(message)])[0].max()
    assert message.get("intent")["name"] == "faq"
    assert abs(message.get("intent")["confidence"] - expected) < 1e-12


@pytest.mark.parametrize("multi_class, labels", [
    ("auto", ["faq/addictive", "faq/alcohol", "greet"]),  # multinomial, as trained
    ("ovr", ["faq/addictive", "faq/alcohol", "greet"]),
    ("auto", ["faq/addictive", "greet"]),  # two classes: one column of coefficients
    ("multinomial", ["faq/addictive", "greet"]),
])
def test_the_fast_predictor_equals_scikit_learn_for_every_kind_of_classifier(multi_class, labels):
    from bot.nlu.linear import FastPredictor, build_model

    config = {**LinearIntentClassifier.get_default_config()}
    model = build_model(config)
    model.set_params(classifier__multi_class=multi_class)
    texts = [text for label in labels for text in EXAMPLES[label]]
    model.fit(texts, [label for label in labels for _ in EXAMPLES[label]])
    unseen = ["is klonopin addictive", "hello", "beer with klonopin", "", "zzz", "!!", "héllo wörld", "a " * 50]
    expected = model.predict_proba(unseen)
    assert numpy.abs(FastPredictor(model).predict_proba(unseen) - expected).max() < 1e-12
    assert expected.shape == (len(unseen), len(labels))


def test_intents_are_learned_saved_and_loaded(storage):
    trained, resource, context = train(LinearIntentClassifier, storage, "intents")
    loaded = LinearIntentClassifier.load(LinearIntentClassifier.get_default_config(), storage, resource, context)
    for component in (trained, loaded):
        [faq, greet] = component.process([with_doc("is klonnopin habit forming"), with_doc("hello there")])
        assert faq.get("intent")["name"] == "faq" and greet.get("intent")["name"] == "greet"
        ranking = faq.get("intent_ranking")
        assert [r["name"] for r in ranking][:1] == ["faq"] and abs(sum(r["confidence"] for r in ranking) - 1) < 1e-6


def test_topics_are_set_as_rasas_response_selector_sets_them(storage):
    trained, resource, context = train(LinearTopicSelector, storage, "topics")
    loaded = LinearTopicSelector.load(LinearTopicSelector.get_default_config(), storage, resource, context)
    for component in (trained, loaded):
        [message] = component.process([with_doc("can i have a beer with my klonopin", intent={"name": "faq"})])
        selector = message.get("response_selector")
        assert selector["all_retrieval_intents"] == ["faq"]
        response = selector["faq"]["response"]
        assert response["intent_response_key"] == "faq/alcohol" and response["utter_action"] == "utter_faq/alcohol"
        assert response["responses"] == [{"text": "Never mix."}]
        assert [r["intent_response_key"] for r in selector["faq"]["ranking"]][0] == "faq/alcohol"
        # the confidence gate reads the same structure
        gate = FaqConfidenceGate({**FaqConfidenceGate.get_default_config(), "threshold": 0.99})
        message.set("intent", {"name": "faq", "confidence": 1.0})
        gate.process([message])
        assert message.get("intent")["name"] == ("faq" if response["confidence"] >= 0.99 else "nlu_fallback")


def test_a_model_file_with_foreign_types_is_not_loaded(storage, tmp_path):
    _, resource, context = train(LinearIntentClassifier, storage, "intents")
    import skops.io

    class Foreign:
        pass

    with storage.write_to(resource) as directory:
        skops.io.dump({"x": Foreign()}, directory / MODEL_FILE)
    loaded = LinearIntentClassifier.load(LinearIntentClassifier.get_default_config(), storage, resource, context)
    assert loaded.model is None
    [message] = loaded.process([with_doc("hello")])
    assert message.get("intent") is None  # predicts nothing rather than running untrusted code
