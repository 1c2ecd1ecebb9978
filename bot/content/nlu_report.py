"""The NLU quality report: how well the assistant tells intents and FAQ topics apart.

    python -m bot.content.nlu_report            # or: make nlu-report   (about 2 minutes)
    python -m bot.content.nlu_report --gate     # also fail when a figure is below data/quality.yml

Runs Rasa's 3-fold cross-validation on data/nlu with the project's config (the folds are
fixed, so two runs on the same data give the same figures), then writes, in
results/nlu-report/:

* index.html: open it in a browser. Per-intent and per-topic precision, recall and F1, the
  confusion matrices and confidence histograms Rasa draws, and the worst-confused examples
  (the training questions the assistant most confidently put under the wrong intent or topic);
* report.md: the same tables as text; and Rasa's own JSON reports and pictures.

With --gate it compares the weighted intent F1, every intent's F1 and the FAQ topic accuracy
with the minimums in data/quality.yml and exits with 1 when one is below (CI runs it).
"""
from __future__ import annotations

import argparse
import html
import json
import os
import random
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml

from bot import PROJECT_ROOT

OUT = PROJECT_ROOT / "results" / "nlu-report"
POLICY = PROJECT_ROOT / "data" / "quality.yml"
SEED = 20261201
WORST = 25
SUMMARY_ROWS = ("accuracy", "macro avg", "weighted avg", "micro avg")


def cross_validate(out: Path, folds: int) -> None:
    """Rasa's `rasa test nlu --cross-validation`, in this process, with fixed folds."""
    import numpy as np
    from rasa.__main__ import main as rasa_main

    # Rasa shuffles the folds with numpy's global random state and no seed
    np.random.seed(SEED)
    random.seed(SEED)
    argv = sys.argv
    sys.argv = ["rasa", "test", "nlu", "--nlu", str(PROJECT_ROOT / "data" / "nlu"),
                "--domain", str(PROJECT_ROOT / "domain"), "--config", str(PROJECT_ROOT / "config.yml"),
                "--cross-validation", "--folds", str(folds), "--out", str(out)]
    try:
        with warnings.catch_warnings():
            # the FAQ topics are chosen by the project's LinearTopicSelector, which Rasa does not know
            warnings.filterwarnings("ignore", message=".*does not include a response selector component.*")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            rasa_main()
    finally:
        sys.argv = argv


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def per_label(report: Dict[str, Any]) -> List[Tuple[str, Dict[str, float]]]:
    """(label, figures) for every label, weakest F1 first."""
    rows = [(name, row) for name, row in report.items() if name not in SUMMARY_ROWS and isinstance(row, dict)]
    return sorted(rows, key=lambda r: (r[1].get("f1-score", 0), r[0]))


def worst(errors: List[Dict[str, Any]], kind: str) -> List[Tuple[str, str, str, float]]:
    """(text, expected, predicted, confidence) of the most confidently wrong predictions."""
    rows = []
    for error in errors or []:
        if kind == "intent":
            predicted = error.get("intent_prediction") or {}
            rows.append((error.get("text", ""), error.get("intent", ""), predicted.get("name", ""),
                         float(predicted.get("confidence") or 0)))
        else:
            predicted = error.get("response_prediction") or {}
            rows.append((error.get("text", ""), error.get("intent_response_key_target", ""),
                         predicted.get("intent_response_key", ""), float(predicted.get("confidence") or 0)))
    return sorted(rows, key=lambda r: -r[3])[:WORST]


def summary(intents: Dict[str, Any], topics: Dict[str, Any]) -> Dict[str, float]:
    return {
        "intent_accuracy": float(intents.get("accuracy", 0)),
        "intent_f1_weighted": float(intents.get("weighted avg", {}).get("f1-score", 0)),
        "faq_topic_accuracy": float((topics or {}).get("accuracy", 0)),
    }


def gate(intents: Dict[str, Any], topics: Dict[str, Any], policy: Dict[str, float]) -> List[str]:
    """What falls below the minimums (empty: the gate passes)."""
    figures = summary(intents, topics)
    failures = []
    if figures["intent_f1_weighted"] < policy["intent_f1_weighted_min"]:
        failures.append(f"weighted intent F1 {figures['intent_f1_weighted']:.3f} < {policy['intent_f1_weighted_min']}")
    if figures["faq_topic_accuracy"] < policy["faq_topic_accuracy_min"]:
        failures.append(f"FAQ topic accuracy {figures['faq_topic_accuracy']:.3f} < {policy['faq_topic_accuracy_min']}")
    for name, row in per_label(intents):
        if row.get("f1-score", 0) < policy["intent_f1_each_min"]:
            failures.append(f"intent '{name}' F1 {row['f1-score']:.3f} < {policy['intent_f1_each_min']}")
    return failures


def _table_md(rows: List[Tuple[str, Dict[str, float]]]) -> List[str]:
    lines = ["| label | precision | recall | F1 | examples |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {r['precision']:.2f} | {r['recall']:.2f} | {r['f1-score']:.2f} | {r['support']} |"
              for name, r in rows]
    return lines


def _worst_md(rows) -> List[str]:
    lines = ["| example | should be | was taken for | confidence |", "|---|---|---|---:|"]
    lines += [f"| {t.replace('|', '/')} | {e} | {p} | {c:.2f} |" for t, e, p, c in rows]
    return lines


