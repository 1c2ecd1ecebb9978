// Socket.IO load driver: many simulated visitors over websockets, one process.
// usage: node scripts/sio-load.js CONFIG_JSON
// Used by `make bench` (bot/ops/bench.py) and `make load` (bot/ops/load.py) through bot/ops/sio_driver.py,
// which installs socket.io-client into build/sio-client.
//
// CONFIG_JSON: url (or urls: visitor i uses urls[i % urls.length]), conversations (visitors at
// once), seconds (sending time after the ramp-up), pace (seconds from one message of a visitor
// to its next; 0: back to back), length (messages per conversation: then a new conversation on
// the same connection), messages (sent in turn), ours (this assistant issues session ids; stock
// Rasa takes made-up ones), and optionally ramp (seconds over which visitors start, default
// min(pace, 5)), timeout (seconds to wait for a reply, default 30),
// progress (seconds between PROGRESS lines on stderr, default none) and vary (visitor i starts
// at message i, so visitors at the same moment ask different questions; default: all start at 0).
//
// Each visitor waits for the whole answer to its message before it sends the next (a closed
// loop). This assistant (ours) sends typing {on: false} after the last part of an answer, which
// completes it; stock Rasa sends no such marker, so there an answer is complete when 50 ms pass
// without another part. The 50 ms of quiet alone is not enough under overload: the parts of
// one answer can then be seconds apart, a late part is taken for the reply to the next message,
// and the visitors run ahead of the server. In both cases the driver also waits for 50 ms of
// quiet before the next message.
//
// Visitors start spread over `ramp` seconds, then send for `seconds`; a message still waiting
// then is waited for (up to `timeout`), so every message sent ends replied, errored or lost.
//
// prints one JSON object: latencies_ms (first part of each answer), complete_ms (whole answer),
// errors, lost, sent, elapsed_s, error_kinds, handoffs, escalations and by_url (the same per URL).
// A message is lost when its answer was not complete within `timeout`, was empty, or the
// connection dropped while it waited; it errors when the server answered it with session_error
// (e.g. the flood limit).
// Errors also count connections and sessions that failed and dropped connections. After a
// lost message the visitor reconnects, so a late reply is never taken for the next one.
const crypto = require("crypto");
const { io } = require("socket.io-client");

const cfg = JSON.parse(process.argv[2]);
const urls = cfg.urls || [cfg.url];
const timeoutMs = (cfg.timeout || 30) * 1000;
const ramp = cfg.ramp !== undefined ? cfg.ramp : Math.min(cfg.pace || 0, 5);
const perUrl = urls.map((url) => ({ url, sent: 0, latencies_ms: [], errors: 0, lost: 0 }));
const latencies = [], complete = [];
const errorKinds = {};
let errors = 0, lost = 0, sent = 0, handoffs = 0, escalations = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function error(stats, kind) {
  errors++;
  stats.errors++;
  errorKinds[kind] = (errorKinds[kind] || 0) + 1;
}

