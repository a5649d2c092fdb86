/**
 * One readable line per server message for `ctibridge watch`:
 *   12:03:04 RINGING  +49 30 123456 (Acme GmbH · 1 match) → 1001  queue support  [call 7f3a9c01…]
 * Pure, and lenient: it reads the wire JSON as a client would, so an unknown type or a missing
 * field prints something sensible instead of throwing.
 */

type Obj = Record<string, unknown>;

export interface FormatOptions {
  /** Print times in UTC instead of the local zone (tests, servers in other zones). */
  utc?: boolean;
}

const LABELS: Record<string, string> = {
  hello: "HELLO",
  snapshot: "SNAPSHOT",
  "call.dialing": "DIALING",
  "call.ringing": "RINGING",
  "call.ringing_stopped": "STOPPED",
  "call.answered": "ANSWERED",
  "call.held": "HELD",
  "call.resumed": "RESUMED",
  "call.transferred": "TRANSFER",
  "call.updated": "UPDATED",
  "call.ended": "ENDED",
  "call.missed": "MISSED",
  "call.claimed": "CLAIMED",
  "call.done": "DONE",
  "queue.state": "QUEUE",
  "agent.state": "AGENT",
  "pbx.disconnected": "PBX DOWN",
  "pbx.resynced": "PBX UP",
  "pbx.failover": "FAILOVER",
  resync_required: "RESYNC",
  "command.result": "RESULT",
  error: "ERROR",
  pong: "PONG",
};

const obj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});
/** Every string read from a message passes here, so each field is made terminal-safe on its own. */
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? terminalSafe(v) : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

