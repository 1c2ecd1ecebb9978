"""Benchmark: this assistant side by side with stock Rasa trained on the same data.

    make bench                      # python -m bot.ops.bench
    python -m bot.ops.bench --quick     # shorter runs, for trying the benchmark itself

"Stock" is the same domain, data, rules and stories trained with Rasa's default
``config.yml`` (what ``rasa init`` produces: DIET, ResponseSelector, TED,
UnexpecTED), served the same way (same action server, SQLite database and machine),
except that stock keeps conversations in Rasa's own SQL tracker store and talks to
Socket.IO through Rasa's socketio channel. The two are measured one after the other,
never at the same time.

For each: reply latency over REST and Socket.IO (p50/p95/p99) for 1, 10 and 50
conversations sending back to back (each simulated visitor sends 10 messages, then the next
visitor takes over), and for 200 conversations each sending a message
every 5 seconds; messages per second at saturation; cold start to first reply; resident
memory of the Rasa server and the action server; training time from clean and after a
one-answer edit. For this assistant alone: time per message of the crisis screen.

Stock Rasa takes many minutes to train, so its model and training times are kept in
build/bench/stock/ and reused while its inputs are unchanged (``--retrain-stock``
measures them again); the report says when a figure was reused.

Results: results/bench/<time>.json, results/bench/latest.md (a table) and
results/bench/latency.png (latency against concurrency). Figures are printed, never
asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import statistics
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

from bot import PROJECT_ROOT
from bot.ops import rasa_cli
from bot.ops.run import commands
from bot.ops.process import free_port, stop, wait_until_up
from bot.ops.sio_driver import percentiles, run_driver, websocket_client
from bot.ops.train import MODEL_PATH, RASA_DATA, fingerprint, rasa_env

BUILD = PROJECT_ROOT / "build" / "bench"
STOCK = BUILD / "stock"
# stock Rasa is started as `rasa`; this assistant through bot/ops/rasa_cli.py (skops imported first)
STOCK_RASA = [sys.executable, "-m", "rasa"]
RESULTS = PROJECT_ROOT / "results" / "bench"
MESSAGES = [
    "hi", "is klonopin addictive", "how long does withdrawal last", "does insurance cover rehab",
    "what is the typical dose of clonazepam", "can i drink on klonopin", "how long is rehab",
    "what are the signs of an overdose", "is it safe during pregnancy", "thanks",
]
# Messages per simulated conversation: a closed loop would otherwise grow one conversation
# to hundreds of turns, and Rasa reads and writes a conversation's whole history per message.
CONVERSATION_LENGTH = 10
# Socket.IO load: websocket clients from Node's socket.io-client when node and npm are there
# (bot/ops/sio_driver.py, shared with `make load`), else python-socketio clients over
# long-polling, which add latency of their own at 200 clients
# stock Rasa keeps conversations in Rasa's own SQL tracker store (ours: bot/storage/tracker_store.py)
STOCK_ENDPOINTS = "action_endpoint:\n  url: ${HELPLINE_ACTION_ENDPOINT}\ntracker_store:\n  type: SQL\n" \
                  "  url: ${HELPLINE_TRACKER_URL}\n"
STOCK_CREDENTIALS = "rest:\nsocketio:\n  user_message_evt: user_uttered\n  bot_message_evt: bot_uttered\n" \
                    "  session_persistence: false\n"


def log(text: str) -> None:
    print(text, flush=True)


# -- training --------------------------------------------------------------------

def stock_config() -> Path:
    import rasa.engine.recipes

    return Path(rasa.engine.recipes.__file__).parent / "config_files" / "default_config.yml"


STOCK_INPUTS = ["domain", *RASA_DATA, "requirements.lock"]


def inputs_digests(config: Path) -> Dict[str, str]:
    """One digest per input of stock training, so a retraining can say what changed."""
    return {"config": hashlib.sha256(config.read_bytes()).hexdigest(),
            **{name: fingerprint(inputs=[name]) for name in STOCK_INPUTS}}


def edited_domain(target: Path) -> Path:
    """A copy of domain/ with one FAQ answer changed, as a content edit would."""
    shutil.copytree(PROJECT_ROOT / "domain", target)
    faq = target / "faq.yml"
    text = faq.read_text()
    at = text.index("\\n\\nSource:")  # the first answer's source line (escaped newlines in YAML)
    faq.write_text(text[:at] + "(Reviewed for the benchmark.) " + text[at:])
    return target


def timed_training(config: Path, out: Path, cache: Path, domain: Path, name: str, rasa: List[str]) -> float:
    out.mkdir(parents=True, exist_ok=True)
    env = {**rasa_env(), "RASA_CACHE_DIRECTORY": str(cache)}
    command = [*rasa, "train", "--domain", str(domain), "--data", *RASA_DATA,
               "--config", str(config), "--out", str(out), "--fixed-model-name", name]
    started = time.monotonic()
    with (out / f"{name}.log").open("w") as handle:
        done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"training {name} failed: see {out / (name + '.log')}")
    return time.monotonic() - started


def training_times(config: Path, workdir: Path, label: str, rasa: List[str]) -> Dict[str, Any]:
    """From clean (an empty cache), then after a one-answer edit (the warm cache)."""
    cache = workdir / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    log(f"  {label}: training from clean...")
    clean = timed_training(config, workdir, cache, PROJECT_ROOT / "domain", "clean", rasa)
    log(f"  {label}: {clean:.0f} s from clean; training after a one-answer edit...")
    with tempfile.TemporaryDirectory() as tmp:
        edit = timed_training(config, workdir, cache, edited_domain(Path(tmp) / "domain"), "edited", rasa)
    log(f"  {label}: {edit:.0f} s after a one-answer edit")
    return {"clean_s": round(clean, 1), "one_answer_edit_s": round(edit, 1),
            "model": str(workdir / "clean.tar.gz")}


def stock_training(retrain: bool) -> Dict[str, Any]:
    record = STOCK / "training.json"
    digests = inputs_digests(stock_config())
    if not retrain and record.exists():
        kept = json.loads(record.read_text())
        recorded = kept.get("inputs") if isinstance(kept.get("inputs"), dict) else {}  # older records: one digest
        changed = [name for name in digests if recorded.get(name) != digests[name]]
        if not Path(kept.get("model", "")).exists():
            log("  stock Rasa: the model of the last training is gone: training again (about 15 to 30 minutes)")
        elif changed:
            log(f"  stock Rasa: {', '.join(changed)} changed since the training of {kept['measured_at']}:"
                " training again (about 15 to 30 minutes; --retrain-stock always does)")
        else:
            log(f"  stock Rasa: training times measured {kept['measured_at']} (inputs unchanged), reused")
            return {**kept, "reused": True}
    STOCK.mkdir(parents=True, exist_ok=True)
    result = training_times(stock_config(), STOCK, "stock Rasa", STOCK_RASA)
    result.update(inputs=digests, measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    record.write_text(json.dumps(result, indent=2) + "\n")
    return {**result, "reused": False}


# -- servers -------------------------------------------------------------------------

def rss_mb(pid: int) -> Dict[str, float]:
    """Current and peak resident memory of a process and its children."""
    figures = {"rss_mb": 0.0, "peak_rss_mb": 0.0}
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                figures["rss_mb"] += int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                figures["peak_rss_mb"] += int(line.split()[1]) / 1024
    return {k: round(v) for k, v in figures.items()}


class Stack:
    """The action server and one Rasa server with a given model and channels."""

    def __init__(self, model: Path, credentials: Path, workdir: Path,
                 endpoints: Path = PROJECT_ROOT / "endpoints.yml", rasa: List[str] = rasa_cli.COMMAND) -> None:
        self.model, self.credentials, self.workdir, self.endpoints = model, credentials, workdir, endpoints
        self.rasa = rasa
        self.port, self.actions_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: List[subprocess.Popen] = []

    def env(self) -> Dict[str, str]:
        return {**rasa_env(), "HELPLINE_ACTION_ENDPOINT": f"http://127.0.0.1:{self.actions_port}/webhook",
                "HELPLINE_TRACKER_URL": f"sqlite:///{self.workdir / 'tracker.db'}",
                "HELPLINE_DATABASE_URL": f"sqlite:///{self.workdir / 'helpline.db'}",
                "HELPLINE_STAFF_HOURS": "mon 00:00-00:01", "HELPLINE_SECRET_KEY": "bench",
                # back-to-back visitors send faster than the web chat's flood limit lets through
                # (bot/channels/guard.py), which would skip their messages: off for the benchmark
                "HELPLINE_FLOOD_MESSAGES": "0",
                "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}

    def _spawn(self, command: List[str], name: str) -> subprocess.Popen:
        handle = (self.workdir / f"{name}.log").open("w")
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=self.env(), stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def start(self) -> float:
        """Start both; the cold start is from starting Rasa to its first reply."""
        actions, rasa = commands(self.port, self.actions_port, self.model, str(self.credentials), str(self.endpoints),
                                 rasa=self.rasa)
        self.actions = self._spawn(actions, "actions")
        if not wait_until_up(f"http://127.0.0.1:{self.actions_port}/health", self.processes, 120):
            raise RuntimeError("the action server did not start: see build/bench/run-*/actions.log")
        started = time.monotonic()
        self.rasa = self._spawn(rasa, "rasa")
        wait_for_reply(self.url, 300, self.processes)
        return time.monotonic() - started

    def memory(self) -> Dict[str, Any]:
        return {"rasa": rss_mb(self.rasa.pid), "actions": rss_mb(self.actions.pid)}

    def stop(self) -> None:
        stop(self.processes, grace=30)


def wait_for_reply(url: str, timeout: float, processes: List[subprocess.Popen]) -> None:
    """Until the REST channel answers a question (the server is up before its model is)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("a server exited while starting: see its log in build/bench/")
        try:
            if rest_reply(url, "cold-start", "is klonopin addictive"):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no reply within {timeout} s")


