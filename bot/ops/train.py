"""Train the Rasa model only when its inputs changed.

The fingerprint covers the training data, domain, config, the project's NLU
components and the spaCy pipeline. Rasa's training cache then retrains only
the parts whose inputs changed, except when the spaCy pipeline changed: Rasa
fingerprints it by its path only, so the cache would reuse stale features, and
the whole model is retrained. An edited answer still retrains both classifiers
(responses are part of Rasa's NLU training data): about 20-25 s either way.
A running server loads the new model by itself (bot/channels/model_reload.py).

    python -m bot.ops.train [--force]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from bot import PROJECT_ROOT
from bot.ops import rasa_cli

# training data (data/crisis and data/nlp are read by the project, not by Rasa)
RASA_DATA = ["data/nlu", "data/rules", "data/stories"]
MODEL_DIR = PROJECT_ROOT / "models"
MODEL_NAME = "helpline"
MODEL_PATH = MODEL_DIR / f"{MODEL_NAME}.tar.gz"
STAMP = MODEL_DIR / f"{MODEL_NAME}.fingerprint"
INPUTS = ["config.yml", "domain", "data", "bot/nlu", "bot/crisis", "requirements.lock",
          "build/spacy/helpline_en/meta.json", "build/spacy/helpline_en/attribute_ruler/patterns"]
CACHE = PROJECT_ROOT / ".rasa" / "cache"


def fingerprint(root: Path = PROJECT_ROOT, inputs: Sequence[str] = INPUTS) -> str:
    """A digest of the files under ``inputs`` (paths relative to ``root``)."""
    digest = hashlib.sha256()
    for name in inputs:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.suffix == ".pyc" or not file.exists():
                continue
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def spacy_fingerprint(root: Path = PROJECT_ROOT) -> str:
    meta = root / "build" / "spacy" / "helpline_en" / "meta.json"
    try:
        return json.loads(meta.read_text()).get("helpline_fingerprint", "")
    except (OSError, ValueError):
        return ""


def rasa_env() -> dict:
    env = dict(os.environ)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("HELPLINE_REDIS_URL", "")  # endpoints.yml names it; empty: one server, no Redis
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="train even if nothing changed")
    args = parser.parse_args(argv)

    current = {"inputs": fingerprint(), "spacy": spacy_fingerprint()}
    try:
        previous = json.loads(STAMP.read_text()) if STAMP.exists() else {}
    except ValueError:
        previous = {}
    if not args.force and MODEL_PATH.exists() and previous == current:
        print(f"Model up to date: {MODEL_PATH.relative_to(PROJECT_ROOT)} (training data unchanged)")
        return 0
    full = args.force or previous.get("spacy") != current["spacy"] or not MODEL_PATH.exists()
    if full and CACHE.exists():
        # cached features from an older spaCy pipeline would be reused for unchanged data
        shutil.rmtree(CACHE)
    print("Training the assistant " + ("from scratch (under a minute)..." if full
          else "(only the parts whose inputs changed)..."), flush=True)
    started = time.monotonic()
    command = [
        *rasa_cli.COMMAND, "train", "--domain", "domain", "--data", *RASA_DATA,
        "--config", "config.yml", "--out", str(MODEL_DIR), "--fixed-model-name", MODEL_NAME,
    ] + (["--force"] if full else [])
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=rasa_env())
    if result.returncode != 0:
        print("error: training failed (see the messages above)", file=sys.stderr)
        return result.returncode
    STAMP.write_text(json.dumps(current) + "\n")
    print(f"Trained {MODEL_PATH.relative_to(PROJECT_ROOT)} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
