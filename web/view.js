/*
 * The panel's DOM: the agent's mode cards (ringing pop, talk, after-call work, idle) and the
 * call log. Every value goes in as text (`textContent`, `setAttribute`), links only for http(s)
 * URLs; no inline styles (the CSP has `style-src 'self'`). `ui` carries the words and formats
 * (i18n.js), the viewer, the per-call panel state and the actions.
 */
import { callbackNumber, chosenRecord, clock, didText, durationSeconds, isAnonymous, isOpenMissed, ivrEntries, myLeg, numberText, otherParty, partyName, placedByMe, recordKey, stateWord } from "./model.js";

/** Create an element: h("a", { href, class: "x" }, "text", child). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false && c !== "") el.append(c instanceof Node ? c : String(c));
  return el;
}

export function safeUrl(u) {
  try {
    const url = new URL(u);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

function link(u, text, label, cls) {
  const href = safeUrl(u);
  return href ? h("a", { href, target: "_blank", rel: "noopener noreferrer", "aria-label": label, class: cls }, text) : null;
}

export const DISPOSITIONS = ["solved", "callback", "sale", "info", "complaint", "wrong_number"];

/** Live timer text of a call card: ring/wait time while it rings, talk time once answered. */
export function timerText(call, now) {
  return clock(durationSeconds(call, now));
}

function facts(rows) {
  const shown = rows.filter(([, v]) => v !== null && v !== undefined && v !== "");
  return shown.length ? h("dl", { class: "facts" }, shown.map(([k, v, attrs]) => h("div", {}, h("dt", {}, k), h("dd", attrs || {}, v)))) : null;
}

/**
 * The contact part of a pop: one contact (name, company, CRM link); several (choose one, or
 * create a new one); none (create one). "Create contact" opens the call's pop URL
 * (`pop.urlTemplate`), the CRM's own page for that number.
 */
function matchView(call, ui) {
  const { t } = ui;
  const m = call.match;
  const other = otherParty(call, ui.me);
  const create = !isAnonymous(other) && !other.userId ? link(call.popUrl, t("match.create"), `${t("match.create")}: ${numberText(other, t)}`, "create") : null;
  if (!m || m.status === "pending") return h("p", { class: "match muted" }, t("match.pending"));
  if (m.status === "none" || !m.records || m.records.length === 0) return h("div", { class: "match none" }, h("span", { class: "muted" }, t("match.none")), create ? " · " : "", create);
  if (m.status === "single" || m.records.length === 1) return null; // the title and facts show it
  const chosen = ui.panel.chosen.get(call.callId);
  return h(
    "div",
    { class: "match many", role: "group", "aria-label": t("match.many", { count: m.count }) },
    h("p", { class: "count" }, t("match.many", { count: m.count })),
    h(
      "ul",
      { class: "choices" },
      m.records.map((r, i) => {
        const key = recordKey(r, i);
        const on = chosen === key;
        return h(
          "li",
          { class: on ? "on" : "" },
          h("span", { class: "who" }, link(r.url, r.name, `${r.name} (CRM)`) || r.name, r.company ? h("span", { class: "muted" }, ` · ${r.company}`) : ""),
          h("button", { type: "button", class: "quiet small", "aria-pressed": on ? "true" : "false", onclick: () => ui.act.choose(call, key) }, on ? `✓ ${t("match.chosen")}` : t("match.choose")),
        );
      }),
    ),
    create ? h("p", { class: "small" }, create) : null,
  );
}

function ivrView(call, ui) {
  const entries = ivrEntries(call);
  if (!entries.length) return null;
  // Variables of a call we placed were set by whoever placed it (a CRM's Originate), not keyed in by a caller.
  const label = call.direction === "inbound" ? "pop.ivr" : "pop.callData";
  return h("div", { class: "ivr" }, h("p", { class: "label" }, ui.t(label)), facts(entries.map(([k, v]) => [k, v])));
}

function crmLink(call, ui) {
  const rec = chosenRecord(call, ui.panel.chosen.get(call.callId));
  const other = otherParty(call, ui.me);
  if (rec && rec.url) return link(rec.url, `${ui.t("pop.openCrm")} ↗`, `${ui.t("pop.openCrm")}: ${rec.name}`, "crm");
  if (isAnonymous(other) || (call.match && call.match.status !== "single" && !rec)) return null;
  return link(call.popUrl, `${ui.t("pop.openCrm")} ↗`, `${ui.t("pop.openCrm")}: ${partyName(call, ui.me, ui.t)}`, "crm");
}

function titleBlock(call, ui) {
  const { t } = ui;
  const chosenId = ui.panel.chosen.get(call.callId);
  const name = partyName(call, ui.me, t, chosenId);
  const other = otherParty(call, ui.me);
  const number = numberText(other, t);
  const rec = chosenRecord(call, chosenId);
  return [
    h("p", { class: "title" }, h("strong", { class: "name" }, name), name !== number ? h("span", { class: "number" }, number) : ""),
    rec && rec.company ? h("p", { class: "company" }, h("span", { class: "muted" }, `${t("pop.company")}: `), rec.company) : null,
  ];
}

