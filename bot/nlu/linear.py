"""Linear classifiers for intents and FAQ topics: TF-IDF features and logistic regression.

They take the place of Rasa's ``DIETClassifier`` and ``ResponseSelector``, which train
neural networks for minutes (about 9 minutes on two cores for this data); these train
in seconds, answer in well under a millisecond and need no TensorFlow at run time.
On 3-fold cross-validation of this project's data they are as accurate as the
neural pair (see ``make nlu-report``).

Features, built by each component from the message's spaCy document (the project's own
pipeline folds misspellings and slang: "klonapin", "kpins" -> "clonazepam"):
- TF-IDF of word lemmas (unigrams and bigrams);
- TF-IDF of character 2-4-grams of the lemmas, so unseen typos still match.

``LinearIntentClassifier`` sets ``intent`` and ``intent_ranking`` like any intent
classifier. ``LinearTopicSelector`` sets ``response_selector`` exactly as Rasa's
``ResponseSelector`` does, so the retrieval action (``utter_faq``) and every component
after it work unchanged.
"""
from __future__ import annotations

import logging
import zlib
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import SPACY_DOCS
from rasa.shared.nlu.constants import INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

MODEL_FILE = "model.skops"
RESPONSES_FILE = "responses.json"


def message_text(message: Message) -> str:
    """The lemmas of the message (misspellings folded), or its lower-cased text."""
    doc = message.get(SPACY_DOCS[TEXT])
    if doc is not None:
        return " ".join(token.lemma_.lower() or token.lower_ for token in doc if not token.is_space)
    return (message.get(TEXT) or "").lower()


def build_model(config: Dict[Text, Any]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    return Pipeline([
        ("features", FeatureUnion([
            ("words", TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", ngram_range=(1, config["word_ngrams"]),
                                      sublinear_tf=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(config["min_char_ngram"],
                                                                       config["max_char_ngram"]),
                                      sublinear_tf=True)),
        ])),
        ("classifier", LogisticRegression(C=config["C"], max_iter=config["max_iter"],
                                          class_weight=config["class_weight"], random_state=config["random_seed"])),
    ])


class FastPredictor:
    """The trained pipeline's ``predict_proba`` without scikit-learn's per-call overhead.

    For one short message, scikit-learn spends most of its time checking and converting:
    every ``transform`` recomputes each vectorizer's IDF vector from a sparse diagonal
    matrix, and the classifier copies its whole coefficient matrix to multiply one sparse
    row. Together that was most of the NLU time per message (about 2.8 of 4.4 ms). This
    class takes the fitted vocabularies, IDF vectors and coefficients once and computes the
    same thing for the few features a message has: per vectorizer, counts of its n-grams,
    ``1 + log(count)`` (sublinear tf), times IDF, L2-normalised (each vectorizer's block on
    its own, as FeatureUnion stacks them); then ``features @ coef_.T + intercept_`` and
    softmax (multinomial) or the logistic of each class normalised (one-vs-rest), as
    ``LogisticRegression.predict_proba`` does. ``tests/nlu/test_linear.py`` checks the
    figures equal the pipeline's.
    """

    def __init__(self, model) -> None:
        import numpy as np

        union = model.named_steps["features"]
        classifier = model.named_steps["classifier"]
        if union.transformer_weights:
            raise ValueError("FastPredictor expects no FeatureUnion transformer weights (see build_model)")
        self.blocks = []
        offset = 0
        for _, vectorizer in union.transformer_list:
            if not (getattr(vectorizer, "sublinear_tf", False) and vectorizer.use_idf and vectorizer.norm == "l2"
                    and not vectorizer.binary and vectorizer.dtype is np.float64):
                raise ValueError("FastPredictor expects sublinear tf, IDF and L2 norm (see build_model)")
            self.blocks.append((vectorizer.build_analyzer(), vectorizer.vocabulary_,
                                np.asarray(vectorizer.idf_, dtype=np.float64), offset))
            offset += len(vectorizer.vocabulary_)
        self.weights = np.ascontiguousarray(classifier.coef_.T, dtype=np.float64)  # features x classes
        self.intercept = np.asarray(classifier.intercept_, dtype=np.float64)
        self.classes_ = classifier.classes_
        self.multinomial = not (classifier.multi_class in ("ovr", "warn") or (
            classifier.multi_class == "auto" and (classifier.classes_.size <= 2 or classifier.solver == "liblinear")))

    def features(self, text: str) -> Tuple[List[int], List[float]]:
        """Column indices and values of the message's non-zero features."""
        import math

        columns: List[int] = []
        values: List[float] = []
        for analyze, vocabulary, idf, offset in self.blocks:
            counts: Dict[int, int] = {}
            for gram in analyze(text):
                column = vocabulary.get(gram)
                if column is not None:
                    counts[column] = counts.get(column, 0) + 1
            block = [(column, (1.0 + math.log(count)) * idf[column]) for column, count in counts.items()]
            norm = math.sqrt(sum(value * value for _, value in block))
            for column, value in block:
                columns.append(offset + column)
                values.append(value / norm)
        return columns, values

    def predict_proba(self, texts: List[str]):
        import numpy as np

        rows = []
        for text in texts:
            columns, values = self.features(text)
            decision = self.intercept + (np.asarray(values) @ self.weights[columns] if columns else 0.0)
            rows.append(decision)
        decision = np.vstack(rows) if rows else np.zeros((0, len(self.intercept)))
        if decision.shape[1] == 1:  # two classes: one column of coefficients
            decision = np.hstack([-decision, decision]) if self.multinomial else decision
            if not self.multinomial:
                positive = 1.0 / (1.0 + np.exp(-decision[:, 0]))
                return np.column_stack([1.0 - positive, positive])
        if self.multinomial:
            decision = decision - decision.max(axis=1, keepdims=True)
            exp = np.exp(decision)
            return exp / exp.sum(axis=1, keepdims=True)
        probabilities = 1.0 / (1.0 + np.exp(-decision))
        return probabilities / probabilities.sum(axis=1, keepdims=True)


