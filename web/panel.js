/*
 * ctibridge reference panel: wiring. The connection, folding and commands are the client SDK's
 * (served by the daemon at /sdk/ctibridge-client.js); this file keeps the panel's own state
 * (pops, chosen contacts, drafts, the call log, the board's KPIs), loads the stored calls over
 * REST, and re-renders from that state.
 */
import { connect } from "/sdk/ctibridge-client.js";
import { boardView } from "./board.js";
import { CallLog } from "./calllog.js";
import { makeI18n, pickLanguage } from "./i18n.js";
import { agentMode, clock, errorText, isOpenMissed, myLeg, partyName, stateWord } from "./model.js";
import { statusView } from "./status.js";
import { h, logRow, modeCards, timerText } from "./view.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;

const params = new URLSearchParams(location.search);
const store = {
  get: (k) => {
    try {
      return localStorage.getItem(`ctibridge.${k}`);
    } catch {
      return null;
    }
  },
  set: (k, v) => {
    try {
      if (v === null || v === "") localStorage.removeItem(`ctibridge.${k}`);
      else localStorage.setItem(`ctibridge.${k}`, v);
    } catch {
      /* private mode: settings last for this page only */
    }
  },
};
if (params.get("lang")) store.set("lang", params.get("lang"));

const panel = {
  client: null,
  token: "",
  user: null,
  popped: new Set(),
  dismissed: new Set(),
  claimed: new Map(),
  chosen: new Map(),
  drafts: new Map(),
  errors: new Map(),
  flashCallId: null,
  log: new CallLog(),
  filter: "all",
  boardFilter: "",
  kpis: {},
  directory: new Map(),
  wrap: null,
};

let i18n = makeI18n(pickLanguage(store.get("lang"), navigator.languages), navigator.language);

function applyWords() {
  document.documentElement.lang = i18n.lang;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = i18n.t(el.dataset.t);
  $("lang").value = store.get("lang") || "";
}

// ---- connection ----

function setStatus(key, kind) {
  $("status").textContent = i18n.t(key);
  $("status").dataset.kind = kind || "";
  $("status").dataset.key = key;
  document.body.classList.toggle("offline", kind !== "ok");
}