function time(ts: unknown, utc: boolean): string {
  const d = new Date(typeof ts === "string" ? ts : NaN);
  if (Number.isNaN(d.getTime())) return "--:--:--";
  const p = (n: number) => String(n).padStart(2, "0");
  return utc
    ? `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`
    : `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function shortId(id: unknown): string {
  const s = str(id) ?? "?";
  return s.length > 9 ? `${s.slice(0, 8)}…` : s;
}

export function duration(seconds: number | null): string {
  if (seconds === null) return "";
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** `+49 30 123456 (Acme GmbH · 1 match)`: the number, the caller name, the contact match. */
export function party(p: unknown, match?: unknown): string {
  const o = obj(p);
  const name = str(o.name);
  const number = name ? (str(o.e164) ?? str(o.raw) ?? "?") : (str(o.display) ?? str(o.raw) ?? "?");
  const notes: string[] = [];
  if (name) notes.push(name);
  const m = obj(match);
  const records = Array.isArray(m.records) ? m.records.map(obj) : [];
  const count = num(m.count) ?? records.length;
  const first = records[0];
  if (m.status === "pending") notes.push("lookup…");
  else if ((m.status === "single" || m.status === "multiple") && first) {
    const who = str(first.company) && str(first.company) !== name ? str(first.company)! : (str(first.name) ?? "?");
    notes.push(`${who} · ${count} match${count === 1 ? "" : "es"}`);
  }
  return notes.length > 0 ? `${number} (${notes.join(" · ")})` : number;
}

function callLine(type: string, m: Obj): string {
  const call = obj(m.call);
  const parts = [`${party(call.from, call.direction === "outbound" ? undefined : call.match)} → ${party(call.to, call.direction === "outbound" ? call.match : undefined)}`];
  if (type === "call.ringing_stopped" && str(m.reason)) parts.push(str(m.reason)!);
  const queue = str(call.queue);
  if (queue) parts.push(`queue ${queue}`);
  const ivr = Object.entries(obj(call.ivr)).map(([k, v]) => `${k}=${String(v)}`);
  if (ivr.length > 0) parts.push(`ivr ${ivr.join(" ")}`);
  const transfer = obj(call.transfer);
  if (type === "call.transferred" && Object.keys(transfer).length > 0) {
    parts.push(`${str(transfer.kind) ?? "?"} to ${str(obj(transfer.to).raw) ?? "?"}`);
  }
  const times = obj(call.times);
  if (type === "call.ended") {
    const talk = num(times.talkSeconds);
    parts.push([str(call.outcome) ?? "ended", talk !== null ? `talk ${duration(talk)}` : `wait ${duration(num(times.waitSeconds) ?? 0)}`].join(", "));
  }
  if (type === "call.missed" && str(m.callbackNumber)) parts.push(`call back ${str(m.callbackNumber)}`);
  if (m.pop === true) parts.push("POP");
  parts.push(`[call ${shortId(call.callId)}]`);
  return parts.join("  ");
}

function body(type: string, m: Obj, utc: boolean): string {
  if (type.startsWith("call.") && type !== "call.claimed" && type !== "call.done") return callLine(type, m);
  switch (type) {
    case "hello": {
      const u = obj(m.user);
      const devices = Array.isArray(u.devices) ? u.devices.join(", ") : "";
      return `${str(u.id) ?? "?"} (${str(u.name) ?? "?"}, ${str(u.role) ?? "agent"})  devices ${devices || "none"}  server ${str(obj(m.server).version) ?? "?"}`;
    }
    case "snapshot": {
      const calls = Array.isArray(m.calls) ? m.calls.map(obj) : [];
      const ids = calls.map((c) => `${str(c.state) ?? "?"} [call ${shortId(c.callId)}]`);
      return `${calls.length} active call${calls.length === 1 ? "" : "s"}${ids.length ? ": " + ids.join(", ") : ""}`;
    }
    case "call.claimed":
      return `[call ${shortId(m.callId)}] by ${str(m.by) ?? "?"}${m.byMe === true ? " (this connection)" : ""}`;
    case "call.done":
      return `${str(m.user) ?? "?"}  ${str(m.reason) === "called_back" ? "called back" : `marked by ${str(m.by) ?? "?"}`}  [call ${shortId(m.callId)}]`;
    case "queue.state": {
      const q = obj(m.queue);
      const t = obj(q.today);
      return `${str(q.queue) ?? "?"}  waiting ${num(q.waiting) ?? 0}  today answered ${num(t.answered) ?? 0}, abandoned ${num(t.abandoned) ?? 0}`;
    }
    case "agent.state": {
      const s = obj(m.state);
      const queues = (Array.isArray(s.queues) ? s.queues.map(obj) : []).map(
        (q) => `${str(q.queue) ?? "?"}: ${q.loggedIn === false ? "out" : q.paused === true ? `paused${str(q.reason) ? ` (${str(q.reason)})` : ""}` : "in"}`,
      );
      const wrap = obj(s.wrapUp);
      const activity = str(s.activity) === "wrap_up" && str(wrap.until) ? `wrap_up until ${time(wrap.until, utc)}` : (str(s.activity) ?? "");
      return [str(m.agent) ?? "?", str(s.deviceState) ?? "", activity, queues.join(", ")].filter((x) => x !== "").join("  ");
    }
    case "pbx.disconnected":
      return `AMI link lost${str(m.reason) ? `: ${str(m.reason)}` : ""}`;
    case "pbx.resynced":
      return `resynced${num(m.calls) !== null ? `, ${num(m.calls)} active calls` : ""}`;
    case "pbx.failover":
      return `${str(m.pbxId) ?? "?"}: another worker took over${num(m.calls) !== null ? `, ${num(m.calls)} active calls` : ""}`;
    case "resync_required":
      return `events after seq ${num(m.afterSeq) ?? "?"} are gone; a fresh snapshot follows`;
    case "command.result": {
      const e = obj(m.error);
      return m.ok === true ? `${str(m.id) ?? "?"} ok` : `${str(m.id) ?? "?"} failed ${str(e.code) ?? "?"}: ${str(e.message) ?? ""}`.trimEnd();
    }
    case "error":
      return `${str(m.code) ?? "?"}: ${str(m.message) ?? ""}`;
    case "pong":
      return "";
    default:
      return JSON.stringify(m).slice(0, 200);
  }
}

/** One line for one server message (already parsed JSON), safe to print on a terminal. */
export function formatMessage(message: unknown, opts: FormatOptions = {}): string {
  const m = obj(message);
  const type = str(m.type) ?? "?";
  const label = (LABELS[type] ?? type.toUpperCase()).padEnd(8);
  // Fields are cleaned one by one (an unterminated sequence cannot swallow the rest of the
  // line); the whole line once more for what is not read through `str` (arrays, keys, JSON).
  return terminalSafe(`${time(m.ts, opts.utc === true)} ${label} ${body(type, m, opts.utc === true)}`).trimEnd();
}

/*
 * Caller names, numbers, IVR variables and queue names come from the PBX, and an external
 * caller chooses their own caller name. Printed raw, an ESC sequence could recolour or clear
 * the operator's terminal, set its title, or (OSC 52) write to the clipboard; a bidi override
 * could make a number read backwards; a CR or LF could forge a line.
 */
/** ESC sequences (CSI, OSC/DCS/APC/PM/SOS strings up to their terminator, two-byte escapes) and their 8-bit C1 forms. */
const ESCAPE_SEQUENCE = /(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[\x20-\x7e]?/g;
/** Other C0/C1 controls, DEL, and the Unicode format characters that reorder or hide text. */
const UNSAFE_CHAR = /[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

/** Text a hostile string cannot use to steer the terminal: sequences removed, tabs and line breaks become spaces, other controls vanish. */
export function terminalSafe(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, "").replace(UNSAFE_CHAR, (c) => (c === "\t" || c === "\n" || c === "\r" || c === "\u2028" || c === "\u2029" ? " " : ""));
}

/**
 * A raw JSON message as one line that is still the same JSON: characters that JSON leaves
 * unescaped but a terminal acts on (C1 controls, DEL, bidi and zero-width format characters)
 * become \\uXXXX escapes; raw tabs and line breaks can only be whitespace between tokens.
 */
export function jsonLineSafe(text: string): string {
  return text.replace(UNSAFE_CHAR, (c) => (c === "\t" || c === "\n" || c === "\r" ? " " : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
}
