/**
 * The WebSocket side of the screen-pop benchmark, in its own process so that the clients'
 * frame parsing never competes with the daemon for one event loop (on two cores the daemon
 * and the clients each get one). Forked by popLatency.ts; driven over IPC:
 *   {open, url, tokens, watchers?, localAddress?, fds?}
 *                        → opens one client per token (ws subprotocols ctibridge.v1 +
 *                          bearer.TOKEN), from `localAddress` (a 127.x address: each source
 *                          address has its own ~28k ephemeral ports), then one per watcher
 *                          token (frames counted, never matched), `batch` at a time (default
 *                          OPEN_BATCH); `fds` raises this process's
 *                          file limit first; replies {opened, n, fds, rss} once every one had
 *                          its snapshot;
 *   {clock}              → replies {clock, t} with process.hrtime.bigint() (clock offset);
 *   {expect, n}          → replies {done} once n `call.ringing` frames arrived since the last
 *                          collect (or never: the parent bounds the wait);
 *   {collect}            → replies {collected, ringing: [[linkedId, ns]], frames, first, last}
 *                          and starts counting afresh;
 *   {close}              → terminates every client (then {closed});
 *   {attack, url, token} → one more client (the attacker, not counted above); {attackReady}
 *                          once it had its snapshot;
 *   {flood, frames, callId}
 *                        → the attacker writes `frames` frames back to back (claim and resume
 *                          afterSeq 0 alternating); no reply;
 *   {attackStats}        → {attackStats, sent, replies: {type or error code: n}, closeCode}.
 * Every frame is JSON-parsed, as a CRM front end would; the receive time is taken in the
 * `message` listener, before parsing.
 */
import { pathToFileURL } from "node:url";
import { WebSocket } from "ws";
import { raiseFdLimit } from "../../dist/bench/fdLimit.js";
import { gcs, busy, startGc, startBusy, sched, threads } from "./busy.mjs";
startGc(); if (process.env.TRACE_BUSY) startBusy();
const SUBPROTOCOL = "ctibridge.v1";
/** Connections opened at once; the daemon authenticates each against SQLite on upgrade. */
const OPEN_BATCH = 100;
const OPEN_TIMEOUT_MS = 20_000;
const clients = [];
let ringing = [];
let frames = 0;
let first = 0n;
let last = 0n;
let expected = -1;
const attackReplies = {};
let attackClose = null;
let attacker = null;
let attackSent = 0;
/** Frames read by watcher clients (supervisors that see every call): counted, never matched. */
let watched = 0;
function onFrame(data) {
    const t = process.hrtime.bigint();
    if (first === 0n)
        first = t;
    last = t;
    frames++;
    const msg = JSON.parse(data.toString("utf8"));
    noteType(msg.type, t);
    if (msg.type !== "call.ringing")
        return;
    ringing.push([msg.call?.linkedIds?.[0] ?? "", t.toString(), sched()]);
    if (expected >= 0 && ringing.length >= expected) {
        expected = -1;
        process.send?.({ type: "done" });
    }
}
function onWatched(data) {
    watched++;
    noteType(JSON.parse(data.toString("utf8")).type, process.hrtime.bigint());
}
/** Frames by type since the last collect: count and the arrival time of the last one. */
let types = {};
function noteType(type, t) {
    const k = String(type);
    const e = types[k];
    if (e) {
        e[0]++;
        e[1] = t.toString();
    }
    else
        types[k] = [1, t.toString()];
}
/** Opens one client and resolves once its `snapshot` (the end of the session preamble) arrived. */
function open(url, token, localAddress, listener = onFrame) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, [SUBPROTOCOL, `bearer.${token}`], { perMessageDeflate: false, ...(localAddress ? { localAddress } : {}) });
        const timer = setTimeout(() => reject(new Error("client not ready within the time budget")), OPEN_TIMEOUT_MS);
        const preamble = (data) => {
            if (JSON.parse(data.toString("utf8")).type !== "snapshot")
                return;
            clearTimeout(timer);
            ws.off("message", preamble);
            ws.on("message", listener);
            resolve(ws);
        };
        ws.on("message", preamble);
        ws.once("error", (err) => {
            clearTimeout(timer);
            reject(new Error(`${err.message} after ${clients.length} clients were open`));
        });
    });
}
async function handle(msg) {
    switch (msg.type) {
        case "open": {
            const fds = msg.fds ? raiseFdLimit(msg.fds) : undefined;
            const batch = msg.batch ?? OPEN_BATCH;
            for (let i = 0; i < msg.tokens.length; i += batch) {
                clients.push(...(await Promise.all(msg.tokens.slice(i, i + batch).map((t) => open(msg.url, t, msg.localAddress)))));
            }
            for (const t of msg.watchers ?? [])
                clients.push(await open(msg.url, t, msg.localAddress, onWatched));
            return void process.send?.({ type: "opened", n: clients.length, fds, rss: process.memoryUsage.rss() });
        }
        case "clock":
            return void process.send?.({ type: "clock", t: process.hrtime.bigint().toString() });
        case "expect":
            expected = msg.n;
            if (ringing.length >= msg.n) {
                expected = -1;
                process.send?.({ type: "done" });
            }
            return;
        case "collect":
            process.send?.({ type: "collected", threads: threads(), gcs: gcs.splice(0), busy: busy.splice(0), ringing, frames, watched, types, first: first.toString(), last: last.toString() });
            types = {};
            ringing = [];
            frames = 0;
            watched = 0;
            first = last = 0n;
            return;
        case "attack": {
            const ws = await open(msg.url, msg.token);
            ws.off("message", onFrame);
            ws.on("message", (data) => {
                const m = JSON.parse(data.toString("utf8"));
                const key = m.type === "error" ? `error:${m.code ?? ""}` : String(m.type);
                attackReplies[key] = (attackReplies[key] ?? 0) + 1;
            });
            ws.once("close", (code) => (attackClose = code));
            clients.push(ws);
            attacker = ws;
            return void process.send?.({ type: "attackReady" });
        }
        case "flood": {
            const ws = attacker;
            if (!ws)
                throw new Error("no attacker connection");
            const claim = JSON.stringify({ type: "claim", callId: msg.callId });
            const resume = JSON.stringify({ type: "resume", afterSeq: 0 });
            for (; attackSent < msg.frames && ws.readyState === WebSocket.OPEN; attackSent++)
                ws.send(attackSent % 2 === 0 ? claim : resume);
            return;
        }
        case "attackStats":
            return void process.send?.({ type: "attackStats", sent: attackSent, replies: attackReplies, closeCode: attackClose });
        case "close":
            for (const ws of clients.splice(0))
                ws.terminate();
            return void process.send?.({ type: "closed" });
    }
}
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
    process.on("message", (m) => {
        handle(m).catch((err) => {
            process.send?.({ type: "error", error: err instanceof Error ? err.message : String(err) });
        });
    });
    // The benchmark process going away (normal end or crash) ends the clients too.
    process.on("disconnect", () => process.exit(0));
}
//# sourceMappingURL=popClients.js.map