/*
 * ctibridge reference panel: the connection and the state. One WebSocket to /ws with the token
 * in Sec-WebSocket-Protocol (["ctibridge.v1", "bearer." + token]); hello, snapshot, then call
 * events; reconnect with backoff and `resume` from the last seq.
 */
"use strict";

(() => {
  const { h, callCard, historyItem, popBody, timerText } = window.CtiView;
  const $ = (id) => document.getElementById(id);
  const FINAL = { 4001: "The token was refused.", 4003: "The token has expired.", 4009: "Another connection took over this session." };
  const MAX_HISTORY = 50;

  const state = { ws: null, lastSeq: 0, delay: 500, retry: null, wanted: false, user: null, calls: new Map(), history: [], pending: new Map(), popCallId: null, lastHeard: 0 };

  // Token: ?token= (then removed from the address bar), else localStorage.
  const params = new URLSearchParams(location.search);
  $("token").value = params.get("token") || localStorage.getItem("ctibridge.token") || "";
  $("server").value = params.get("server") || localStorage.getItem("ctibridge.server") || location.host || "127.0.0.1:8088";
  if (params.has("token")) history.replaceState(null, "", location.pathname);

  function setStatus(text) {
    $("status").textContent = text;
  }

  function logLine(text, ok) {
    const li = h("li", { class: ok ? "ok" : "bad" }, `${new Date().toLocaleTimeString()} ${text}`);
    $("log").prepend(li);
    while ($("log").children.length > 20) $("log").lastChild.remove();
  }

  let cmdSeq = 0;
  function act(action, args) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return logLine(`${action}: not connected`, false);
    const id = `panel-${Date.now().toString(36)}-${++cmdSeq}`;
    state.pending.set(id, action);
    state.ws.send(JSON.stringify({ type: "command", id, action, args }));
  }

  function connect() {
    const token = $("token").value.trim();
    const server = $("server").value.trim();
    if (!token || !server) return setStatus("Enter the server and a token.");
    localStorage.setItem("ctibridge.token", token);
    localStorage.setItem("ctibridge.server", server);
    state.wanted = true;
    clearTimeout(state.retry);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    setStatus(`Connecting to ${server}…`);
    const ws = new WebSocket(`${scheme}://${server}/ws`, ["ctibridge.v1", `bearer.${token}`]);
    state.ws = ws;
    ws.onopen = () => {
      state.lastHeard = Date.now();
      setStatus("Connected");
      if (state.lastSeq > 0) ws.send(JSON.stringify({ type: "resume", afterSeq: state.lastSeq }));
      $("connect").hidden = true;
      $("disconnect").hidden = false;
    };
    ws.onmessage = (ev) => {
      state.lastHeard = Date.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (typeof msg.seq === "number" && msg.seq > state.lastSeq) state.lastSeq = msg.seq;
      handle(msg);
    };
    ws.onclose = (ev) => {
      if (state.ws !== ws) return;
      state.ws = null;
      if (FINAL[ev.code]) state.wanted = false;
      if (!state.wanted) {
        setStatus(FINAL[ev.code] || "Disconnected");
        $("connect").hidden = false;
        $("disconnect").hidden = true;
        return;
      }
      const wait = Math.round(state.delay * (0.5 + Math.random() / 2));
      setStatus(`Connection lost (${ev.code}); retrying in ${Math.ceil(wait / 1000)} s…`);
      state.delay = Math.min(state.delay * 2, 30000);
      state.retry = setTimeout(connect, wait);
    };
  }

  function disconnect() {
    state.wanted = false;
    clearTimeout(state.retry);
    if (state.ws) state.ws.close(1000, "bye");
  }

  function handle(msg) {
    switch (msg.type) {
      case "hello":
        state.delay = 500;
        state.user = msg.user;
        renderMe();
        break;
      case "snapshot":
        state.calls = new Map((msg.calls || []).map((c) => [c.callId, c]));
        renderCalls();
        break;
      case "call.ended":
      case "call.missed":
        endCall(msg.call, msg.type === "call.missed");
        break;
      case "call.claimed":
        if (state.popCallId === msg.callId) hidePop();
        break;
      case "pbx.disconnected":
        $("pbx").textContent = "The PBX link is down: call information may be stale.";
        $("pbx").hidden = false;
        break;
      case "pbx.resynced":
        $("pbx").hidden = true;
        break;
      case "resync_required":
        logLine("Missed too many events; a fresh snapshot follows.", false);
        break;
      case "command.result": {
        const action = state.pending.get(msg.id) || "command";
        state.pending.delete(msg.id);
        logLine(msg.ok ? `${action}: done` : `${action}: ${msg.error ? msg.error.message : "failed"}`, msg.ok);
        break;
      }
      case "error":
        logLine(`${msg.code}: ${msg.message}`, false);
        break;
      default:
        if (typeof msg.type === "string" && msg.type.startsWith("call.") && msg.call) {
          state.calls.set(msg.call.callId, msg.call);
          renderCall(msg.call);
          if (msg.type === "call.ringing" && msg.pop !== false) showPop(msg.call);
          else if (msg.type === "call.answered" && msg.pop === true) showPop(msg.call);
          else if (msg.type === "call.ringing_stopped" && state.popCallId === msg.call.callId) hidePop();
          else if (state.popCallId === msg.call.callId) $("pop-body").replaceChildren(popBody(msg.call));
        }
    }
  }

  function renderMe() {
    const u = state.user;
    $("me").className = "";
    $("me").replaceChildren(h("strong", {}, u.name), ` (${u.id}, ${u.role})`, h("br"), `Devices: ${u.devices.join(", ") || "none"}`);
    $("dial-device").replaceChildren(...u.devices.map((d) => h("option", { value: d }, d)));
  }

  /** Replace one card, keeping what the user was typing and where the focus was. */
  function renderCall(call) {
    const old = $("calls").querySelector(`[data-call-id="${CSS.escape(call.callId)}"]`);
    const typed = old ? [...old.querySelectorAll("input")].map((i) => i.value) : [];
    const focused = old && old.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    const card = callCard(call, act, Date.now());
    card.querySelectorAll("input").forEach((i, n) => (i.value = typed[n] || ""));
    if (old) old.replaceWith(card);
    else $("calls").prepend(card);
    if (focused) card.querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
    $("no-calls").hidden = state.calls.size > 0;
  }

  function renderCalls() {
    $("calls").replaceChildren();
    for (const call of state.calls.values()) renderCall(call);
    $("no-calls").hidden = state.calls.size > 0;
  }

  function endCall(call, missed) {
    state.calls.delete(call.callId);
    $("calls").querySelector(`[data-call-id="${CSS.escape(call.callId)}"]`)?.remove();
    $("no-calls").hidden = state.calls.size > 0;
    if (state.popCallId === call.callId) hidePop();
    missed = missed || (call.legs || []).some((l) => l.outcome === "missed");
    const known = state.history.find((e) => e.call.callId === call.callId);
    if (known) {
      known.call = call;
      known.missed = known.missed || missed;
    } else state.history.unshift({ call, missed });
    state.history.length = Math.min(state.history.length, MAX_HISTORY);
    $("history").replaceChildren(...state.history.map((e) => historyItem(e, act)));
  }

  function showPop(call) {
    state.popCallId = call.callId;
    $("pop-body").replaceChildren(popBody(call));
    $("pop").hidden = false;
  }

  function hidePop() {
    state.popCallId = null;
    $("pop").hidden = true;
  }

  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    disconnect();
    state.lastSeq = 0;
    connect();
  });
  $("disconnect").addEventListener("click", disconnect);
  $("pop-close").addEventListener("click", hidePop);
  $("pop-claim").addEventListener("click", () => {
    if (state.popCallId && state.ws) state.ws.send(JSON.stringify({ type: "claim", callId: state.popCallId }));
  });
  $("dial").addEventListener("submit", (e) => {
    e.preventDefault();
    act("dial", { to: $("dial-to").value.trim(), device: $("dial-device").value || undefined });
  });
  $("queue").addEventListener("submit", (e) => e.preventDefault());
  $("queue").addEventListener("click", (e) => {
    const action = e.target instanceof HTMLElement ? e.target.dataset.action : undefined;
    if (!action) return;
    e.preventDefault();
    const queue = $("queue-name").value.trim() || undefined;
    const reason = $("queue-reason").value.trim() || undefined;
    act(action, action === "queue.pause" ? { queue, reason } : { queue });
  });

  // Timers tick once a second; an app ping every 30 s; a server silent for 75 s is a dead link.
  let ticks = 0;
  setInterval(() => {
    const now = Date.now();
    for (const el of document.querySelectorAll("[data-timer]")) {
      const call = state.calls.get(el.dataset.timer);
      if (call) el.textContent = timerText(call, now);
    }
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      if (now - state.lastHeard > 75000) state.ws.close(4000, "silent");
      else if (++ticks % 30 === 0) state.ws.send(JSON.stringify({ type: "ping" }));
    }
  }, 1000);

  if ($("token").value) connect();
})();