function notesForm(call, ui) {
  const { t } = ui;
  const draft = ui.panel.drafts.get(call.callId) || { comment: call.annotation?.comment || "", disposition: call.annotation?.disposition || "" };
  const save = (e) => {
    e.preventDefault();
    ui.act.annotate(call, draft);
  };
  const keep = (k) => (e) => {
    draft[k] = e.target.value;
    draft.saved = false;
    ui.panel.drafts.set(call.callId, draft);
  };
  return h(
    "form",
    { class: "notes", onsubmit: save },
    h("label", { class: "grow" }, h("span", {}, t("talk.notes")), h("textarea", { rows: 2, maxlength: 4000, dataset: { focus: `notes-${call.callId}` }, oninput: keep("comment"), value: draft.comment })),
    h(
      "label",
      {},
      h("span", {}, t("talk.disposition")),
      h(
        "select",
        { dataset: { focus: `disp-${call.callId}` }, onchange: keep("disposition") },
        ["", ...DISPOSITIONS].map((d) => h("option", { value: d, selected: draft.disposition === d }, t(`disp.${d}`))),
      ),
    ),
    h("button", { type: "submit", class: "quiet" }, draft.saved ? `✓ ${t("talk.saved")}` : t("talk.save")),
  );
}

function transferForm(call, ui) {
  const { t } = ui;
  const listId = "directory";
  const input = h("input", { "aria-label": t("talk.transfer"), placeholder: t("talk.transferPick"), list: listId, autocomplete: "off", dataset: { focus: `xfer-${call.callId}` } });
  const go = (kind) => () => {
    const to = ui.act.resolveTarget(input.value);
    if (to) ui.act.transfer(call, to, kind);
    else input.focus();
  };
  return h(
    "div",
    { class: "xfer" },
    h("label", { class: "grow" }, h("span", {}, t("talk.transfer")), input),
    h("div", { class: "row" }, h("button", { type: "button", onclick: go("blind") }, t("talk.blind")), h("button", { type: "button", class: "quiet", onclick: go("attended") }, t("talk.attended"))),
  );
}

/** The ringing pop (or, without a pop for this user/tab, a compact ringing card). */
function ringingCard(call, ui, now) {
  const { t } = ui;
  const popped = ui.panel.popped.has(call.callId) && !ui.panel.dismissed.has(call.callId);
  const claimed = ui.panel.claimed.get(call.callId);
  const internal = call.direction === "internal";
  const placed = placedByMe(call, ui.me);
  return h(
    "article",
    { class: `card mode-ringing ${popped ? "pop" : ""}`, dataset: { callId: call.callId }, "aria-label": `${t(internal ? "pop.internal" : "pop.incoming")}: ${partyName(call, ui.me, t, ui.panel.chosen.get(call.callId))}` },
    h("header", {}, h("span", { class: "badge ringing" }, placed ? t("mode.dialing") : t(internal ? "pop.internal" : "pop.incoming")), h("span", { class: "timer", dataset: { timer: call.callId } }, timerText(call, now))),
    titleBlock(call, ui),
    matchView(call, ui),
    facts([
      [t("pop.queue"), call.queue],
      [t("pop.did"), didText(call)],
      [t("pop.wait"), timerText(call, now), { dataset: { timer: call.callId } }],
    ]),
    ivrView(call, ui),
    ui.panel.errors.get(call.callId) ? h("p", { class: "card-error", role: "status" }, ui.panel.errors.get(call.callId)) : null,
    h(
      "div",
      { class: "row actions" },
      popped
        ? h("button", { type: "button", class: "accept", disabled: !!claimed, onclick: () => ui.act.claim(call) }, claimed === "me" ? `✓ ${t("pop.taken")}` : claimed ? t("pop.takenElsewhere") : t("pop.accept"))
        : null,
      crmLink(call, ui),
      popped ? h("button", { type: "button", class: "quiet", onclick: () => ui.act.dismiss(call) }, t("pop.dismiss")) : null,
      myLeg(call, ui.me) ? h("button", { type: "button", class: "danger", onclick: () => ui.act.hangup(call) }, placed ? t("talk.cancel") : t("talk.decline")) : null,
    ),
  );
}

