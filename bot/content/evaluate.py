"""Measure the trained assistant on real-world messages it was never trained on.

    python -m bot.content.evaluate [--file ../shared/eval/realworld.yml] [--show-misses]

Each item has a kind: `crisis` (with the tier whose line it should get), `faq` (with
the topic it should be answered from), `negative` (must not escalate) or `oos`
(out of scope: must not get a confident FAQ answer). Prints recall, false alarms
and answer accuracy for the full NLU pipeline and for the crisis rules alone.
These messages are for measurement only: never copy them into training data or tests.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List

import yaml

from bot import PROJECT_ROOT
from bot.crisis import decide
from bot.ops.train import MODEL_PATH

DEFAULT_FILE = PROJECT_ROOT.parent / "shared" / "eval" / "realworld.yml"


def outcome(parse: Dict) -> Dict:
    intent = (parse.get("intent") or {}).get("name")
    crisis = decide.decision_of(parse) or {}
    selector = ((parse.get("response_selector") or {}).get("faq") or {}).get("response") or {}
    topic = (selector.get("intent_response_key") or "").split("/", 1)[-1] if intent == "faq" else None
    escalated = crisis.get("action") == decide.ESCALATE_ACTION
    return {"intent": intent, "tier": crisis.get("tier") if escalated else None, "source": crisis.get("source"),
            "topic": topic, "check": crisis.get("action") == decide.CHECK_ACTION}


def score(items: List[Dict], results: List[Dict]) -> Dict[str, str]:
    counts: Counter = Counter()
    for item, got in zip(items, results):
        kind = item["kind"]
        counts[f"{kind}:n"] += 1
        escalated = got["tier"] is not None
        if kind == "crisis":
            counts["crisis:escalated"] += escalated
            counts["crisis:tier"] += got["tier"] == item.get("tier")
            counts["crisis:reached"] += escalated or bool(got.get("check"))
        else:
            counts[f"{kind}:false_alarm"] += escalated
            counts[f"{kind}:check"] += bool(got.get("check"))
        if kind == "faq":
            counts["faq:right"] += got["topic"] == item.get("topic")
            counts["faq:wrong"] += got["topic"] not in (None, item.get("topic"))
        if kind == "oos":
            counts["oos:answered"] += got["topic"] is not None

    def pct(a: str, b: str) -> str:
        return f"{counts[a]}/{counts[b]} ({counts[a] / counts[b]:.0%})" if counts[b] else "n/a"

    return {
        "crisis recall (escalated)": pct("crisis:escalated", "crisis:n"),
        "crisis right tier": pct("crisis:tier", "crisis:n"),
        "crisis escalated or checked in (988)": pct("crisis:reached", "crisis:n"),
        "gentle check-ins on negatives": pct("negative:check", "negative:n"),
        "false alarms on negatives": pct("negative:false_alarm", "negative:n"),
        "false alarms on FAQ questions": pct("faq:false_alarm", "faq:n"),
        "false alarms on out-of-scope": pct("oos:false_alarm", "oos:n"),
        "FAQ answered with the right topic": pct("faq:right", "faq:n"),
        "FAQ answered with a wrong topic": pct("faq:wrong", "faq:n"),
        "out-of-scope given a FAQ answer": pct("oos:answered", "oos:n"),
    }


async def parse_all(texts: List[str]) -> List[Dict]:
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    from rasa.core.agent import Agent

    agent = Agent.load(str(MODEL_PATH))
    return [outcome(await agent.parse_message(text)) for text in texts]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--show-misses", action="store_true", help="print each message that went wrong")
    args = parser.parse_args(argv)
    if not args.file.exists():
        print(f"error: evaluation file not found: {args.file}", file=sys.stderr)
        return 2
    items = (yaml.safe_load(args.file.read_text()) or {}).get("items") or []
    if not items:
        print(f"error: no items in {args.file}", file=sys.stderr)
        return 2
    texts = [item["text"] for item in items]

    from bot.crisis import CrisisDetector
    from bot.nlu.spacy_pipeline import shared_pipeline

    detector = CrisisDetector(shared_pipeline())
    rules_only = [{"intent": None, "tier": detector.detect(t).tier, "source": "rules", "topic": None, "check": False}
                  for t in texts]
    full = asyncio.run(parse_all(texts))

    print(f"\n{len(items)} messages from {args.file.name}")
    print(f"{'measure':38} {'full NLU':>16} {'crisis rules only':>18}")
    full_scores, rule_scores = score(items, full), score(items, rules_only)
    for name, value in full_scores.items():
        rule_value = rule_scores[name] if "crisis" in name or "false alarm" in name else ""
        print(f"{name:38} {value:>16} {rule_value:>18}")
    sources = Counter(r["source"] for r in full if r["tier"])
    print(f"escalations by source: {dict(sources)}")
    if args.show_misses:
        for item, got in zip(items, full):
            bad = (
                (item["kind"] == "crisis" and got["tier"] != item.get("tier"))
                or (item["kind"] != "crisis" and got["tier"])
                or (item["kind"] == "faq" and got["topic"] != item.get("topic"))
                or (item["kind"] == "oos" and got["topic"])
            )
            if bad:
                label = item.get("tier") or item.get("topic") or ""
                print(f"  [{item['kind']}/{label}] got {got}: {item['text'][:70]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
