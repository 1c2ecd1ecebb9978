// Socket.IO load driver: many simulated visitors over websockets, one process.
// usage: node scripts/sio-load.js CONFIG_JSON  (url, conversations, seconds, pace, length, messages, ours)
// Used by `make bench` (bot/bench.py), which installs socket.io-client into build/bench/sio-client.
// prints one JSON object: latencies in ms, errors, lost
const crypto = require("crypto");
const { io } = require("socket.io-client");

const cfg = JSON.parse(process.argv[2]);
const latencies = [];
let errors = 0, lost = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function visitor(index) {
  const spread = Math.min(cfg.pace || 0, 5) * 1000;
  await sleep(cfg.conversations > 1 ? (spread * index) / cfg.conversations : 0);
  const stopAt = cfg.stopAt;
  const socket = io(cfg.url, { path: "/socket.io", transports: ["websocket"], reconnection: false, timeout: 30000 });
  let waiter = null;
  let confirmed = null;
  let lastReply = 0;
  socket.on("bot_uttered", () => {
    const now = performance.now();
    lastReply = now;
    if (waiter) { const w = waiter; waiter = null; w(now); }
  });
  socket.on("session_confirm", () => { if (confirmed) { const c = confirmed; confirmed = null; c(); } });
  const session = () => new Promise((resolve, reject) => {
    confirmed = resolve;
    // this assistant issues signed ids itself; stock Rasa takes the id the client makes up
    socket.emit("session_request", { session_id: cfg.ours ? null : crypto.randomUUID() });
    setTimeout(() => reject(new Error("no session_confirm")), 30000);
  });
  try {
    await new Promise((resolve, reject) => { socket.on("connect", resolve); socket.on("connect_error", reject); });
    await session();
  } catch (e) { errors++; socket.close(); return; }
  let i = 0;
  while (performance.now() < stopAt) {
    if (i && i % cfg.length === 0) {
      try { await session(); } catch (e) { errors++; break; }
    }
    const sent = performance.now();
    const reply = new Promise((resolve) => { waiter = resolve; });
    socket.emit("user_uttered", { message: cfg.messages[i % cfg.messages.length] });
    i++;
    const got = await Promise.race([reply, sleep(30000).then(() => null)]);
    if (got === null) { waiter = null; lost++; continue; }
    latencies.push(got - sent);
    // the rest of a multi-part answer: wait until 50 ms pass without a message, so a late
    // part is never taken for the reply to the next question
    do { await sleep(50); } while (performance.now() - lastReply < 50);
    if (cfg.pace) await sleep(Math.max(0, cfg.pace * 1000 - (performance.now() - sent)));
  }
  socket.close();
}

(async () => {
  const started = performance.now();
  cfg.stopAt = started + (cfg.seconds + Math.min(cfg.pace || 0, 5)) * 1000;
  await Promise.all(Array.from({ length: cfg.conversations }, (_, i) => visitor(i)));
  const elapsed = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify({ latencies_ms: latencies, errors, lost, elapsed_s: elapsed }) + "\n");
  process.exit(0);
})();
