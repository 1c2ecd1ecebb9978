"""`make load` (bot/ops/load.py) without a server: its errors, its options, its verdict.
A run against real servers is in tests/e2e/test_load.py."""
import subprocess
import sys

import pytest

from bot import PROJECT_ROOT
from bot.channels.guard import FloodLimit
from bot.ops.load import MESSAGES, pace_problem, parse_args, summarise, table
from bot.ops.process import free_port


def test_a_server_that_is_not_running_is_a_clear_error_and_exit_code_2(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run([sys.executable, "-m", "bot.ops.load", "--url", url, "--seconds", "1",
                           "--results", str(tmp_path)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"nothing answers at {url}" in done.stderr
    assert "is it running? start it with make run" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no result written


def test_each_of_several_urls_is_checked(tmp_path):
    first, second = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    done = subprocess.run([sys.executable, "-m", "bot.ops.load", "--url", f"{first}/,{second}", "--results",
                           str(tmp_path)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"nothing answers at {first} " in done.stderr


def test_defaults_are_200_visitors_for_60_s_at_one_message_per_5_s():
    args = parse_args([])
    assert (args.urls, args.visitors, args.seconds, args.pace, args.timeout) == \
        (["http://127.0.0.1:5005"], 200, 60, 5, 30)
    assert parse_args(["--url", "http://a:1, http://b:2/"]).urls == ["http://a:1", "http://b:2"]


@pytest.mark.parametrize("argv", [["--visitors", "0"], ["--seconds", "0"], ["--timeout", "0"],
                                  ["--url", "127.0.0.1:5005"], ["--url", ","], ["--pace", "1"]])
def test_bad_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        parse_args(argv)
    assert stopped.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_pace_faster_than_the_flood_limit_is_refused_with_the_reason():
    problem = pace_problem(1.0, FloodLimit(8, 10))
    assert "8 messages per 10 s" in problem and "at least 1.25 s" in problem
    assert pace_problem(1.25, FloodLimit(8, 10)) is None
    assert pace_problem(0, FloodLimit(0, 10)) is None  # the limit is off: back to back is fine
    assert pace_problem(-1, FloodLimit(0, 10))


def test_the_pace_check_reads_the_flood_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv("HELPLINE_FLOOD_MESSAGES", "0")
    assert parse_args(["--pace", "0"]).pace == 0


def raw(**changes):
    result = {"latencies_ms": [10.0, 20.0, 30.0], "complete_ms": [15.0, 25.0, 35.0], "errors": 0, "lost": 0,
              "sent": 3, "elapsed_s": 1.5, "error_kinds": {}, "handoffs": 0, "escalations": 0,
              "by_url": [{"url": "http://a:1", "sent": 3, "latencies_ms": [10.0, 20.0, 30.0], "errors": 0,
                          "lost": 0}]}
    result.update(changes)
    return result


def test_the_run_passes_only_when_every_message_was_answered():
    args = parse_args(["--url", "http://a:1"])
    good = summarise(args, raw())
    assert good["passed"] and good["replied"] == 3 and good["throughput_per_s"] == 2.0
    assert good["latency_ms"]["p50"] == 20.0 and good["offered_per_s"] == 40.0
    assert not summarise(args, raw(lost=1, sent=4))["passed"]
    assert not summarise(args, raw(errors=1, error_kinds={"session_error:flood": 1}))["passed"]
    assert not summarise(args, raw(latencies_ms=[], complete_ms=[], sent=0))["passed"]
    shown = table(summarise(args, raw(errors=1, error_kinds={"connect": 1})))
    assert "reply latency p95" in shown and "errors               1 (connect 1)" in shown


def test_the_load_messages_are_no_crisis():
    """A crisis starts a handoff, which changes the conversation under load."""
    from bot.crisis.detector import CrisisDetector
    from bot.nlu.spacy_pipeline import shared_pipeline

    detector = CrisisDetector(shared_pipeline())
    assert [m for m in MESSAGES if detector.detect(m).is_crisis] == []
    assert len(set(MESSAGES)) == len(MESSAGES) >= 25
