"""Load test: many visitors chatting over Socket.IO with a RUNNING assistant.

    make load [URL=http://127.0.0.1:5005] [VISITORS=200] [SECONDS=60] [PACE=5]
    python -m bot.ops.load [--url URL[,URL...]] [--visitors 200] [--seconds 60] [--pace 5] [--timeout 30]

Each visitor is a websocket client (scripts/sio-load.js, Node's socket.io-client, installed
once into build/sio-client by bot/ops/sio_driver.py; needs node and npm) that asks the FAQ
questions below, waits for the whole answer (the server's typing {on: false} after its last
part), then sends its next message PACE seconds after the previous one. After 10 messages the
visitor's chat ends and a new one starts on the same connection. Visitors start spread over
the first PACE seconds (so messages arrive evenly), then send for SECONDS; a reply still due
then is waited for, so every message ends replied, errored or lost.

With several URLs (comma-separated) visitor i talks to URL i mod n: several Rasa servers
sharing PostgreSQL and Redis, without a proxy in front.

Prints progress every 10 s, then p50/p95/p99 reply latency (to the first part of the
answer), throughput, errors and lost messages; writes results/load/<time>.json.

- lost: a message without a complete answer within --timeout seconds, with an empty one,
  or whose connection dropped while it waited;
- errors: a message answered with session_error (e.g. the flood limit), and connections
  or sessions that failed or dropped.

Exit code: 0 when every message was answered; 1 when any was lost or errored (a deploy
gate); 2 when the test could not run (bad options, the server not reachable, no node).

The server's flood limit (bot/channels/guard.py: HELPLINE_FLOOD_MESSAGES per
HELPLINE_FLOOD_SECONDS, default 8 per 10 s per conversation) would skip the messages of a
visitor faster than one per 1.25 s, so such a PACE is refused. The limit is read from this
environment, as the server reads it: set the same values here when the server runs with others.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from bot import PROJECT_ROOT
from bot.channels.guard import FloodLimit
from bot.ops.sio_driver import DriverError, percentiles, run_driver, websocket_client

RESULTS = PROJECT_ROOT / "results" / "load"
CONVERSATION_LENGTH = 10  # messages per visitor's chat; then a new chat on the same connection
PROGRESS_SECONDS = 10
# What visitors ask: FAQ questions and small talk, worded here for the load test. No crisis
# messages and no "talk to a person": those start a handoff, which changes the conversation.
MESSAGES = [
    "hello there",
    "what exactly is clonazepam used for",
    "how does klonopin work in the brain",
    "is clonazepam the same kind of drug as xanax",
    "can you get hooked on klonopin even with a prescription",
    "how fast can someone become dependent on benzos",
    "what are the warning signs that someone is addicted to clonazepam",
    "what side effects does klonopin have",
    "does taking clonazepam for years cause lasting problems",
    "is it ok to have a glass of wine with my klonopin",
    "can clonazepam be combined with painkillers like oxycodone",
    "what happens if you quit klonopin cold turkey",
    "how long do benzo withdrawal symptoms usually go on",
    "what does withdrawal from clonazepam feel like",
    "what is medical detox like",
    "can i taper off klonopin at home",
    "how many weeks does residential rehab take",
    "what is the difference between inpatient and outpatient treatment",
    "what kinds of therapy help with benzo addiction",
    "what support is there after rehab ends",
    "will my health insurance pay for treatment",
    "will my employer find out if i go to treatment",
    "how can i help my wife who is addicted to klonopin",
    "can i take clonazepam while pregnant",
    "is klonopin safe while breastfeeding",
    "what is a normal clonazepam dose",
    "what does a benzo overdose look like",
    "does narcan work on benzodiazepines",
    "do people take klonopin to get high",
    "is it illegal to buy clonazepam without a prescription",
    "how common is benzodiazepine misuse",
    "thank you, that helps",
]


class CannotRun(Exception):
    """The load test cannot start: the message says why and what to do (exit code 2)."""


def log(text: str = "") -> None:
    print(text, flush=True)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot.ops.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:5005",
                        help="the assistant's URL; several, comma-separated: visitor i uses URL i mod n")
    parser.add_argument("--visitors", type=int, default=200, help="visitors chatting at once (200)")
    parser.add_argument("--seconds", type=float, default=60, help="how long they send, after the ramp-up (60)")
    parser.add_argument("--pace", type=float, default=5,
                        help="seconds from one message of a visitor to its next (5); the next waits for the reply")
    parser.add_argument("--timeout", type=float, default=30,
                        help="seconds without a reply after which a message counts as lost (30)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON result (results/load)")
    args = parser.parse_args(argv)
    args.urls = [u.strip().rstrip("/") for u in args.url.split(",") if u.strip()]
    if not args.urls:
        parser.error("--url: give at least one URL")
    for url in args.urls:
        if not url.startswith(("http://", "https://")):
            parser.error(f"--url: {url!r} is not an http:// or https:// URL")
    if args.visitors < 1:
        parser.error("--visitors must be at least 1")
    if args.seconds <= 0:
        parser.error("--seconds must be more than 0")
    if args.timeout <= 0:
        parser.error("--timeout must be more than 0")
    problem = pace_problem(args.pace)
    if problem:
        parser.error(problem)
    return args


def pace_problem(pace: float, flood: Optional[FloodLimit] = None) -> Optional[str]:
    """Why a pace cannot be used (the server's flood limit would skip messages), or None."""
    if pace < 0:
        return "--pace must be 0 (back to back) or more seconds"
    flood = flood or FloodLimit.from_env()
    if not flood.enabled:
        return None
    fastest = flood.seconds / flood.messages
    if pace < fastest:
        return (f"--pace {pace:g}: a visitor would send faster than the server's flood limit lets one "
                f"conversation send ({flood.messages} messages per {flood.seconds:g} s, so one every "
                f"{fastest:g} s after a burst; bot/channels/guard.py), and the messages over it are not "
                f"answered. Use a pace of at least {fastest:g} s; if the server runs with another limit, "
                f"set HELPLINE_FLOOD_MESSAGES / HELPLINE_FLOOD_SECONDS here to the same values "
                f"(HELPLINE_FLOOD_MESSAGES=0: no limit).")
    return None


def check_server(url: str) -> Optional[str]:
    """Raise CannotRun when nothing serves the web chat at url; a warning when it is degraded."""
    warning = None
    try:  # the web chat's health route (docs/operations.md)
        with urllib.request.urlopen(f"{url}/webhooks/webchat/", timeout=10) as response:
            response.read()
    except urllib.error.HTTPError as error:  # it answers: 503 says "degraded", and why
        if error.code != 503:
            raise CannotRun(f"{url} answers, but has no web chat (HTTP {error.code} from /webhooks/webchat/): "
                            f"is it the Helpline Assistant?") from None
        try:
            problems = json.loads(error.read()).get("problems") or []
        except (ValueError, AttributeError):
            problems = []
        warning = f"warning: {url} reports it is degraded: {'; '.join(problems) or 'HTTP 503'}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CannotRun(f"nothing answers at {url} ({reason}): is it running? start it with make run") from None
    try:  # the Socket.IO endpoint the visitors use (an Engine.IO long-polling handshake)
        with urllib.request.urlopen(f"{url}/socket.io/?EIO=4&transport=polling", timeout=10) as response:
            body = response.read(200)
        if not body.startswith(b"0{"):
            raise CannotRun(f"{url}/socket.io/ did not answer as Socket.IO: is {url} the Helpline Assistant?")
    except urllib.error.HTTPError as error:
        raise CannotRun(f"{url} answers, but not to Socket.IO at /socket.io/ (HTTP {error.code}): "
                        f"is it the Helpline Assistant?") from None
    except (urllib.error.URLError, OSError) as error:
        raise CannotRun(f"{url} stopped answering ({getattr(error, 'reason', error)}): is it running? "
                        f"start it with make run") from None
    return warning


def summarise(args: argparse.Namespace, raw: Dict[str, Any]) -> Dict[str, Any]:
    replied = len(raw["latencies_ms"])
    elapsed = raw["elapsed_s"]
    by_url = [{"url": u["url"], "sent": u["sent"], "replied": len(u["latencies_ms"]), "errors": u["errors"],
               "lost": u["lost"], "latency_ms": percentiles([ms / 1000 for ms in u["latencies_ms"]])}
              for u in raw["by_url"]]
    return {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "options": {"urls": args.urls, "visitors": args.visitors, "seconds": args.seconds, "pace": args.pace,
                    "timeout": args.timeout, "conversation_length": CONVERSATION_LENGTH},
        "sent": raw["sent"], "replied": replied, "errors": raw["errors"], "error_kinds": raw["error_kinds"],
        "lost": raw["lost"], "handoffs": raw["handoffs"], "escalations": raw["escalations"],
        "elapsed_s": round(elapsed, 1),
        "throughput_per_s": round(replied / elapsed, 1) if elapsed else 0.0,
        "offered_per_s": round(args.visitors / args.pace, 1) if args.pace else None,
        "latency_ms": percentiles([ms / 1000 for ms in raw["latencies_ms"]]),
        "complete_ms": percentiles([ms / 1000 for ms in raw["complete_ms"]]),
        "by_url": by_url,
        "passed": raw["lost"] == 0 and raw["errors"] == 0 and replied > 0,
    }


def ms(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def table(result: Dict[str, Any]) -> str:
    latency, complete = result["latency_ms"], result["complete_ms"]
    offered = f" (offered {result['offered_per_s']})" if result["offered_per_s"] else ""
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(result["error_kinds"].items()))
    rows = [
        ("messages sent", str(result["sent"])),
        ("replies", str(result["replied"])),
        ("reply latency p50", ms(latency["p50"])),
        ("reply latency p95", ms(latency["p95"])),
        ("reply latency p99", ms(latency["p99"])),
        ("full answer p95", ms(complete["p95"])),
        ("throughput", f"{result['throughput_per_s']} messages/s{offered}"),
        ("errors", str(result["errors"]) + (f" ({kinds})" if kinds else "")),
        ("lost", f"{result['lost']} (no answer within {result['options']['timeout']:g} s)"),
    ]
    if result["handoffs"] or result["escalations"]:
        rows.append(("handoffs / crisis replies", f"{result['handoffs']} / {result['escalations']} "
                                                 "(the FAQ questions should start none)"))
    lines = [f"  {label:<20} {value}" for label, value in rows]
    if len(result["by_url"]) > 1:
        for u in result["by_url"]:
            lines.append(f"  {u['url']}: {u['sent']} sent, {u['replied']} replies, p95 {ms(u['latency_ms']['p95'])}, "
                         f"{u['errors']} errors, {u['lost']} lost")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        warnings = [w for w in (check_server(url) for url in args.urls) if w]
        modules = websocket_client(log)
        if modules is None:
            raise CannotRun("the load test needs node and npm (it drives websocket visitors with Node's "
                            "socket.io-client): install Node.js 18 or later")
    except CannotRun as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(warning, file=sys.stderr)

    ramp = args.pace  # one visitor's first message after another: messages arrive evenly
    where = args.urls[0] if len(args.urls) == 1 else f"{len(args.urls)} servers ({', '.join(args.urls)})"
    pace = f"one message every {args.pace:g} s each" if args.pace else "messages back to back"
    log(f"Load test: {args.visitors} visitors on {where}, {pace}; ramp-up {ramp:g} s, then {args.seconds:g} s "
        f"(replies still due are waited for up to {args.timeout:g} s)")

    def progress(line: Dict[str, Any]) -> None:
        log(f"  {line['elapsed_s']:5.0f} s: {line['sent']} sent, {line['replied']} replied, "
            f"{line['errors']} errors, {line['lost']} lost")

    config = {"urls": args.urls, "ours": True, "conversations": args.visitors, "seconds": args.seconds,
              "pace": args.pace, "length": CONVERSATION_LENGTH, "messages": MESSAGES, "timeout": args.timeout,
              "progress": PROGRESS_SECONDS, "vary": True, "ramp": ramp}
    # connecting, the last replies and reconnecting after a lost message each wait up to --timeout
    limit = ramp + args.seconds + 3 * args.timeout + 60
    try:
        raw = asyncio.run(run_driver(modules, config, on_progress=progress, time_limit=limit))
    except DriverError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130

    result = summarise(args, raw)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    log("")
    log(table(result))
    try:
        shown = path.relative_to(PROJECT_ROOT)
    except ValueError:
        shown = path
    log(f"Written: {shown}")
    if result["passed"]:
        log("PASS: every message was answered")
        return 0
    reasons = [f"{result['lost']} lost" if result["lost"] else "", f"{result['errors']} errors" if result["errors"]
               else "", "no replies" if not result["replied"] else ""]
    log(f"FAIL: {', '.join(r for r in reasons if r)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