async function visitor(index) {
  await sleep(cfg.conversations > 1 ? (ramp * 1000 * index) / cfg.conversations : 0);
  const stopAt = cfg.stopAt;
  const stats = perUrl[index % urls.length];
  let socket = null;
  let answer = null;    // the message waiting for its answer: {first, problem, resolve}
  let confirmed = null;
  let lastReply = 0;
  let inHandoff = false;  // the conversation went to staff: no typing marker to wait for

  function finish(problem) {
    if (!answer) return;
    const a = answer;
    answer = null;
    if (problem) a.problem = problem;
    a.resolve(a);
  }

  // a connection with its session; false (and an error counted) when either fails
  async function open() {
    const s = io(urls[index % urls.length], { path: "/socket.io", transports: ["websocket"], reconnection: false,
                                              timeout: timeoutMs, forceNew: true });
    socket = s;
    inHandoff = false;
    s.on("bot_uttered", (data) => {
      if (s !== socket) return;
      const now = performance.now();
      lastReply = now;
      if (data && data.custom && data.custom.escalation) escalations++;
      if (!answer) return;
      if (answer.first === null) answer.first = now;
      if (!cfg.ours || inHandoff) finish();
    });
    // this assistant: typing {on: false} follows the last part of every answer
    s.on("typing", (data) => { if (s === socket && data && data.on === false && answer && cfg.ours) finish(); });
    s.on("handoff_status", (data) => {
      if (s !== socket) return;
      handoffs++;
      inHandoff = !!data && (data.state === "waiting" || data.state === "connected");
    });
    s.on("session_error", (data) => {
      if (s === socket) finish(`session_error:${(data && data.reason) || "unknown"}`);
    });
    s.on("session_confirm", () => { if (s === socket && confirmed) { const c = confirmed; confirmed = null; c(); } });
    s.on("disconnect", (reason) => {
      if (s !== socket || reason === "io client disconnect") return;
      error(stats, "disconnect");
      finish("disconnect");
    });
    try {
      await new Promise((resolve, reject) => { s.on("connect", resolve); s.on("connect_error", reject); });
    } catch (e) { error(stats, "connect"); s.close(); return false; }
    if (!(await session())) { s.close(); return false; }
    return true;
  }

  function session() {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { confirmed = null; error(stats, "session"); resolve(false); }, timeoutMs);
      confirmed = () => { clearTimeout(timer); resolve(true); };
      // this assistant issues signed ids itself; stock Rasa takes the id the client makes up
      socket.emit("session_request", { session_id: cfg.ours ? null : crypto.randomUUID() });
    });
  }

  if (!(await open())) return;
  let i = 0, turn = 0;  // messages of this visitor, of its current conversation
  while (performance.now() < stopAt) {
    if (!socket.connected) {  // dropped between messages (counted): a new connection
      socket.close();
      if (!(await open())) return;
      turn = 0;
    } else if (turn === cfg.length) {
      if (!(await session())) break;
      turn = 0;
      inHandoff = false;
    }
    const started = performance.now();
    const reply = new Promise((resolve) => { answer = { first: null, problem: null, resolve }; });
    socket.emit("user_uttered", { message: cfg.messages[((cfg.vary ? index : 0) + i) % cfg.messages.length] });
    sent++;
    stats.sent++;
    i++;
    turn++;
    let timer;
    const got = await Promise.race([reply, new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); })]);
    const done = performance.now();
    clearTimeout(timer);
    answer = null;
    if (got === null || got.problem === "disconnect") {
      lost++;
      stats.lost++;
      // a late reply must not be taken for the reply to the next message: a new connection
      socket.close();
      if (performance.now() >= stopAt || !(await open())) return;
      turn = 0;
      continue;
    }
    if (got.problem) {
      error(stats, got.problem);
    } else if (got.first === null) {  // answered with nothing
      lost++;
      stats.lost++;
    } else {
      latencies.push(got.first - started);
      stats.latencies_ms.push(got.first - started);
    }
    // the rest of a multi-part answer: wait until 50 ms pass without a message, so a late
    // part is never taken for the reply to the next question
    do { await sleep(50); } while (performance.now() - lastReply < 50);
    if (!got.problem && got.first !== null) complete.push((cfg.ours && !inHandoff ? done : lastReply) - started);
    if (cfg.pace) {
      const wait = Math.max(0, cfg.pace * 1000 - (performance.now() - started));
      if (performance.now() + wait >= stopAt) break;  // no next message: the run is over
      await sleep(wait);
    }
  }
  socket.close();
}

(async () => {
  const started = performance.now();
  cfg.stopAt = started + (cfg.seconds + ramp) * 1000;
  let ticker = null;
  if (cfg.progress) {
    ticker = setInterval(() => {
      const line = { elapsed_s: (performance.now() - started) / 1000, sent, replied: latencies.length, errors, lost };
      process.stderr.write("PROGRESS " + JSON.stringify(line) + "\n");
    }, cfg.progress * 1000);
  }
  await Promise.all(Array.from({ length: cfg.conversations }, (_, i) => visitor(i)));
  if (ticker) clearInterval(ticker);
  const elapsed = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify({
    latencies_ms: latencies, complete_ms: complete, errors, lost, sent, elapsed_s: elapsed,
    error_kinds: errorKinds, handoffs, escalations, by_url: perUrl,
  }) + "\n", () => process.exit(0));
})();