class _LinearComponent(GraphComponent):
    """Shared training, persistence and prediction of the two components."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "C": 30.0,
            "class_weight": "balanced",
            "word_ngrams": 2,
            "min_char_ngram": 2,
            "max_char_ngram": 4,
            "max_iter": 3000,
            "random_seed": 7,
            "ranking_length": 10,
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Any = None, responses: Optional[Dict[Text, List[Dict[Text, Any]]]] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model
        self._predictor: Optional[Tuple[Any, Any]] = None  # (the model, what predicts with it)
        self.responses = responses or {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "_LinearComponent":
        return cls(config, model_storage, resource)

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn", "skops"]

    def _fit(self, texts: List[str], labels: List[str]) -> None:
        if len(set(labels)) < 2:
            logger.warning("%s: fewer than two labels to learn; it will predict nothing", type(self).__name__)
            self.model = None
            return
        self.model = build_model(self.config).fit(texts, labels)

    def _rank(self, messages: List[Message]) -> List[List[Tuple[str, float]]]:
        if self.model is None or not messages:
            return [[] for _ in messages]
        if self._predictor is None or self._predictor[0] is not self.model:
            try:
                self._predictor = (self.model, FastPredictor(self.model))
            except ValueError as error:  # a model of another shape: scikit-learn's own, slower
                logger.warning("%s: predicting with scikit-learn (%s)", type(self).__name__, error)
                self._predictor = (self.model, self.model)
        probabilities = self._predictor[1].predict_proba([message_text(m) for m in messages])
        classes = list(self.model.classes_)
        rankings = []
        for row in probabilities:
            ranked = sorted(zip(classes, (float(p) for p in row)), key=lambda pair: -pair[1])
            rankings.append(ranked[: self.config["ranking_length"]] if self.config["ranking_length"] else ranked)
        return rankings

    def persist(self) -> None:
        import skops.io

        from rasa.shared.utils.io import dump_obj_as_json_to_file

        with self._model_storage.write_to(self._resource) as directory:
            if self.model is not None:
                skops.io.dump(self.model, directory / MODEL_FILE)
            dump_obj_as_json_to_file(directory / RESPONSES_FILE, self.responses)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "_LinearComponent":
        import skops.io

        from rasa.shared.utils.io import read_json_file

        try:
            with model_storage.read_from(resource) as directory:
                model = None
                if (directory / MODEL_FILE).exists():
                    untrusted = skops.io.get_untrusted_types(file=directory / MODEL_FILE)
                    unexpected = [t for t in untrusted if not t.startswith(("sklearn.", "numpy.", "scipy."))]
                    if unexpected:
                        raise ValueError(f"unexpected types in {MODEL_FILE}: {unexpected}")
                    model = skops.io.load(directory / MODEL_FILE, trusted=untrusted)
                responses = read_json_file(directory / RESPONSES_FILE)
        except ValueError:
            logger.warning("%s: no trained model found; it will predict nothing", cls.__name__)
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model, responses)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(_LinearComponent, IntentClassifier):
    """Intents (a FAQ question is the one intent ``faq``; its topic is chosen below)."""

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        self._fit([message_text(e) for e in examples], [e.get(INTENT) for e in examples])
        self.persist()
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        for message, ranking in zip(messages, self._rank(messages)):
            if not ranking:
                continue
            ranked = [{"name": name, "confidence": confidence} for name, confidence in ranking]
            message.set(INTENT, ranked[0], add_to_output=True)
            message.set("intent_ranking", ranked, add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearTopicSelector(_LinearComponent):
    """The topic of a FAQ question, set as Rasa's ResponseSelector sets it."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**_LinearComponent.get_default_config(), "retrieval_intent": "faq"}

    def train(self, training_data: TrainingData) -> Resource:
        intent = self.config["retrieval_intent"]
        examples = [e for e in training_data.intent_examples
                    if e.get(INTENT) == intent and e.get(INTENT_RESPONSE_KEY) and e.get(TEXT)]
        self._fit([message_text(e) for e in examples], [e.get(INTENT_RESPONSE_KEY) for e in examples])
        prefix = f"utter_{intent}/"
        self.responses = {name: variants for name, variants in training_data.responses.items()
                          if name.startswith(prefix)}
        self.persist()
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        intent = self.config["retrieval_intent"]
        for message, ranking in zip(messages, self._rank(messages)):
            if not ranking:
                continue
            key, confidence = ranking[0]
            utter_action = f"utter_{key}"
            selector = dict(message.get("response_selector") or {})
            selector["all_retrieval_intents"] = [intent]
            selector[intent] = {
                "response": {
                    "responses": self.responses.get(utter_action) or [{"text": key}],
                    "confidence": confidence,
                    "intent_response_key": key,
                    "utter_action": utter_action,
                },
                "ranking": [{"id": zlib.crc32(name.encode()), "confidence": c, "intent_response_key": name}
                            for name, c in ranking],
            }
            message.set("response_selector", selector, add_to_output=True)
        return messages
