/*
 * The panel's reading of calls and agent states (docs/protocol.md shapes): which mode the agent
 * is in, the other party, the state word of a call-log row, durations, the human text of a
 * failed command. No DOM: the tests import this module in Node.
 */

const WITHHELD = new Set(["", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld"]);

/** The party the viewer talks to: the callee on calls they placed, else the caller. */
export function otherParty(call, me) {
  if (call.direction === "outbound") return call.to;
  if (call.direction === "internal" && me && call.from && call.from.userId === me) return call.to;
  return call.from;
}

/** Whether the viewer placed the call (outbound, or an internal call from them). */
export function placedByMe(call, me) {
  if (call.direction === "outbound") return true;
  return call.direction === "internal" && !!me && !!call.from && call.from.userId === me;
}

/** A withheld or missing number: nothing to call back, no CRM record to open. */
export function isAnonymous(p) {
  if (!p) return true;
  if (p.e164 || p.extension) return false;
  const raw = String(p.raw || "").trim().toLowerCase();
  return WITHHELD.has(raw) || !/[0-9]/.test(raw);
}

/** The number as a person reads it ("+49 30 123456"), or the word for a withheld one. */
export function numberText(p, t) {
  if (isAnonymous(p)) return t("anonymous");
  if (p.extension) return p.extension;
  return (p.e164 && p.display && /^[+0-9 ()./-]+$/.test(p.display) ? p.display : null) || p.e164 || p.raw;
}

/** The single contact of a match (or the one the agent chose among several). */
export function chosenRecord(call, chosenId) {
  const m = call.match;
  if (!m || !m.records) return null;
  if (m.status === "single" && m.records[0]) return m.records[0];
  if (chosenId != null) return m.records.find((r, i) => recordKey(r, i) === chosenId) || null;
  return null;
}

export const recordKey = (r, i) => r.recordId || `#${i}`;

/** The best single name for the other party: a contact, a user's name, the caller-ID name, else the number. */
export function partyName(call, me, t, chosenId) {
  const rec = chosenRecord(call, chosenId);
  if (rec) return rec.name;
  const p = otherParty(call, me);
  if (p && p.name && !isAnonymous(p)) return p.name;
  if (p && p.userId && p.display && p.display !== p.raw) return p.display;
  return numberText(p, t);
}

const myLegs = (call, me) => (call.legs || []).filter((l) => l.userId === me);

/** The viewer's own leg that matters most (a live one first). */
export function myLeg(call, me) {
  const legs = myLegs(call, me);
  return legs.find((l) => l.state !== "ended") || legs.at(-1) || null;
}

/** An ended call the viewer missed: their own leg missed; for a supervisor with no leg, nobody answered. */
export function isMissed(call, me, role) {
  const mine = myLegs(call, me);
  if (mine.length > 0) return mine.some((l) => l.outcome === "missed");
  if (role !== "supervisor") return false;
  return call.direction !== "outbound" && !call.answeredBy && (call.legs || []).some((l) => l.outcome === "missed");
}

/** A missed call nobody marked done yet (the store's `done` on the missed leg, history only). */
export function isOpenMissed(call, me, role) {
  if (call.state !== "ended" || !isMissed(call, me, role)) return false;
  const legs = myLegs(call, me).length ? myLegs(call, me) : call.legs || [];
  return !legs.some((l) => l.outcome === "missed" && l.done);
}

/**
 * The state word of a call-log row: `ringing`, `dialing`, `connected` (talking now, or an
 * ended call that was answered), `missed`, or `hungUp` (ended without a conversation and not
 * missed: a cancelled dial, a caller who gave up on somebody else's phone).
 */
export function stateWord(call, me, role) {
  const mine = myLegs(call, me);
  const live = mine.find((l) => l.state !== "ended");
  // The viewer's own part decides: a call she was transferred out of is over for her.
  const state = mine.length ? (live ? live.state : "ended") : call.state;
  if (state === "ringing") return "ringing";
  if (state === "dialing") return "dialing";
  if (state === "connected" || state === "on_hold") return "connected";
  if (isMissed(call, me, role)) return "missed";
  const leg = myLeg(call, me);
  if (leg && (leg.outcome === "answered_by_me" || leg.outcome === "picked_up" || (leg.outcome === "placed" && call.times && call.times.answered))) return "connected";
  if (!leg && call.outcome === "answered") return "connected";
  return "hungUp";
}

/** Seconds for the duration column: talk time once answered, else how long it rang (or dialled). */
export function durationSeconds(call, now) {
  const t = call.times || {};
  const end = t.ended ? Date.parse(t.ended) : now;
  if (t.answered) return t.talkSeconds != null && t.ended ? t.talkSeconds : Math.max(0, (end - Date.parse(t.answered)) / 1000);
  const from = t.ringing || t.started;
  return from ? Math.max(0, (end - Date.parse(from)) / 1000) : 0;
}

export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/**
 * The dialled number of an inbound call as a person reads it: the server formats `to` (which is
 * the DID on an inbound call); a DID that is not `to` gets a plus when it looks international.
 */
export function didText(call) {
  const did = call.did;
  if (!did) return "";
  // `did` is E.164 when it normalises, `didRaw` as the PBX gave it; the callee party has its display form.
  const raw = call.didRaw || did;
  if (call.to && (call.to.raw === raw || call.to.e164 === did) && call.to.e164) return call.to.display || call.to.e164;
  if (did.startsWith("+")) return did;
  return /^[1-9][0-9]{9,14}$/.test(did) ? `+${did}` : did;
}

/** The IVR context worth showing: this call's variables, without the DID (shown formatted on its own). */
export function ivrEntries(call) {
  return Object.entries(call.ivr || {}).filter(([k]) => k !== "DID");
}

/** The number to call back (E.164 when known), null for a withheld caller or an internal colleague without one. */
export function callbackNumber(call, me) {
  const p = otherParty(call, me);
  if (isAnonymous(p)) return null;
  return p.e164 || p.extension || String(p.raw).replace(/[^0-9*#+]/g, "") || null;
}

/** The agent's own status from agent.state (`{ deviceState, queues, wrapUp? }`). */
export function agentStatus(state) {
  if (!state) return { status: "unknown", reason: null, queues: [] };
  const queues = state.queues || [];
  if (state.wrapUp) return { status: "wrapUp", reason: "wrap-up", queues };
  if (state.deviceState === "unavailable") return { status: "offline", reason: null, queues };
  if (queues.length === 0) return { status: "loggedOut", reason: null, queues };
  const paused = queues.filter((q) => q.paused);
  if (paused.length === queues.length) {
    const reason = paused.find((q) => q.reason)?.reason || null;
    return { status: reason === "wrap-up" ? "wrapUp" : "paused", reason, queues };
  }
  return { status: "available", reason: null, queues };
}

/**
 * What the agent is doing now, from their active calls: `ringing` beats `talk` (a second call
 * ringing during a conversation pops), `talk` beats `dialing`; else `wrapUp` while after-call
 * work lasts, else `idle`. Returns the mode and the calls in the order the panel shows them.
 */
export function agentMode(calls, me, wrapping) {
  const mine = [...calls].filter((c) => c.state !== "ended" && (myLegs(c, me).some((l) => l.state !== "ended") || (placedByMe(c, me) && !myLegs(c, me).length)));
  const rank = (c) => {
    const l = myLeg(c, me);
    const s = l ? l.state : c.state;
    return s === "ringing" ? 0 : s === "connected" || s === "on_hold" ? 1 : 2;
  };
  mine.sort((a, b) => rank(a) - rank(b) || String(b.times?.started).localeCompare(String(a.times?.started)));
  if (mine.length) {
    const r = rank(mine[0]);
    const held = r === 1 && (myLeg(mine[0], me)?.state ?? mine[0].state) === "on_hold";
    return { mode: r === 0 ? "ringing" : r === 1 ? (held ? "hold" : "talk") : "dialing", calls: mine };
  }
  return { mode: wrapping ? "wrapUp" : "idle", calls: [] };
}

/** A failed command in words: "Hold failed: this phone system cannot do that…" (never the PBX's raw text). */
export function errorText(action, err, t) {
  const code = err && err.code;
  const key = `err.${code}`;
  const why = t(key) === key ? t("err.other") : t(key);
  const actKey = `act.${action}`;
  return t("err.title", { action: t(actKey) === actKey ? action || "?" : t(actKey), why });
}