def rest_reply(url: str, sender: str, text: str) -> bool:
    import urllib.request

    request = urllib.request.Request(f"{url}/webhooks/rest/webhook", method="POST",
                                     data=json.dumps({"sender": sender, "message": text}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return bool(json.loads(response.read()))


# -- load ------------------------------------------------------------------------------

class Tally:
    def __init__(self) -> None:
        self.latencies: List[float] = []
        self.errors = 0
        self.lost = 0


async def rest_conversation(session, url: str, stop_at: float, tally: Tally, pace: Optional[float],
                            offset: float) -> None:
    await asyncio.sleep(offset)
    i = 0
    while time.monotonic() < stop_at:
        if i % CONVERSATION_LENGTH == 0:  # a visitor's chat is about this long; then the next visitor
            sender = f"bench-{uuid.uuid4().hex[:12]}"
        sent = time.monotonic()
        try:
            async with session.post(f"{url}/webhooks/rest/webhook",
                                    json={"sender": sender, "message": MESSAGES[i % len(MESSAGES)]}) as response:
                body = await response.json(content_type=None)
            if response.status != 200:
                tally.errors += 1
            elif not body:
                tally.lost += 1
            else:
                tally.latencies.append(time.monotonic() - sent)
        except Exception:
            tally.errors += 1
        i += 1
        if pace:
            await asyncio.sleep(max(0.0, pace - (time.monotonic() - sent)))


async def socket_conversation(url: str, ours: bool, stop_at: float, tally: Tally, pace: Optional[float],
                              offset: float) -> None:
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    replies: asyncio.Queue = asyncio.Queue()
    ready = asyncio.Event()
    session_id = uuid.uuid4().hex

    @client.on("bot_uttered")
    async def on_reply(data):
        await replies.put(time.monotonic())

    @client.on("session_confirm")
    async def on_confirm(data):
        nonlocal session_id
        if isinstance(data, dict) and data.get("session_id"):
            session_id = data["session_id"]
        ready.set()

    await asyncio.sleep(offset)
    try:
        # long-polling: the websocket transport of python-engineio's client needs a newer
        # aiohttp than Rasa 3.6 pins (ClientWSTimeout); the server side is the same
        await client.connect(url, transports=["polling"], socketio_path="/socket.io", wait_timeout=30)
        await client.emit("session_request", {"session_id": None if ours else session_id})
        await asyncio.wait_for(ready.wait(), 30)
    except Exception:
        tally.errors += 1
        await client.disconnect()
        return
    i = 0
    while time.monotonic() < stop_at:
        if i and i % CONVERSATION_LENGTH == 0:  # the next visitor, on the same connection
            ready.clear()
            session_id = uuid.uuid4().hex
            await client.emit("session_request", {"session_id": None if ours else session_id})
            try:
                await asyncio.wait_for(ready.wait(), 30)
            except asyncio.TimeoutError:
                tally.errors += 1
                break
        while not replies.empty():  # late parts of the previous answer
            replies.get_nowait()
        sent = time.monotonic()
        await client.emit("user_uttered", {"message": MESSAGES[i % len(MESSAGES)], "session_id": session_id})
        i += 1
        try:
            tally.latencies.append(await asyncio.wait_for(replies.get(), 30) - sent)
        except asyncio.TimeoutError:
            tally.lost += 1  # no reply in 30 s
            continue
        try:  # let the rest of a multi-part answer arrive before the next question
            while True:
                await asyncio.wait_for(replies.get(), 0.05)
        except asyncio.TimeoutError:
            pass
        if pace:
            await asyncio.sleep(max(0.0, pace - (time.monotonic() - sent)))
    await client.disconnect()


async def websocket_load(modules: Path, url: str, ours: bool, conversations: int, seconds: float,
                         pace: Optional[float]) -> Dict[str, Any]:
    config = {"url": url, "ours": ours, "conversations": conversations, "seconds": seconds, "pace": pace or 0,
              "length": CONVERSATION_LENGTH, "messages": MESSAGES}
    result = await run_driver(modules, config)
    latencies = [ms / 1000 for ms in result["latencies_ms"]]
    return {**percentiles(latencies), "throughput_per_s": round(len(latencies) / result["elapsed_s"], 1),
            "errors": result["errors"], "lost": result["lost"], "client": "websocket (node socket.io-client)"}


async def run_load(url: str, channel: str, ours: bool, conversations: int, seconds: float,
                   pace: Optional[float] = None) -> Dict[str, Any]:
    import aiohttp

    tally = Tally()
    spread = min(pace or 0.0, 5.0)
    stop_at = time.monotonic() + seconds + spread
    started = time.monotonic()
    if channel == "rest":
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
            await asyncio.gather(*(rest_conversation(session, url, stop_at, tally, pace, spread * i / conversations)
                                   for i in range(conversations)))
    else:
        modules = websocket_client(log)
        if modules is not None:
            return await websocket_load(modules, url, ours, conversations, seconds, pace)
        log("  Socket.IO falls back to python-socketio clients over long-polling")
        await asyncio.gather(*(socket_conversation(url, ours, stop_at, tally, pace, spread * i / conversations)
                               for i in range(conversations)))
    elapsed = time.monotonic() - started
    return {**percentiles(tally.latencies), "throughput_per_s": round(len(tally.latencies) / elapsed, 1),
            "errors": tally.errors, "lost": tally.lost,
            **({} if channel == "rest" else {"client": "long-polling (python-socketio)"})}


def measure_stack(name: str, model: Path, credentials: Path, ours: bool, quick: bool,
                  endpoints: Path = PROJECT_ROOT / "endpoints.yml") -> Dict[str, Any]:
    workdir = BUILD / f"run-{name}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    stack = Stack(model, credentials, workdir, endpoints, rasa_cli.COMMAND if ours else STOCK_RASA)
    seconds, pace_seconds = (5, 15) if quick else (15, 40)
    result: Dict[str, Any] = {"closed_loop": {}, "chat_pace": {}}
    try:
        log(f"  {name}: starting...")
        result["cold_start_s"] = round(stack.start(), 1)
        log(f"  {name}: first reply {result['cold_start_s']} s after start")
        for channel in ("rest", "socketio"):
            for conversations in (1, 10, 50):
                figures = asyncio.run(run_load(stack.url, channel, ours, conversations, seconds))
                result["closed_loop"][f"{channel}/{conversations}"] = figures
                log(f"  {name}: {channel:8s} {conversations:3d} back to back: {describe(figures)}")
            figures = asyncio.run(run_load(stack.url, channel, ours, 200, pace_seconds, pace=5.0))
            result["chat_pace"][channel] = figures
            log(f"  {name}: {channel:8s} 200 at one message / 5 s: {describe(figures)}")
        # REST only: the Socket.IO loop waits 50 ms after each answer for its last parts
        result["saturation_per_s"] = max(f["throughput_per_s"] for k, f in result["closed_loop"].items()
                                         if k.startswith("rest/"))
        result["memory_mb"] = stack.memory()
        log(f"  {name}: memory {result['memory_mb']}")
    finally:
        stack.stop()
    return result


def describe(figures: Dict[str, Any]) -> str:
    return (f"p50 {figures['p50']} ms, p95 {figures['p95']} ms, p99 {figures['p99']} ms, "
            f"{figures['throughput_per_s']}/s, {figures['n']} replies, {figures['errors']} errors, "
            f"{figures['lost']} lost")


def crisis_timing() -> Dict[str, Any]:
    """The crisis screen per message (bot/crisis/decide.py: rules, embeddings, classifier,
    language), on the frozen test split's messages, short and long as visitors write them."""
    from bot.crisis import corpus, decide

    screen = decide.load()
    texts = [item.text for item in corpus.load("test")]
    for text in texts[:20]:
        screen.screen(text)  # warm up
    times = []
    for _ in range(3):
        for text in texts:
            started = time.perf_counter()
            screen.screen(text)
            times.append((time.perf_counter() - started) * 1000)
    rules_started = time.perf_counter()
    for text in texts:
        screen.detector.detect(text)
    rules_ms = (time.perf_counter() - rules_started) * 1000 / len(texts)
    times.sort()
    return {"messages": len(times), "semantic": screen.semantic is not None,
            "p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(len(times) * 0.95)], 2),
            "max_ms": round(times[-1], 1), "rules_only_ms": round(rules_ms, 3)}


# -- report ----------------------------------------------------------------------------

def ratio(a: Optional[float], b: Optional[float]) -> str:
    return f"{a / b:.1f}x" if a and b else "-"


def markdown(report: Dict[str, Any]) -> str:
    ours, stock = report["ours"], report["stock"]
    rows = ["| measure | this assistant | stock Rasa | this assistant better by |", "|---|---|---|---|"]

    def row(label: str, a: Any, b: Any, unit: str = "", invert: bool = False) -> None:
        rows.append(f"| {label} | {a}{unit} | {b}{unit} | {ratio(a, b) if invert else ratio(b, a)} |")

    for key in ours["closed_loop"]:
        channel, n = key.split("/")
        for q in ("p50", "p95", "p99"):
            row(f"{channel} {n} back to back, {q}", ours["closed_loop"][key][q], stock["closed_loop"][key][q], " ms")
    for channel in ours["chat_pace"]:
        for q in ("p50", "p95", "p99"):
            row(f"{channel} 200 at 1 msg / 5 s, {q}", ours["chat_pace"][channel][q], stock["chat_pace"][channel][q],
                " ms")
        rows.append(f"| {channel} 200 at chat pace, lost / errors | {ours['chat_pace'][channel]['lost']} / "
                    f"{ours['chat_pace'][channel]['errors']} | {stock['chat_pace'][channel]['lost']} / "
                    f"{stock['chat_pace'][channel]['errors']} | |")
    row("messages per second at saturation", ours["saturation_per_s"], stock["saturation_per_s"], invert=True)
    row("cold start to first reply", ours["cold_start_s"], stock["cold_start_s"], " s")
    row("Rasa server memory (peak RSS)", ours["memory_mb"]["rasa"]["peak_rss_mb"],
        stock["memory_mb"]["rasa"]["peak_rss_mb"], " MB")
    row("action server memory (peak RSS)", ours["memory_mb"]["actions"]["peak_rss_mb"],
        stock["memory_mb"]["actions"]["peak_rss_mb"], " MB")
    row("training from clean", report["training"]["ours"]["clean_s"], report["training"]["stock"]["clean_s"], " s")
    row("training after a one-answer edit", report["training"]["ours"]["one_answer_edit_s"],
        report["training"]["stock"]["one_answer_edit_s"], " s")
    crisis = report["crisis"]
    rows.append(f"| crisis screen per message (rules + embeddings + classifier) | p50 {crisis['p50_ms']} ms, "
                f"p95 {crisis['p95_ms']} ms, max {crisis['max_ms']} ms | - | target p95 10 ms |")
    rows.append(f"| crisis rules alone per message | {crisis['rules_only_ms']} ms | - | |")
    notes = [f"Measured {report['measured_at']} on {os.cpu_count()} cores"
             + (" (quick run)" if report["quick"] else "") + "."]
    if report["training"]["stock"].get("reused"):
        notes.append(f"Stock training times reused from {report['training']['stock']['measured_at']} "
                     "(same inputs).")
    return "\n".join(rows) + "\n\n" + " ".join(notes) + "\n"


def plot(report: Dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, channel in zip(axes, ("rest", "socketio")):
        for name, style in (("ours", "o-"), ("stock", "s--")):
            loops = report[name]["closed_loop"]
            levels = [int(k.split("/")[1]) for k in loops if k.startswith(channel)]
            axis.plot(levels, [loops[f"{channel}/{n}"]["p95"] for n in levels], style,
                      label=f"{'this assistant' if name == 'ours' else 'stock Rasa'} p95")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("conversations sending back to back")
        axis.set_title(channel)
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("reply latency (ms)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter load runs (5 s, 15 s at chat pace)")
    parser.add_argument("--retrain-stock", action="store_true", help="measure stock Rasa's training again")
    args = parser.parse_args(argv)
    if not MODEL_PATH.exists():
        print(f"error: no trained model at {MODEL_PATH}: run `make train`", file=sys.stderr)
        return 2
    BUILD.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    report: Dict[str, Any] = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "quick": args.quick, "cores": os.cpu_count()}

    log("1/4 Training times")
    report["training"] = {"ours": training_times(PROJECT_ROOT / "config.yml", BUILD / "ours", "this assistant",
                                                 rasa_cli.COMMAND),
                          "stock": stock_training(args.retrain_stock)}
    stock_credentials = BUILD / "stock-credentials.yml"
    stock_credentials.write_text(STOCK_CREDENTIALS)
    stock_endpoints = BUILD / "stock-endpoints.yml"
    stock_endpoints.write_text(STOCK_ENDPOINTS)

    log("2/4 This assistant under load")
    report["ours"] = measure_stack("ours", MODEL_PATH, PROJECT_ROOT / "credentials.yml", True, args.quick)
    log("3/4 Stock Rasa under load")
    report["stock"] = measure_stack("stock", Path(report["training"]["stock"]["model"]), stock_credentials, False,
                                    args.quick, stock_endpoints)
    log("4/4 Crisis detector")
    report["crisis"] = crisis_timing()

    stamp = report["measured_at"].replace(":", "").replace("-", "")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (RESULTS / "latest.md").write_text(table)
    plot(report, RESULTS / "latency.png")
    print("\n" + table)
    print(f"Written: results/bench/{stamp}.json, results/bench/latest.md, results/bench/latency.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
