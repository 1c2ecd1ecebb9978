"""Run the Rasa conversation tests in tests/conversations/ against the trained model.

    python -m bot.content.conversation_tests

`rasa test core --e2e --fail-on-prediction-errors`: every user message must get the
intent (and FAQ topic) the test names, and every bot action must be the one predicted.
Rasa's own output goes to results/conversations/rasa-test.log; a failure prints the
failed conversation.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import yaml

from bot import PROJECT_ROOT
from bot.ops import rasa_cli
from bot.ops.train import MODEL_PATH, rasa_env

TESTS = PROJECT_ROOT / "tests" / "conversations"
OUT = PROJECT_ROOT / "results" / "conversations"


def count_stories() -> int:
    return sum(len((yaml.safe_load(p.read_text()) or {}).get("stories") or []) for p in TESTS.glob("test_*.yml"))


def main() -> int:
    if not MODEL_PATH.exists():
        print(f"error: no trained model at {MODEL_PATH}; run `make train`", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "rasa-test.log"
    total = count_stories()
    print(f"Running {total} conversation tests (rasa test core --e2e)...", flush=True)
    started = time.monotonic()
    with log.open("w") as handle:
        result = subprocess.run(
            [*rasa_cli.COMMAND, "test", "core", "--e2e", "--model", str(MODEL_PATH),
             "--stories", str(TESTS), "--out", str(OUT), "--fail-on-prediction-errors"],
            cwd=PROJECT_ROOT, env=rasa_env(), stdout=handle, stderr=subprocess.STDOUT,
        )
    output = log.read_text(errors="replace")
    evaluated = re.search(r"Evaluating (\d+) stories", output)
    if result.returncode != 0:
        wrong = output.find("WrongPredictionException")
        failure = output[wrong:] if wrong >= 0 else output[-4000:]
        print(re.sub(r"\x1b\[[0-9;]*m", "", failure).strip(), file=sys.stderr)
        print(f"conversation tests: FAILED (see {log.relative_to(PROJECT_ROOT)})", file=sys.stderr)
        return 1
    if not evaluated or int(evaluated.group(1)) != total:
        print(f"error: expected {total} conversation tests, Rasa evaluated "
              f"{evaluated.group(1) if evaluated else 'none'}", file=sys.stderr)
        return 1
    report = json.loads((OUT / "story_report.json").read_text()) if (OUT / "story_report.json").exists() else {}
    accuracy = report.get("conversation_accuracy", {}).get("accuracy")
    print(f"{total} conversation tests passed in {time.monotonic() - started:.0f} s"
          + (f" (conversation accuracy {accuracy:.3f})" if accuracy is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
