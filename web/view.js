/*
 * ctibridge reference panel: rendering. Pure DOM building from call snapshots (docs/protocol.md);
 * every value goes in as text, links only for http(s) URLs. No framework, no build step.
 * The text helpers at the top touch no DOM (test/web/view.test.ts loads this file in Node).
 */
"use strict";

window.CtiView = (() => {
  /** Create an element: h("a", { href, class: "x" }, "text", child). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false && c !== "") el.append(c instanceof Node ? c : String(c));
    return el;
  }

  function safeUrl(u) {
    try {
      const url = new URL(u);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch {
      return null;
    }
  }

  function link(u, text, label) {
    const href = safeUrl(u);
    return href ? h("a", { href, target: "_blank", rel: "noopener noreferrer", "aria-label": label }, text) : null;
  }

  // ---- text helpers (no DOM) ----

  /**
   * The other party as the viewer sees it: `to` on outbound calls, `from` on inbound ones; on an
   * internal call whichever side is not the viewer (the callee when the viewer placed it).
   */
  function otherParty(call, me) {
    if (call.direction === "outbound") return call.to;
    if (call.direction === "internal" && me && call.from && call.from.userId === me) return call.to;
    return call.from;
  }

  /** "to" when the viewer (or, without one, the call) is the calling side. */
  function towards(call, me) {
    if (call.direction === "outbound") return true;
    return call.direction === "internal" && !!me && !!call.from && call.from.userId === me;
  }

  function partyText(p) {
    if (!p) return "?";
    if (p.name && p.name !== p.display) return `${p.name} (${p.display || p.raw})`;
    return p.display || p.raw || "unknown";
  }

  /** The best single name for a party: a single contact match wins over the number. */
  function callerName(call, me) {
    const m = call.match;
    if (m && m.status === "single" && m.records && m.records[0]) return m.records[0].name;
    return partyText(otherParty(call, me));
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const hours = Math.floor(s / 3600);
    const mm = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return hours > 0 ? `${hours}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
  }

  const STATE_LABEL = { dialing: "Dialling", ringing: "Ringing", connected: "Connected", on_hold: "On hold", ended: "Ended" };

  /** Timer text for a call: talk time once answered, else the time since it started ringing. */
  function timerText(call, now) {
    const t = call.times || {};
    const live = call.state === "connected" || call.state === "on_hold";
    const since = live ? t.answered || t.started : t.ringing || t.started;
    if (!since) return "";
    const c = clock((now - Date.parse(since)) / 1000);
    return call.state === "connected" ? `talking ${c}` : call.state === "on_hold" ? `on hold · ${c}` : c;
  }

  const myLegs = (call, me) => (call.legs || []).filter((l) => l.userId === me);

  /** Whether an ended call counts as missed for this viewer (agent: their leg; supervisor: nobody answered). */
  function isMissed(call, me, role) {
    const mine = myLegs(call, me);
    if (mine.length > 0) return mine.some((l) => l.outcome === "missed");
    if (role !== "supervisor") return false;
    return call.direction !== "outbound" && !call.answeredBy && (call.legs || []).some((l) => l.outcome === "missed");
  }

  const CALL_OUTCOME = { answered: "Answered", abandoned: "Caller hung up", unanswered: "Not answered", busy: "Busy", failed: "Failed", voicemail: "Voicemail" };
  const PLACED_OUTCOME = { answered: "Answered", abandoned: "Cancelled", unanswered: "No answer", busy: "Busy", failed: "Failed", voicemail: "Voicemail" };

  /** The outcome of an ended call in words, from the viewer's point of view. */
  function outcomeText(call, me, missed) {
    if (missed) return "Missed";
    const legs = myLegs(call, me);
    const by = call.answeredBy && call.answeredBy.userId;
    const own = (o) => legs.some((l) => l.outcome === o);
    if (own("answered_by_me") || own("picked_up")) return legs.some((l) => l.outcome === "picked_up") ? "Picked up" : "Answered";
    if (own("placed")) return PLACED_OUTCOME[call.outcome] || "Ended";
    if (own("answered_elsewhere")) return by ? `Answered by ${by}` : "Answered elsewhere";
    if (own("declined")) return "Declined";
    if (own("unanswered")) return "Not answered";
    const base = (call.direction === "inbound" ? CALL_OUTCOME : PLACED_OUTCOME)[call.outcome] || "Ended";
    return call.outcome === "answered" && by ? `Answered by ${by}` : base;
  }

  /** The legs in one line (supervisors see other agents' legs): "alice ringing · bob connected". */
  function legsText(call) {
    return (call.legs || [])
      .filter((l) => l.userId)
      .map((l) => `${l.userId} ${(STATE_LABEL[l.state] || l.state).toLowerCase()}`)
      .join(" · ");
  }

  const ACTION_LABEL = {
    dial: "Call",
    hangup: "Hang up",
    hold: "Hold",
    unhold: "Resume",
    transfer: "Transfer",
    "queue.pause": "Pause",
    "queue.unpause": "Unpause",
    "queue.login": "Queue login",
    "queue.logout": "Queue logout",
    "call.annotate": "Note",
    claim: "Take pop",
  };

  const ERROR_LABEL = {
    not_supported: "not supported",
    not_found: "the call is gone",
    forbidden: "not allowed",
    invalid_argument: "invalid input",
    invalid_state: "not possible now",
    no_channel: "no channel",
    pbx_unavailable: "PBX unavailable",
    pbx_rejected: "PBX refused",
    pbx_timeout: "PBX timeout",
    disabled: "disabled",
    unknown_action: "unknown action",
    internal: "server error",
  };

  /** A command.result in words: "Hold: done", "Hold failed (not supported): hold is done on the phone…". */
  function resultText(action, msg) {
    const label = ACTION_LABEL[action] || action || "Command";
    if (msg.ok) return `${label}: done`;
    const err = msg.error || {};
    const why = ERROR_LABEL[err.code] || err.code;
    return `${label} failed${why ? ` (${why})` : ""}${err.message ? `: ${err.message}` : ""}`;
  }

  // ---- DOM ----

  function matchView(match) {
    if (!match || match.status === "none") return h("p", { class: "match muted" }, "No contact found");
    if (match.status === "pending") return h("p", { class: "match muted" }, "Looking up contact…");
    const records = match.records || [];
    const label = match.count === 1 ? "Contact" : `${match.count} matches`;
    const items = records.map((r) =>
      h("li", {}, link(r.url, r.name, `${r.name} in the CRM`) || r.name, r.company ? ` · ${r.company}` : "", r.recordId ? h("span", { class: "muted" }, ` #${r.recordId}`) : ""),
    );
    return h("div", { class: "match" }, h("span", { class: "count" }, label), h("ul", {}, items));
  }

  function ivrView(ivr) {
    const entries = Object.entries(ivr || {});
    if (entries.length === 0) return null;
    return h("dl", { class: "ivr" }, entries.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
  }

  function inlineForm(label, placeholder, buttons, extra, cls) {
    const input = h("input", { "aria-label": label, placeholder, ...extra });
    return h("div", { class: `row ${cls || ""}` }, input, buttons(input));
  }

  /**
   * A card for an active call. `act(action, args)` sends a command; `o.me`/`o.role` the viewer,
   * `o.error` the last failed command for this call (shown in the card).
   */
  function callCard(call, act, now, o = {}) {
    const id = call.callId;
    const held = call.state === "on_hold";
    const live = call.state === "connected" || held;
    const other = otherParty(call, o.me);
    const legs = o.role === "supervisor" ? legsText(call) : "";
    const card = h(
      "article",
      { class: `card state-${call.state}`, dataset: { callId: id }, "aria-label": `${STATE_LABEL[call.state] || call.state} call with ${partyText(other)}` },
      h(
        "header",
        {},
        h("span", { class: `badge ${call.state}` }, STATE_LABEL[call.state] || call.state),
        h("span", { class: "dir" }, call.direction),
        h("span", { class: "timer", dataset: { timer: id } }, timerText(call, now)),
      ),
      h("p", { class: "parties" }, h("strong", {}, partyText(call.from)), " → ", partyText(call.to)),
      legs ? h("p", { class: "legs muted" }, `Agents: ${legs}`) : null,
      matchView(call.match),
      call.queue ? h("p", { class: "muted" }, `Queue ${call.queue}`) : null,
      ivrView(call.ivr),
      call.popUrl ? h("p", {}, link(call.popUrl, "Open in CRM", `Open ${partyText(other)} in the CRM`)) : null,
      call.transfer ? h("p", { class: "muted" }, `Transferred (${call.transfer.kind}) to ${call.transfer.to.raw}`) : null,
      o.error ? h("p", { class: "card-error", role: "status" }, o.error) : null,
      h(
        "div",
        { class: "row actions" },
        h("button", { type: "button", class: "danger", onclick: () => act("hangup", { callId: id }) }, call.state === "ringing" ? "Decline" : call.state === "dialing" ? "Cancel" : "Hang up"),
        live ? h("button", { type: "button", onclick: () => act(held ? "unhold" : "hold", { callId: id }) }, held ? "Resume" : "Hold") : null,
      ),
      live
        ? inlineForm(
            "Transfer to",
            "transfer to (number or extension)",
            (input) => [
              h("button", { type: "button", onclick: () => (input.value.trim() ? act("transfer", { callId: id, to: input.value.trim(), kind: "blind" }) : input.focus()) }, "Blind transfer"),
              h("button", { type: "button", class: "quiet", onclick: () => (input.value.trim() ? act("transfer", { callId: id, to: input.value.trim(), kind: "attended" }) : input.focus()) }, "Attended"),
            ],
            { inputmode: "tel" },
            "xfer",
          )
        : null,
      annotateForm(id, act),
    );
    return card;
  }

  function annotateForm(callId, act) {
    return inlineForm("Note for this call", "note…", (input) => [
      h("button", { type: "button", class: "quiet", onclick: () => input.value.trim() && (act("call.annotate", { callId, comment: input.value.trim() }), (input.value = "")) }, "Save note"),
    ]);
  }

  /** One ended call in the history list; missed calls are marked in text, not only in colour. */
  function historyItem(entry, act, o = {}) {
    const { call, missed } = entry;
    const when = call.times && call.times.started ? new Date(call.times.started).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";
    const outcome = outcomeText(call, o.me, missed);
    const talk = call.times && call.times.talkSeconds != null && call.times.answered ? ` · talk ${clock(call.times.talkSeconds)}` : "";
    const who =
      o.role === "supervisor" && !myLegs(call, o.me).length
        ? `${partyText(call.from)} → ${partyText(call.to)}`
        : `${towards(call, o.me) ? "to" : "from"} ${partyText(otherParty(call, o.me))}`;
    const contact = call.match && call.match.status === "single" && call.match.records[0] ? ` · ${call.match.records[0].name}` : "";
    return h(
      "li",
      { class: missed ? "missed" : "" },
      h("span", { class: "when" }, when),
      h("span", { class: `outcome ${missed ? "missed" : ""}` }, missed ? "⚠ Missed" : outcome),
      h("span", { class: "who" }, `${who}${contact}${talk}`, call.queue ? h("span", { class: "muted" }, ` · ${call.queue}`) : ""),
      call.popUrl ? link(call.popUrl, "CRM", `Open ${partyText(otherParty(call, o.me))} in the CRM`) : null,
      h("details", {}, h("summary", {}, "Note"), annotateForm(call.callId, act)),
    );
  }

  const POP_TITLE = { ringing: "Incoming call", dialing: "Calling", connected: "On call with", on_hold: "On hold with", ended: "Call ended" };

  function popTitle(call) {
    if (call.state === "ringing" && call.direction === "internal") return "Internal call";
    return POP_TITLE[call.state] || "Call";
  }

  /** The screen-pop banner's content. */
  function popBody(call, now, me) {
    const p = otherParty(call, me);
    const name = callerName(call, me);
    const number = p ? p.display || p.raw : "";
    return h(
      "div",
      { class: "pop-main" },
      h("p", { class: "pop-kicker" }, h("span", { class: `badge ${call.state}` }, popTitle(call)), call.queue ? h("span", { class: "muted" }, ` · queue ${call.queue}`) : ""),
      h("p", { class: "pop-title" }, h("strong", {}, name), name !== number && number ? h("span", { class: "pop-number" }, ` ${number}`) : ""),
      matchView(call.match),
      ivrView(call.ivr),
      call.popUrl ? h("p", { class: "pop-link" }, link(call.popUrl, "Open in CRM ↗", `Open ${name} in the CRM`)) : null,
    );
  }

  /** What a screen reader hears when the pop appears. */
  function popAnnouncement(call, me) {
    const m = call.match;
    const parts = [`${popTitle(call)}: ${partyText(otherParty(call, me))}`];
    if (m && m.status === "single" && m.records[0]) parts.push(`Contact ${m.records[0].name}${m.records[0].company ? `, ${m.records[0].company}` : ""}`);
    else if (m && m.status === "multiple") parts.push(`${m.count} matching contacts`);
    if (call.queue) parts.push(`Queue ${call.queue}`);
    return parts.join(". ");
  }

  return { h, callCard, historyItem, popBody, popAnnouncement, timerText, partyText, otherParty, outcomeText, isMissed, legsText, resultText, clock, safeUrl, STATE_LABEL };
})();