/** A call in conversation (or being dialled): timer, hold/resume, transfer, hang up, notes. */
function talkCard(call, ui, now) {
  const { t } = ui;
  const leg = myLeg(call, ui.me);
  const s = leg ? leg.state : call.state;
  const held = s === "on_hold";
  const live = s === "connected" || held;
  const popped = ui.panel.popped.has(call.callId) && !ui.panel.dismissed.has(call.callId);
  const word = s === "dialing" ? "mode.dialing" : held ? "mode.hold" : "mode.talk";
  return h(
    "article",
    { class: `card mode-${held ? "hold" : live ? "talk" : "dialing"} ${popped ? "pop" : ""}`, dataset: { callId: call.callId }, "aria-label": `${t(word)}: ${partyName(call, ui.me, t, ui.panel.chosen.get(call.callId))}` },
    h("header", {}, h("span", { class: `badge ${held ? "on_hold" : live ? "connected" : "dialing"}` }, t(word)), h("span", { class: "timer", dataset: { timer: call.callId } }, timerText(call, now))),
    titleBlock(call, ui),
    matchView(call, ui),
    facts([
      [t("pop.queue"), call.queue],
      [t("pop.did"), call.direction === "inbound" ? didText(call) : ""],
    ]),
    ivrView(call, ui),
    ui.panel.errors.get(call.callId) ? h("p", { class: "card-error", role: "status" }, ui.panel.errors.get(call.callId)) : null,
    h(
      "div",
      { class: "row actions" },
      live ? h("button", { type: "button", onclick: () => (held ? ui.act.unhold(call) : ui.act.hold(call)) }, held ? t("talk.resume") : t("talk.hold")) : null,
      h("button", { type: "button", class: "danger", onclick: () => ui.act.hangup(call) }, s === "dialing" ? t("talk.cancel") : t("talk.hangup")),
      crmLink(call, ui),
    ),
    live ? transferForm(call, ui) : null,
    notesForm(call, ui),
  );
}

/** After-call work: the last call's notes and outcome, then "Ready". */
function wrapCard(wrap, ui, now) {
  const { t } = ui;
  const call = wrap.call;
  const left = wrap.until ? Math.max(0, (Date.parse(wrap.until) - now) / 1000) : null;
  return h(
    "article",
    { class: "card mode-wrapUp", "aria-label": t("wrap.title") },
    h("header", {}, h("span", { class: "badge wrap" }, t("wrap.title")), left !== null ? h("span", { class: "timer", dataset: { countdown: wrap.until } }, t("wrap.left", { time: clock(left) })) : ""),
    call ? titleBlock(call, ui) : null,
    h("p", { class: "muted small" }, t("wrap.hint")),
    call ? notesForm(call, ui) : null,
    h("div", { class: "row actions" }, h("button", { type: "button", class: "accept", onclick: () => ui.act.ready() }, t("wrap.ready"))),
  );
}

function idleCard(ui) {
  return h("article", { class: "card mode-idle" }, h("p", { class: "title" }, ui.t("idle.title")), h("p", { class: "muted small" }, ui.t("idle.hint")));
}

/** The cards of the "now" area for a mode (agentMode in model.js). */
export function modeCards(mode, calls, ui, now) {
  if (calls.length) return calls.map((c) => ((myLeg(c, ui.me)?.state ?? c.state) === "ringing" ? ringingCard(c, ui, now) : talkCard(c, ui, now)));
  if (mode === "wrapUp" && ui.panel.wrap) return [wrapCard(ui.panel.wrap, ui, now)];
  return [idleCard(ui)];
}

const DIR_ICON = { inbound: "↙", outbound: "↗", internal: "⇄" };

/** One row of the call log. */
export function logRow(call, ui, now) {
  const { t, fmt } = ui;
  const word = stateWord(call, ui.me, ui.role);
  const other = otherParty(call, ui.me);
  const supervisorView = ui.role === "supervisor" && !(call.legs || []).some((l) => l.userId === ui.me);
  const number = numberText(other, t);
  const party = partyName(call, ui.me, t);
  const name = supervisorView && call.direction !== "inbound" ? `${call.from.display || call.from.raw} → ${party}` : party;
  const sub = [party !== number ? number : "", call.queue || ""].filter(Boolean).join(" · ");
  const open = isOpenMissed(call, ui.me, ui.role);
  const back = word === "missed" || word === "hungUp" ? callbackNumber(call, ui.me) : null;
  const dir = call.direction;
  return h(
    "li",
    { class: `call ${word} ${open ? "open" : ""}`, dataset: { callId: call.callId, word } },
    h("span", { class: `dir ${dir} ${word}`, title: t(`dir.${dir}`), "aria-label": t(`dir.${dir}`), role: "img" }, word === "missed" ? "✗" : DIR_ICON[dir] || "·"),
    h("span", { class: "when" }, h("time", { datetime: call.times?.started }, fmt.dateTime(call.times?.started))),
    h("span", { class: "who" }, h("span", { class: "name" }, name), sub ? h("span", { class: "sub muted" }, sub) : ""),
    h("span", { class: "dur", dataset: call.state === "ended" ? {} : { timer: call.callId } }, clock(durationSeconds(call, now))),
    h("span", { class: `word ${word}` }, t(`word.${word}`)),
    h(
      "span",
      { class: "row-actions" },
      back && ui.canDial ? h("button", { type: "button", class: "quiet small", onclick: () => ui.act.callBack(call, back) }, t("log.callBack")) : null,
      open ? h("button", { type: "button", class: "quiet small", onclick: () => ui.act.markDone(call) }, t("log.done")) : word === "missed" ? h("span", { class: "muted small done" }, `✓ ${t("log.isDone")}`) : null,
      !isAnonymous(other) && !other.userId ? link(call.popUrl, t("log.crm"), `${t("log.crm")}: ${name}`, "small") : null,
    ),
  );
}
