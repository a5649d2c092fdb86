/*
 * ctibridge softphone for Salesforce Open CTI (Lightning Experience). Salesforce loads this page
 * in its softphone panel (the call center's CTI Adapter URL); the page loads the org's
 * `opencti_min.js` and the ctibridge client SDK, gets a short-lived JWT (token endpoint or Apex),
 * and then: a pop shows the panel and searches the caller (searchAndScreenPop); a clicked number
 * is dialled (onClickToDial, enabled while connected); an ended call is saved as a Task (saveLog).
 * Salesforce's arguments and answers follow the Open CTI Developer Guide (Lightning methods:
 * one object argument with a `callback` that receives { success, returnValue, errors }).
 */
import { callTypeKey, clickLinks, currentCall, dialable, myLeg, otherParty, partyNumber, pickOrigin, popSearch, searchLinks, taskFor, tokenFrom } from "./logic.js";

const $ = (id) => document.getElementById(id);
const state = { cfg: null, client: null, me: null, clickToDial: false, searches: new Map(), clicked: [], links: new Map(), logged: new Set() };

function setStatus(text, kind) {
  $("status").textContent = text;
  $("status").dataset.kind = kind;
  $("dial-call").disabled = kind !== "ok";
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(s);
  });
}

/** One Open CTI method as a promise of its response ({ success, returnValue, errors }); never rejects. */
function opencti(method, args = {}) {
  return new Promise((resolve) => {
    try {
      window.sforce.opencti[method]({ ...args, callback: (r) => resolve(r ?? { success: false, returnValue: null, errors: ["no response"] }) });
    } catch (err) {
      resolve({ success: false, returnValue: null, errors: [String(err?.message ?? err)] });
    }
  }).then((r) => {
    if (!r.success) showError(`${method}: ${(r.errors ?? []).map((e) => (typeof e === "string" ? e : JSON.stringify(e))).join("; ") || "failed"}`);
    return r;
  });
}

