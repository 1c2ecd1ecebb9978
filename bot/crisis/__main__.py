"""Crisis detector from the command line.

    python -m bot.crisis "my friend is not breathing"      # what the rules say about a message
    python -m bot.crisis tests/crisis/labelled.yml          # recall and false alarms on a labelled set
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

from bot.crisis import TIERS, CrisisDetector, PatternError
from bot.nlu.spacy_pipeline import shared_pipeline


def report(detector: CrisisDetector, path: Path) -> int:
    items = (yaml.safe_load(path.read_text()) or {}).get("items") or []
    if not items:
        print(f"error: no items in {path}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    results = [(item, detector.detect(item["text"]).tier) for item in items]
    elapsed = time.perf_counter() - started
    crisis = [(i, got) for i, got in results if i["tier"] != "none"]
    negatives = [(i, got) for i, got in results if i["tier"] == "none"]
    caught = sum(got is not None for _, got in crisis)
    exact = sum(got == i["tier"] for i, got in crisis)
    alarms = sum(got is not None for _, got in negatives)
    print(f"{len(items)} labelled messages ({len(crisis)} crisis, {len(negatives)} not)")
    print(f"  recall (escalated):  {caught}/{len(crisis)} = {caught / len(crisis):.1%}")
    print(f"  exact tier:          {exact}/{len(crisis)} = {exact / len(crisis):.1%}")
    print(f"  false-alarm rate:    {alarms}/{len(negatives)} = {alarms / len(negatives):.1%}")
    for tier in TIERS:
        rows = [(i, got) for i, got in crisis if i["tier"] == tier]
        print(f"  {tier:10} recall {sum(g is not None for _, g in rows)}/{len(rows)}")
    print(f"  {elapsed / len(items) * 1000:.2f} ms per message")
    for item, got in results:
        if (item["tier"] == "none") != (got is None):
            print(f"  MISS expected {item['tier']}, got {got}: {item['text']!r}")
    return 0


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__)
        return 2
    try:
        detector = CrisisDetector(shared_pipeline())
    except PatternError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = Path(args[0])
    if len(args) == 1 and path.suffix in (".yml", ".yaml"):
        if not path.exists():
            print(f"error: no such file: {path}", file=sys.stderr)
            return 2
        return report(detector, path)
    print(json.dumps(detector.detect(" ".join(args)).as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
