"""Per-message reply latency of a running assistant over the REST channel.

    python -m bot.ops.latency [--url http://localhost:5005] [--n 100]

Sends a mix of FAQ questions, small talk and crisis messages, one at a time, each
from a new conversation, and prints p50/p95/max. A measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
import uuid

MESSAGES = [
    "hi", "is klonopin addictive", "how long does withdrawal last", "does insurance cover rehab",
    "what is the typical dose", "can i drink on klonopin", "my friend is not breathing",
    "i want to end my life", "talk to a person", "are you a bot", "what are the signs of an overdose",
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://localhost:5005")
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args(argv)
    timings = []
    for i in range(args.n):
        body = json.dumps({"sender": f"latency-{uuid.uuid4().hex}", "message": MESSAGES[i % len(MESSAGES)]})
        request = urllib.request.Request(f"{args.url}/webhooks/rest/webhook", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        except OSError as exc:
            print(f"error: {args.url} did not answer ({exc}); is `make run` running?", file=sys.stderr)
            return 2
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p = lambda q: timings[min(len(timings) - 1, int(q * len(timings)))]  # noqa: E731
    print(f"{args.n} messages: p50 {p(0.5):.0f} ms, p95 {p(0.95):.0f} ms, max {timings[-1]:.0f} ms, "
          f"mean {statistics.mean(timings):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