/** A fresh short-lived JWT for this Salesforce user; the SDK asks at each (re)connect and before expiry. */
async function fetchToken() {
  const cfg = state.cfg;
  if (cfg.tokenApex) {
    const [apexClass, methodName] = cfg.tokenApex.split(".");
    const r = await opencti("runApex", { apexClass, methodName, methodParams: "" });
    if (!r.success) throw new Error(`runApex ${cfg.tokenApex} failed`);
    return tokenFrom(r.returnValue?.runApex);
  }
  if (cfg.tokenUrl) {
    const res = await fetch(cfg.tokenUrl, { credentials: "include", cache: "no-store", headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`the token endpoint answered ${res.status}`);
    return tokenFrom(await res.json());
  }
  throw new Error("no token source configured (salesforce.tokenUrl or salesforce.tokenApex)");
}

function render() {
  const call = state.client ? currentCall(state.client.calls.values(), state.me) : null;
  $("call").hidden = !call;
  if (!call) return;
  const leg = myLeg(call, state.me);
  const party = otherParty(call, state.me);
  $("call-party").textContent = (party && (party.name ?? party.display)) || partyNumber(party) || "Unknown";
  $("call-state").textContent = `${call.direction} · ${leg.state.replace("_", " ")}`;
  $("call-hint").hidden = !(leg.state === "ringing" && !leg.placed);
  $("hangup").dataset.callId = call.callId;
}

/** Click-to-dial follows the connection: enabled while connected, disabled when the link is lost. */
async function syncClickToDial(open) {
  if (open === state.clickToDial) return;
  state.clickToDial = open;
  await opencti(open ? "enableClickToDial" : "disableClickToDial");
}

async function onPop(call) {
  await opencti("setSoftphonePanelVisibility", { visible: true });
  const search = popSearch(call, state.me, state.cfg.searchIvrVariables);
  if (!search) return;
  const r = await opencti("searchAndScreenPop", { ...search, callType: window.sforce.opencti.CALL_TYPE[callTypeKey(call.direction)], deferred: false });
  if (r.success) state.links.set(call.callId, searchLinks(r.returnValue));
}

/**
 * A click-to-dial's record goes with the call its `call.dialing` announces (the number as
 * dialled): the dial's result can come after the end of a call that failed at once.
 */
function claimClicked(call, message) {
  if (message?.type !== "call.dialing" || !call.clickToDial || state.links.has(call.callId)) return;
  const i = state.clicked.findIndex((c) => c.to === call.to?.raw);
  if (i < 0) return;
  state.links.set(call.callId, state.clicked[i].links);
  state.clicked.splice(i, 1);
}

async function onEnded(call) {
  await state.searches.get(call.callId);
  state.searches.delete(call.callId);
  if (state.logged.has(call.callId)) return;
  const value = taskFor(call, state.me, { links: state.links.get(call.callId), callIdField: state.cfg.callIdField, ivrNames: state.cfg.searchIvrVariables });
  state.links.delete(call.callId);
  if (!value) return;
  state.logged.add(call.callId);
  const r = await opencti("saveLog", { value });
  // The guide: refresh the view after saveLog so the new Task shows in the record's activity.
  if (r.success) await opencti("refreshView");
}

async function dial(number, links) {
  const to = dialable(number);
  if (!to) return showError(`cannot dial ${number}`);
  const clicked = links && (links.WhoId || links.WhatId) ? { to, links } : null;
  if (clicked) state.clicked.push(clicked);
  try {
    await state.client.dial(to);
    showError("");
  } catch (err) {
    showError(`dial ${to}: ${err.message}`);
  } finally {
    // Refused before any call existed: nothing will claim it.
    const i = state.clicked.indexOf(clicked);
    if (i >= 0) state.clicked.splice(i, 1);
  }
}

async function onClickToDial(payload) {
  await opencti("setSoftphonePanelVisibility", { visible: true });
  await dial(payload?.number, clickLinks(payload));
}

async function main() {
  state.cfg = await (await fetch("config.json", { cache: "no-store" })).json();
  const params = new URLSearchParams(location.search);
  const ancestors = location.ancestorOrigins ? [...location.ancestorOrigins] : [];
  const origin = pickOrigin(state.cfg.orgOrigins, [params.get("sfdcIframeOrigin"), ...ancestors]);
  if (!origin) throw new Error("no Salesforce org origin is configured (salesforce.orgOrigins)");
  await loadScript(`${origin}/support/api/${state.cfg.apiVersion}/lightning/opencti_min.js`);
  const { connect } = await import("/sdk/ctibridge-client.js");

  window.sforce.opencti.onClickToDial({ listener: (payload) => void onClickToDial(payload) });
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const client = connect({ url: `${scheme}://${location.host}${state.cfg.wsPath}`, getToken: fetchToken, instance: "salesforce" });
  state.client = client;

  client.on("connection", ({ status, reason }) => {
    const open = status === "open";
    if (open) state.me = client.user?.id ?? null;
    setStatus(open ? "Connected" : status === "closed" ? `Disconnected${reason ? `: ${reason}` : ""}` : "Connecting…", open ? "ok" : status === "closed" ? "bad" : "busy");
    $("user").textContent = open && client.user ? client.user.name ?? client.user.id : "";
    void syncClickToDial(open);
    render();
  });
  client.on("pop", ({ call }) => {
    const search = onPop(call);
    state.searches.set(call.callId, search);
  });
  client.on("call", ({ call, message }) => {
    claimClicked(call, message);
    render();
  });
  client.on("ended", ({ call }) => {
    render();
    void onEnded(call);
  });
  client.on("error", (err) => showError(err?.message ?? String(err)));

  $("hangup").addEventListener("click", () => {
    const callId = $("hangup").dataset.callId;
    if (callId) client.hangup(callId).catch((err) => showError(`hang up: ${err.message}`));
  });
  $("dial").addEventListener("submit", (e) => {
    e.preventDefault();
    void dial($("dial-to").value);
  });
}

main().catch((err) => {
  setStatus("Not connected", "bad");
  showError(err?.message ?? String(err));
});
