/*
 * ctibridge reference panel: rendering. Pure DOM building from call snapshots (docs/protocol.md);
 * every value goes in as text, links only for http(s) URLs. No framework, no build step.
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
    for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
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

  function link(u, text) {
    const href = safeUrl(u);
    return href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, text) : null;
  }

  /** The external party: `from` on inbound/internal calls, `to` on outbound ones. */
  const external = (call) => (call.direction === "outbound" ? call.to : call.from);

  function partyText(p) {
    if (!p) return "?";
    if (p.name && p.name !== p.display) return `${p.name} (${p.display || p.raw})`;
    return p.display || p.raw || "unknown";
  }

  function matchView(match) {
    if (!match || match.status === "none") return h("p", { class: "match muted" }, "No contact found");
    if (match.status === "pending") return h("p", { class: "match muted" }, "Looking up contact…");
    const label = match.count === 1 ? "1 contact" : `${match.count} contacts`;
    const items = (match.records || []).map((r) =>
      h("li", {}, link(r.url, r.name) || r.name, r.company ? ` · ${r.company}` : "", r.recordId ? h("span", { class: "muted" }, ` #${r.recordId}`) : ""),
    );
    return h("div", { class: "match" }, h("span", { class: "count" }, label), h("ul", {}, items));
  }

  function ivrView(ivr) {
    const entries = Object.entries(ivr || {});
    if (entries.length === 0) return null;
    return h("dl", { class: "ivr" }, entries.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  }

  const STATE_LABEL = { dialing: "Dialling", ringing: "Ringing", connected: "Connected", on_hold: "On hold", ended: "Ended" };

  /** Timer text for a call: what the clock counts depends on the state. */
  function timerText(call, now) {
    const t = call.times || {};
    const since = call.state === "connected" || call.state === "on_hold" ? t.answered : t.ringing || t.started;
    if (!since) return "";
    const s = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
    const clock = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    return call.state === "connected" ? `talking ${clock}` : call.state === "on_hold" ? `held · ${clock} since answer` : `${clock}`;
  }

  function inlineForm(label, placeholder, buttons, extra) {
    const input = h("input", { "aria-label": label, placeholder, ...extra });
    const row = h("div", { class: "row" }, input, buttons(input));
    return row;
  }

  /** A card for an active call. `act(action, args)` sends a command. */
  function callCard(call, act, now) {
    const id = call.callId;
    const held = call.state === "on_hold";
    const live = call.state === "connected" || held;
    const card = h(
      "article",
      { class: `card state-${call.state}`, dataset: { callId: id }, "aria-label": `${STATE_LABEL[call.state] || call.state} call with ${partyText(external(call))}` },
      h(
        "header",
        {},
        h("span", { class: `badge ${call.state}` }, STATE_LABEL[call.state] || call.state),
        h("span", { class: "dir" }, call.direction),
        h("span", { class: "timer", dataset: { timer: id } }, timerText(call, now)),
      ),
      h("p", { class: "parties" }, h("strong", {}, partyText(call.from)), " → ", partyText(call.to)),
      matchView(call.match),
      call.popUrl ? h("p", {}, link(call.popUrl, "Open in CRM")) : null,
      call.queue ? h("p", { class: "muted" }, `Queue ${call.queue}`) : null,
      ivrView(call.ivr),
      call.transfer ? h("p", { class: "muted" }, `Transferred (${call.transfer.kind}) to ${call.transfer.to.raw}`) : null,
      h(
        "div",
        { class: "row actions" },
        h("button", { type: "button", class: "danger", onclick: () => act("hangup", { callId: id }) }, call.state === "ringing" ? "Decline" : "Hang up"),
        live ? h("button", { type: "button", onclick: () => act(held ? "unhold" : "hold", { callId: id }) }, held ? "Resume" : "Hold") : null,
      ),
      live
        ? inlineForm("Transfer to", "transfer to…", (input) => [
            h("button", { type: "button", onclick: () => input.value && act("transfer", { callId: id, to: input.value, kind: "blind" }) }, "Blind transfer"),
            h("button", { type: "button", class: "quiet", onclick: () => input.value && act("transfer", { callId: id, to: input.value, kind: "attended" }) }, "Attended"),
          ], { inputmode: "tel" })
        : null,
      annotateForm(id, act),
    );
    return card;
  }

  function annotateForm(callId, act) {
    return inlineForm("Note for this call", "note…", (input) => [
      h("button", { type: "button", class: "quiet", onclick: () => input.value && (act("call.annotate", { callId, comment: input.value }), (input.value = "")) }, "Save note"),
    ]);
  }

  /** One ended call in the history list; missed calls are marked in text, not only in colour. */
  function historyItem(entry, act) {
    const { call, missed } = entry;
    const when = call.times && call.times.started ? new Date(call.times.started).toLocaleTimeString() : "";
    const outcome = missed ? "Missed" : call.outcome || "ended";
    const talk = call.times && call.times.talkSeconds != null ? ` · ${Math.round(call.times.talkSeconds)} s` : "";
    return h(
      "li",
      { class: missed ? "missed" : "" },
      h("span", { class: "when" }, when),
      h("span", { class: `outcome ${missed ? "missed" : ""}` }, missed ? "⚠ Missed" : outcome),
      h("span", { class: "who" }, `${call.direction === "outbound" ? "to" : "from"} ${partyText(external(call))}${talk}`),
      call.popUrl ? link(call.popUrl, "CRM") : null,
      h("details", {}, h("summary", {}, "Note"), annotateForm(call.callId, act)),
    );
  }

  /** The screen-pop banner's content. */
  function popBody(call) {
    const p = external(call);
    return h(
      "div",
      {},
      h("p", { class: "pop-title" }, "Incoming call: ", h("strong", {}, partyText(p))),
      call.queue ? h("p", {}, `Queue ${call.queue}`) : null,
      matchView(call.match),
      ivrView(call.ivr),
      call.popUrl ? h("p", {}, link(call.popUrl, "Open in CRM")) : null,
    );
  }

  return { h, callCard, historyItem, popBody, timerText, partyText };
})();
