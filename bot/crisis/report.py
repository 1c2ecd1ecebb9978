"""How well the crisis screen does, on a split of the corpus (`make crisis-report`).

    python -m bot.crisis.report                 # the frozen test split: the figures to report
    python -m bot.crisis.report --split dev     # the dev split, for choosing thresholds
    python -m bot.crisis.report --split dev --sweep   # recall and false alarms per threshold pair

Counted for crisis messages: escalated (rules, or the classifier when confident), and escalated
or checked in (the assistant asked directly and showed the lines). For the non-crisis messages:
false escalations, check-ins, and questions answered with a line. Then the rules' own labelled
set (tests/crisis/labelled.yml), which must stay at 100% caught with no false alarm.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

from bot.crisis import corpus
from bot.crisis.decide import CHECK_ACTION, ESCALATE_ACTION, INFO_ACTION, CrisisScreen, Decision

Row = Tuple[corpus.Item, Decision]

TARGET_RECALL, TARGET_KIND_RECALL, TARGET_FALSE = 0.98, 0.95, 0.03


def run(screen: CrisisScreen, items: Sequence[corpus.Item]) -> Tuple[List[Row], List[float]]:
    rows, times = [], []
    for item in items:
        started = time.perf_counter()
        decision = screen.screen(item.text)
        times.append((time.perf_counter() - started) * 1000)
        rows.append((item, decision))
    return rows, times


def _rate(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.3f}" if whole else "-"


def print_report(rows: Sequence[Row], times: Sequence[float], title: str) -> None:
    crisis = [(i, d) for i, d in rows if i.crisis]
    negatives = [(i, d) for i, d in rows if not i.crisis]
    print(f"== {title}: {len(rows)} messages ({len(crisis)} crisis, {len(negatives)} not)")

    def line(label: str, group: Sequence[Row], target: float = 0.0) -> None:
        esc = sum(d.action == ESCALATE_ACTION for _, d in group)
        any_ = sum(d.is_crisis for _, d in group)
        exact = sum(d.action == ESCALATE_ACTION and d.tier == i.tier for i, d in group)
        mark = "" if not target or not group else ("  ok" if any_ / len(group) >= target else "  BELOW TARGET")
        print(f"  {label:28} escalated {_rate(esc, len(group)):18} or checked in {_rate(any_, len(group)):18} "
              f"right tier {_rate(exact, len(group))}{mark}")

    line("all crisis", crisis, TARGET_RECALL)
    for name, key in (("tier", lambda i: i.tier), ("language", lambda i: i.lang), ("kind", lambda i: i.kind)):
        groups: Dict[str, List[Row]] = defaultdict(list)
        for item, decision in crisis:
            groups[key(item)].append((item, decision))
        print(f"  by {name}:")
        for value in sorted(groups):
            line(f"  {value}", groups[value], TARGET_KIND_RECALL if name == "kind" else 0.0)
    line("explicit wording", [(i, d) for i, d in crisis if i.explicit], 1.0)
    line("buried in a long message", [(i, d) for i, d in crisis if i.buried], TARGET_KIND_RECALL)

    def situation(item: corpus.Item) -> str:  # a child ingestion is a child's, whoever the writer said it is about
        return "child" if item.kind == "child_ingestion" else item.who

    emergency = [(i, d) for i, d in crisis if i.tier == "emergency" and d.action == ESCALATE_ACTION
                 and d.tier == "emergency" and situation(i) in ("self", "other", "child")]
    right = sum(d.situation == situation(i) for i, d in emergency)
    child = [(i, d) for i, d in emergency if situation(i) == "child"]
    print(f"  advice for the situation (emergency escalated): {_rate(right, len(emergency))}; "
          f"child ingestion given the child advice {_rate(sum(d.situation == 'child' for _, d in child), len(child))}")
    spanish = [(i, d) for i, d in crisis if i.lang == "es" and d.is_crisis]
    mixed = [(i, d) for i, d in crisis if i.lang == "mix" and d.is_crisis]
    english = [(i, d) for i, d in crisis if i.lang == "en" and d.is_crisis]
    print(f"  reply language: Spanish messages answered in Spanish {_rate(sum(d.language == 'es' for _, d in spanish), len(spanish))}; "
          f"Spanglish in Spanish {_rate(sum(d.language == 'es' for _, d in mixed), len(mixed))}; "
          f"English in English {_rate(sum(d.language == 'en' for _, d in english), len(english))}")

    esc = sum(d.action == ESCALATE_ACTION for _, d in negatives)
    chk = sum(d.action == CHECK_ACTION for _, d in negatives)
    info = sum(d.action == INFO_ACTION for _, d in negatives)
    mark = "  ok" if negatives and esc / len(negatives) <= TARGET_FALSE else "  ABOVE TARGET"
    print(f"  not crisis: false escalations {_rate(esc, len(negatives))}{mark}; check-ins {_rate(chk, len(negatives))}; "
          f"answered with a line {_rate(info, len(negatives))}")
    by_kind: Dict[Tuple[str, str], List[Decision]] = defaultdict(list)
    for item, decision in negatives:
        by_kind[(item.kind, item.lang if item.lang == "en" else "es/mix")].append(decision)
    for (kind, lang), decisions in sorted(by_kind.items()):
        e = sum(d.action == ESCALATE_ACTION for d in decisions)
        c = sum(d.action == CHECK_ACTION for d in decisions)
        print(f"    {kind:18} {lang:6} false escalations {_rate(e, len(decisions)):16} check-ins {_rate(c, len(decisions))}")
    if times:
        ordered = sorted(times)
        print(f"  time per message: median {statistics.median(ordered):.2f} ms, "
              f"p95 {ordered[int(len(ordered) * 0.95)]:.2f} ms, max {ordered[-1]:.1f} ms")


def print_misses(rows: Sequence[Row], limit: int) -> None:
    misses = [(i, d) for i, d in rows if (i.crisis and not d.is_crisis) or (not i.crisis and d.action == ESCALATE_ACTION)]
    print(f"  {len(misses)} misses and false escalations" + (f" (first {limit})" if len(misses) > limit else ""))
    for item, decision in misses[:limit]:
        print(f"    expected {item.tier:9} got {decision.action}/{decision.tier} ({decision.score}): {item.text[:110]!r}")


def labelled_report(screen: CrisisScreen) -> bool:
    items = corpus.read_file(corpus.LABELLED_PATH)
    tiers = [(i, screen.detector.detect(i.text).tier) for i in items]
    crisis = [(i, t) for i, t in tiers if i.crisis]
    caught = sum(t is not None for _, t in crisis)
    alarms = sum(t is not None for i, t in tiers if not i.crisis)
    print(f"== the rules' labelled set ({corpus.LABELLED_PATH.name}): caught {_rate(caught, len(crisis))}, "
          f"false alarms {alarms}/{len(tiers) - len(crisis)}")
    return caught == len(crisis) and alarms == 0


def sweep(rows: Sequence[Row]) -> None:
    """Recall and false alarms for other thresholds, from the scores already computed."""
    print("  escalate  check   escalated  +check-in  false-esc  false-check")
    for escalate in (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95):
        for check in (0.2, 0.3, 0.4, 0.5):
            if check >= escalate:
                continue
            counts: Dict[str, int] = defaultdict(int)
            for item, d in rows:
                score = d.score or 0.0
                escalated = (d.source == "rules" and d.action == ESCALATE_ACTION) or score >= escalate
                checked = not escalated and d.action != INFO_ACTION and score >= check
                side = "crisis" if item.crisis else "negative"
                counts[side] += 1
                counts[side + "_escalated"] += escalated
                counts[side + "_checked"] += checked
            crisis, negative = max(1, counts["crisis"]), max(1, counts["negative"])
            print(f"  {escalate:8.2f} {check:6.2f}   {counts['crisis_escalated'] / crisis:9.3f}  "
                  f"{(counts['crisis_escalated'] + counts['crisis_checked']) / crisis:9.3f}  "
                  f"{counts['negative_escalated'] / negative:9.3f}  {counts['negative_checked'] / negative:11.3f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Crisis screen figures on a split of the corpus.")
    parser.add_argument("--split", default="test", choices=list(corpus.SPLITS))
    parser.add_argument("--sweep", action="store_true", help="also try other thresholds (dev only)")
    parser.add_argument("--misses", type=int, default=40, help="how many misses to list")
    args = parser.parse_args(argv)
    if args.sweep and args.split == "test":
        print("error: thresholds are chosen on the dev split; --sweep runs with --split dev", file=sys.stderr)
        return 2
    from bot.crisis.decide import load

    try:
        items = corpus.load(args.split)
    except corpus.CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    screen = load()
    if screen.semantic is None:
        print("error: the semantic classifier is not built: run `make train`", file=sys.stderr)
        return 2
    rows, times = run(screen, items)
    label = "FROZEN TEST split" if args.split == "test" else f"{args.split} split"
    print_report(rows, times, label)
    print_misses(rows, args.misses)
    if args.sweep:
        sweep(rows)
    return 0 if labelled_report(screen) else 1


if __name__ == "__main__":
    sys.exit(main())