def write_markdown(out: Path, intents, topics, intent_errors, topic_errors, failures) -> Path:
    figures = summary(intents, topics)
    lines = ["# NLU quality report", "",
             "3-fold cross-validation of data/nlu with config.yml (fixed folds).", "",
             f"- intent accuracy: **{figures['intent_accuracy']:.3f}**",
             f"- weighted intent F1: **{figures['intent_f1_weighted']:.3f}**",
             f"- FAQ topic accuracy: **{figures['faq_topic_accuracy']:.3f}**",
             f"- gate (data/quality.yml): {'FAILED: ' + '; '.join(failures) if failures else 'passed'}", "",
             "## Intents, weakest first", "", *_table_md(per_label(intents)), ""]
    if topics:
        lines += ["## FAQ topics, weakest first", "", *_table_md(per_label(topics)), ""]
    lines += ["## Most confidently wrong intents", "", *_worst_md(worst(intent_errors, "intent")), ""]
    if topic_errors:
        lines += ["## Most confidently wrong FAQ topics", "", *_worst_md(worst(topic_errors, "topic")), ""]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _table_html(rows) -> str:
    body = "".join(
        f"<tr class='{'weak' if r['f1-score'] < 0.75 else ''}'><td>{html.escape(name)}</td>"
        f"<td>{r['precision']:.2f}</td><td>{r['recall']:.2f}</td><td>{r['f1-score']:.2f}</td>"
        f"<td>{r['support']}</td></tr>" for name, r in rows)
    return ("<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>examples</th></tr>"
            f"{body}</table>")


def _worst_html(rows) -> str:
    body = "".join(f"<tr><td>{html.escape(t)}</td><td>{html.escape(e)}</td><td>{html.escape(p)}</td>"
                   f"<td>{c:.2f}</td></tr>" for t, e, p, c in rows)
    return ("<table><tr><th>example</th><th>should be</th><th>was taken for</th><th>confidence</th></tr>"
            f"{body}</table>")


def write_html(out: Path, intents, topics, intent_errors, topic_errors, failures) -> Path:
    figures = summary(intents, topics)
    pictures = "".join(f"<figure><img src='{name}' alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}"
                       "</figcaption></figure>"
                       for name, caption in (("intent_confusion_matrix.png", "Intent confusion matrix"),
                                             ("intent_histogram.png",
                                              "Intent confidence: right (blue) and wrong (red)"),
                                             ("response_selection_confusion_matrix.png", "FAQ topic confusion matrix"),
                                             ("response_selection_histogram.png", "FAQ topic confidence"))
                       if (out / name).exists())
    verdict = ("<p class='fail'>Below the minimums in data/quality.yml: " + html.escape("; ".join(failures)) + "</p>"
               if failures else "<p class='pass'>At or above every minimum in data/quality.yml.</p>")
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>NLU quality report</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#1a1a1a}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:left}}
tr.weak td{{background:#fff3cd}}.fail{{color:#8a1c1c;font-weight:bold}}.pass{{color:#1d5e20;font-weight:bold}}
img{{max-width:100%}}figure{{margin:1em 0}}</style></head><body>
<h1>NLU quality report</h1>
<p>3-fold cross-validation of <code>data/nlu</code> with <code>config.yml</code> (fixed folds): every example is
classified by a model that did not train on it. Rows with F1 under 0.75 are highlighted.</p>
<ul><li>Intent accuracy: <b>{figures['intent_accuracy']:.3f}</b></li>
<li>Weighted intent F1: <b>{figures['intent_f1_weighted']:.3f}</b></li>
<li>FAQ topic accuracy: <b>{figures['faq_topic_accuracy']:.3f}</b></li></ul>{verdict}
<h2>Intents, weakest first</h2>{_table_html(per_label(intents))}
<h2>FAQ topics, weakest first</h2>{_table_html(per_label(topics or {}))}
<h2>Most confidently wrong intents</h2><p>Give the intent more examples like these, or move an example that
belongs elsewhere.</p>{_worst_html(worst(intent_errors, 'intent'))}
<h2>Most confidently wrong FAQ topics</h2>{_worst_html(worst(topic_errors, 'topic'))}
<h2>Pictures</h2>{pictures}</body></html>"""
    path = out / "index.html"
    path.write_text(page)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gate", action="store_true", help="exit 1 when a figure is below data/quality.yml")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.monotonic()
    print(f"Cross-validating intents and FAQ topics ({args.folds} folds, about 2 minutes)...", flush=True)
    shutil.rmtree(args.out, ignore_errors=True)  # never score this run with an earlier run's files
    args.out.mkdir(parents=True)
    cross_validate(args.out, args.folds)
    intents = _load(args.out / "intent_report.json")
    if not intents:
        print(f"error: cross-validation wrote no {args.out / 'intent_report.json'}", file=sys.stderr)
        return 2
    topics = _load(args.out / "response_selection_report.json") or {}
    intent_errors = _load(args.out / "intent_errors.json") or []
    topic_errors = _load(args.out / "response_selection_errors.json") or []
    policy = (yaml.safe_load(POLICY.read_text()) or {})["nlu"]
    failures = gate(intents, topics, policy)
    markdown = write_markdown(args.out, intents, topics, intent_errors, topic_errors, failures)
    page = write_html(args.out, intents, topics, intent_errors, topic_errors, failures)
    figures = summary(intents, topics)
    print(f"\nIntent accuracy {figures['intent_accuracy']:.3f}, "
          f"weighted intent F1 {figures['intent_f1_weighted']:.3f}, "
          f"FAQ topic accuracy {figures['faq_topic_accuracy']:.3f} ({time.monotonic() - started:.0f} s)")
    print(f"Report: {page.relative_to(PROJECT_ROOT) if page.is_relative_to(PROJECT_ROOT) else page} "
          f"(and {markdown.name})")
    for failure in failures:
        print(f"below the minimum: {failure}", file=sys.stderr)
    if args.gate and failures:
        print("NLU quality gate failed: add or fix examples for the intents named above "
              "(data/quality.yml holds the minimums)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