async function rest(path, init = {}) {
  const r = await fetch(path, { ...init, headers: { Authorization: `Bearer ${panel.token}`, ...(init.body ? { "Content-Type": "application/json" } : {}) } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(body?.error?.message || `HTTP ${r.status}`), { code: body?.error?.code || (r.status === 401 ? "unauthorized" : "internal"), status: r.status });
  return body;
}

function start() {
  const token = $("token").value.trim();
  if (!token) return setStatus("conn.needToken", "bad");
  stop();
  panel.token = token;
  store.set("token", token);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const client = connect({ url: `${scheme}://${location.host}/ws`, token, instance: `panel-${Math.random().toString(36).slice(2, 8)}` });
  panel.client = client;
  let opened = false;
  setStatus("conn.connecting", "busy");
  client.on("connection", ({ status, code }) => {
    if (panel.client !== client) return;
    if (status === "open") {
      opened = true;
      setStatus("conn.open", "ok");
      $("connect").hidden = true;
      $("disconnect").hidden = false;
      return;
    }
    if (status === "closed" || code === 4001 || code === 4003 || code === 4009) {
      const key = code === 4003 ? "conn.expired" : code === 4009 ? "conn.superseded" : code === 4001 ? "conn.badToken" : "conn.closed";
      if (code === 4001 || code === 4003 || code === 4009) client.close();
      setStatus(key, "bad");
      $("connect").hidden = false;
      $("disconnect").hidden = true;
      return;
    }
    setStatus("conn.reconnecting", "bad");
    // A refused upgrade (HTTP 401) reaches a browser only as close 1006 before open: ask REST
    // with the same token whether it is the token, so a bad one is not retried forever.
    if (!opened)
      rest("/api/directory").catch((e) => {
        if (e.status === 401 && panel.client === client) {
          client.close();
          setStatus("conn.badToken", "bad");
          $("connect").hidden = false;
          $("disconnect").hidden = true;
        }
      });
  });
  client.on("snapshot", () => {
    const first = !panel.user;
    panel.user = client.user;
    document.body.classList.toggle("supervisor", panel.user?.role === "supervisor");
    if (first) afterHello();
    else refreshRest();
    schedule();
  });
  client.on("pop", ({ call, message }) => {
    // A call ringing in the snapshot pops only for a user whose pop comes with the ringing (hello's popTiming).
    if (message?.type === "snapshot" && client.user?.popTiming === "answered" && myLeg(call, client.user.id)?.state === "ringing") return;
    panel.popped.add(call.callId);
    panel.dismissed.delete(call.callId);
    $("announce").textContent = `${i18n.t(call.state === "ringing" ? "pop.incoming" : "mode.talk")}: ${partyName(call, panel.user?.id, i18n.t)}${call.queue ? `. ${i18n.t("pop.queue")} ${call.queue}` : ""}`;
    schedule();
  });
  client.on("call", ({ call }) => {
    upsertLog(call);
    schedule();
  });
  client.on("ended", ({ call }) => {
    upsertLog(call);
    forget(call.callId);
    schedule();
  });
  client.on("missed", ({ call }) => {
    upsertLog(call);
    schedule();
  });
  client.on("claimed", ({ callId, byMe }) => {
    panel.claimed.set(callId, byMe ? "me" : "other");
    schedule();
  });
  client.on("agent", () => {
    syncWrap();
    schedule();
  });
  client.on("pbx", ({ connected }) => {
    $("pbx").textContent = i18n.t("pbx.down");
    $("pbx").hidden = connected;
    if (connected) refreshRest();
  });
  client.on("message", (frame) => {
    if (frame.type === "call.done") markedDone(frame.callId, frame.user);
    else if (frame.type === "queue.state" && frame.queue) {
      panel.kpis[frame.queue.queue] = frame.queue;
      schedule();
    }
  });
}

function stop() {
  if (panel.client) panel.client.close();
  panel.client = null;
  panel.user = null;
  panel.log.clear();
  for (const k of ["popped", "dismissed", "claimed", "chosen", "drafts", "errors"]) panel[k].clear();
  panel.wrap = null;
  $("layout").hidden = true;
  $("connect").hidden = false;
  $("disconnect").hidden = true;
}

/** A call that ended no longer needs its pop, its error, its banner. */
function forget(callId) {
  panel.popped.delete(callId);
  panel.dismissed.delete(callId);
  panel.errors.delete(callId);
  if (panel.flashCallId === callId) hideFlash();
}

async function afterHello() {
  $("layout").hidden = false;
  const u = panel.user;
  $("dial-device").replaceChildren(...u.devices.map((d) => h("option", { value: d }, d)));
  $("dial-device-label").hidden = u.devices.length < 2;
  // A user without a phone (a supervisor) gets no dial form: nothing could ring first.
  $("dial").hidden = u.devices.length === 0;
  $("no-device").hidden = u.devices.length > 0 || u.role === "supervisor";
  $("board").hidden = u.role !== "supervisor";
  // Without a phone there is no call of one's own to show: the board and the log get the room.
  document.body.classList.toggle("no-device", u.devices.length === 0);
  $("now").hidden = u.devices.length === 0 && u.role === "supervisor";
  await refreshRest();
}

/** Everything that comes over REST: the first page of the log, the open missed calls, the directory, the KPIs. */
async function refreshRest() {
  const client = panel.client;
  const jobs = [
    rest(`/api/calls?limit=${PAGE}`).then((r) => {
      if (panel.client !== client) return;
      for (const c of r.calls || []) upsertLog(c, true);
      if (panel.log.next === undefined) panel.log.next = r.next ?? (r.calls?.length === PAGE ? r.calls.at(-1).times.started : null);
    }),
    rest(`/api/calls?missed=1&open=1&limit=100`).then((r) => {
      if (panel.client === client) for (const c of r.calls || []) upsertLog(c, true);
    }),
    rest("/api/directory").then((r) => {
      if (panel.client !== client) return;
      panel.directory = new Map((r.users || []).map((u) => [u.id, u]));
      $("directory").replaceChildren(...(r.users || []).filter((u) => u.id !== panel.user?.id && u.extensions?.length).map((u) => h("option", { value: `${u.name} (${u.extensions[0]})` })));
    }),
  ];
  if (panel.user?.role === "supervisor")
    jobs.push(
      rest("/api/queues").then((r) => {
        if (panel.client === client) panel.kpis = Object.fromEntries((r.queues || []).map((q) => [q.queue, q]));
      }),
    );
  const results = await Promise.allSettled(jobs);
  const failed = results.find((r) => r.status === "rejected" && r.reason?.status !== 404 && r.reason?.status !== 403);
  if (failed && failed.reason.code === "rate_limited") flash(errorText("load", failed.reason, i18n.t));
  syncWrap();
  schedule();
}

async function loadMore() {
  if (!panel.log.next) return;
  $("log-more").disabled = true;
  try {
    const r = await rest(`/api/calls?limit=${PAGE}&before=${encodeURIComponent(panel.log.next)}`);
    for (const c of r.calls || []) upsertLog(c, true);
    panel.log.next = r.next ?? null;
  } catch (e) {
    flash(errorText("load", e, i18n.t));
  }
  $("log-more").disabled = false;
  schedule();
}

function upsertLog(call, stored = false) {
  panel.log.upsert(call, { stored, live: !!panel.client?.calls.has(call.callId) });
}

function markedDone(callId, user) {
  if (panel.log.markDone(callId, user)) schedule();
}

/** After-call work as the server reports it in the agent's own agent.state (`wrapUp`). */
function syncWrap() {
  const me = panel.user?.id;
  const st = me && panel.client?.agents.get(me);
  const w = st && st.wrapUp;
  panel.wrap = w ? { ...w, call: panel.log.get(w.callId) || null } : null;
}

// ---- commands ----

let flashTimer = null;
/** The banner: an error about a call stays until that call ends (or the next command for it); any other for 15 s. */
function flash(text, callId) {
  $("flash-text").textContent = text;
  $("flash").hidden = false;
  panel.flashCallId = callId || null;
  clearTimeout(flashTimer);
  if (!callId) flashTimer = setTimeout(hideFlash, 15_000);
}
function hideFlash() {
  $("flash").hidden = true;
  panel.flashCallId = null;
}

async function run(action, callId, fn) {
  if (callId) panel.errors.delete(callId);
  if (!callId || panel.flashCallId === callId) hideFlash();
  try {
    if (!panel.client || panel.client.status !== "open") throw Object.assign(new Error("not connected"), { code: "disconnected" });
    return await fn();
  } catch (e) {
    const text = errorText(action, e, i18n.t);
    if (callId && (panel.client?.calls.has(callId) || panel.wrap?.callId === callId)) panel.errors.set(callId, text);
    flash(text, callId);
    schedule();
    return undefined;
  }
}

function resolveTarget(text) {
  const v = text.trim();
  if (!v) return null;
  const ext = /\(([0-9*#+]+)\)\s*$/.exec(v);
  if (ext) return ext[1];
  const byName = [...panel.directory.values()].find((u) => u.name.toLowerCase() === v.toLowerCase() && u.extensions?.length);
  if (byName) return byName.extensions[0];
  return /^[0-9*#+ ()./-]+$/.test(v) ? v.replace(/[^0-9*#+]/g, "") : null;
}

const act = {
  claim: (call) =>
    run("claim", call.callId, async () => {
      await panel.client.claim(call.callId);
      panel.claimed.set(call.callId, "me");
      schedule();
    }),
  dismiss: (call) => {
    panel.dismissed.add(call.callId);
    schedule();
  },
  choose: (call, key) => {
    panel.chosen.set(call.callId, key);
    schedule();
    const rec = call.match.records.find((r, i) => (r.recordId || `#${i}`) === key);
    if (rec?.recordId) run("call.annotate", call.callId, () => panel.client.annotate(call.callId, { recordId: rec.recordId }));
  },
  hangup: (call) => run("hangup", call.callId, () => panel.client.hangup(call.callId)),
  hold: (call) => run("hold", call.callId, () => panel.client.hold(call.callId)),
  unhold: (call) => run("unhold", call.callId, () => panel.client.unhold(call.callId)),
  transfer: (call, to, kind) => run("transfer", call.callId, () => panel.client.transfer(call.callId, to, { kind })),
  resolveTarget,
  annotate: (call, draft) =>
    run("call.annotate", call.callId, async () => {
      // Only what the agent changed: an untouched field keeps what is stored (and its history stays clean).
      const was = panel.log.get(call.callId)?.annotation || call.annotation || {};
      const args = {};
      if ((draft.comment || "").trim() !== (was.comment || "")) args.comment = (draft.comment || "").trim() || null;
      if ((draft.disposition || "") !== (was.disposition || "")) args.disposition = draft.disposition || null;
      if (Object.keys(args).length) await panel.client.annotate(call.callId, args);
      draft.saved = true;
      schedule();
    }),
  ready: () => run("ready", panel.wrap?.callId, () => panel.client.command("agent.ready", {})),
  callBack: (call, number) => run("dial", null, () => panel.client.dial(number, { device: $("dial-device").value || undefined })),
  markDone: (call) =>
    run("done", null, async () => {
      await panel.client.command("call.done", { callId: call.callId });
      markedDone(call.callId, panel.user.role === "supervisor" ? undefined : panel.user.id);
    }),
  filterBoard: (q) => {
    panel.boardFilter = q;
    schedule();
  },
};

const statusAct = {
  pause: (reason) => run("queue.pause", null, () => panel.client.queuePause({ paused: true, reason })),
  unpause: () => run("queue.unpause", null, () => panel.client.queuePause({ paused: false })),
  logout: (queues) => {
    store.set("queues", queues.join(","));
    for (const queue of queues) run("queue.logout", null, () => panel.client.queueLogin({ queue, login: false }));
  },
  login: (queues) => {
    for (const queue of queues) run("queue.login", null, () => panel.client.queueLogin({ queue, login: true }));
  },
};

// ---- rendering ----

let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  queueMicrotask(() => {
    pending = false;
    render();
  });
}

/** Replace a container's children, keeping the focused control (by data-focus) and its caret. */
function swap(container, children) {
  const a = document.activeElement;
  const key = a && container.contains(a) ? a.dataset.focus : null;
  const sel = key && "selectionStart" in a ? [a.selectionStart, a.selectionEnd] : null;
  container.replaceChildren(...children);
  if (!key) return;
  const el = container.querySelector(`[data-focus="${CSS.escape(key)}"]`);
  if (!el) return;
  el.focus();
  if (sel && el.setSelectionRange) el.setSelectionRange(sel[0], sel[1]);
}

function ui() {
  return { t: i18n.t, fmt: i18n, me: panel.user?.id, role: panel.user?.role, panel, act, directory: panel.directory, canDial: (panel.user?.devices.length ?? 0) > 0 };
}

function render() {
  if (!panel.user || !panel.client) return;
  const u = ui();
  const now = Date.now();
  const me = panel.user;
  const mine = panel.client.agents.get(me.id);
  $("me-name").textContent = me.name;
  const { mode, calls } = agentMode(panel.client.calls.values(), me.id, !!panel.wrap);
  $("mode").textContent = i18n.t(`mode.${mode}`);
  $("mode").dataset.mode = mode;
  document.body.dataset.mode = mode;
  const remembered = (store.get("queues") || "").split(",").filter(Boolean);
  swap($("me-status"), statusView(mine, { ...u, devices: me.devices }, statusAct, remembered));
  swap($("cards"), modeCards(mode, calls, u, now));
  renderLog(u, now);
  if (me.role === "supervisor") swap($("board-body"), [boardView(u, panel.client.agents, [...panel.client.calls.values()], panel.kpis, panel.boardFilter, now)]);
}

function renderLog(u, now) {
  const all = panel.log.sorted();
  const missed = all.filter((c) => stateWord(c, u.me, u.role) === "missed");
  const open = all.filter((c) => isOpenMissed(c, u.me, u.role)).length;
  $("filter-missed").textContent = i18n.t("log.missed", { count: i18n.number(open) });
  $("filter-all").setAttribute("aria-pressed", String(panel.filter === "all"));
  $("filter-missed").setAttribute("aria-pressed", String(panel.filter === "missed"));
  const rows = panel.filter === "missed" ? missed : all;
  swap($("log-list"), rows.map((c) => logRow(c, u, now)));
  $("log-empty").hidden = rows.length > 0;
  $("log-more").hidden = !panel.log.next || panel.filter === "missed";
}

/** Once a second: the timers (calls, wrap-up countdown, board durations). */
function tick() {
  const now = Date.now();
  if (!panel.client) return;
  for (const el of document.querySelectorAll("[data-timer]")) {
    const call = panel.client.calls.get(el.dataset.timer) || panel.log.get(el.dataset.timer);
    if (call) el.textContent = timerText(call, now);
  }
  for (const el of document.querySelectorAll("[data-since]")) el.textContent = clock((now - Date.parse(el.dataset.since)) / 1000);
  for (const el of document.querySelectorAll("[data-countdown]")) el.textContent = i18n.t("wrap.left", { time: clock((Date.parse(el.dataset.countdown) - now) / 1000) });
}

// ---- page ----

$("token").value = params.get("token") || store.get("token") || "";
if (params.has("token")) history.replaceState(null, "", location.pathname + (params.get("lang") ? `?lang=${params.get("lang")}` : ""));
$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  start();
});
$("disconnect").addEventListener("click", () => {
  stop();
  setStatus("conn.closed", "bad");
});
$("flash-close").addEventListener("click", hideFlash);
$("lang").addEventListener("change", (e) => {
  store.set("lang", e.target.value);
  i18n = makeI18n(pickLanguage(e.target.value, navigator.languages), navigator.language);
  applyWords();
  setStatus($("status").dataset.key || "conn.none", $("status").dataset.kind);
  schedule();
});
$("filter-all").addEventListener("click", () => {
  panel.filter = "all";
  schedule();
});
$("filter-missed").addEventListener("click", () => {
  panel.filter = "missed";
  schedule();
});
$("log-more").addEventListener("click", loadMore);
$("dial").addEventListener("submit", (e) => {
  e.preventDefault();
  const to = $("dial-to").value.replace(/[^0-9*#+]/g, "");
  if (!to) return;
  run("dial", null, async () => {
    await panel.client.dial(to, { device: $("dial-device").value || undefined });
    $("dial-to").value = "";
  });
});
applyWords();
setStatus("conn.none", "bad");
setInterval(tick, 1000);
if ($("token").value) start();
