/*
 * ctibridge reference panel: the connection and the state. One WebSocket to /ws with the token
 * in Sec-WebSocket-Protocol (["ctibridge.v1", "bearer." + token]); hello, snapshot, then call
 * events; reconnect with backoff and `resume` from the last seq.
 */
"use strict";

(() => {
  const { h, callCard, historyItem, popBody, popAnnouncement, timerText, isMissed, resultText } = window.CtiView;
  const $ = (id) => document.getElementById(id);
  const FINAL = { 4001: "The token was refused.", 4003: "The token has expired.", 4009: "Another connection took over this session." };
  const MAX_HISTORY = 50;

  const state = { ws: null, lastSeq: 0, delay: 500, retry: null, wanted: false, user: null, calls: new Map(), history: [], pending: new Map(), errors: new Map(), popCallId: null, lastHeard: 0 };

  // Token: ?token= (then removed from the address bar), else localStorage.
  const params = new URLSearchParams(location.search);
  $("token").value = params.get("token") || localStorage.getItem("ctibridge.token") || "";
  $("server").value = params.get("server") || localStorage.getItem("ctibridge.server") || location.host || "127.0.0.1:8088";
  if (params.has("token")) history.replaceState(null, "", location.pathname);

  /** The connection line in the header; `kind` ok | busy | bad colours it (the text says it too). */
  function setStatus(text, kind) {
    $("status").textContent = text;
    $("status").dataset.kind = kind || "";
    document.body.classList.toggle("offline", kind !== "ok");
  }

  const view = () => ({ me: state.user && state.user.id, role: state.user && state.user.role });

  function logLine(text, ok) {
    const li = h("li", { class: ok ? "ok" : "bad" }, `${new Date().toLocaleTimeString()} ${text}`);
    $("log").prepend(li);
    while ($("log").children.length > 20) $("log").lastChild.remove();
  }

  /** A failed command also shows for a while at the top, where the agent looks (the log is below the forms). */
  let flashTimer = null;
  function flash(text) {
    $("flash").textContent = text;
    $("flash").hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => ($("flash").hidden = true), 10000);
  }

  let cmdSeq = 0;
  function act(action, args) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return logLine(resultText(action, { ok: false, error: { message: "not connected" } }), false);
    const id = `panel-${Date.now().toString(36)}-${++cmdSeq}`;
    const callId = args && args.callId;
    state.pending.set(id, { action, callId });
    if (callId && state.errors.delete(callId) && state.calls.has(callId)) renderCall(state.calls.get(callId));
    state.ws.send(JSON.stringify({ type: "command", id, action, args }));
  }

  function connect() {
    const token = $("token").value.trim();
    const server = $("server").value.trim();
    if (!token || !server) return setStatus("Enter the server and a token.", "bad");
    localStorage.setItem("ctibridge.token", token);
    localStorage.setItem("ctibridge.server", server);
    state.wanted = true;
    clearTimeout(state.retry);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    setStatus(`Connecting to ${server}…`, "busy");
    const ws = new WebSocket(`${scheme}://${server}/ws`, ["ctibridge.v1", `bearer.${token}`]);
    state.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      state.lastHeard = Date.now();
      setStatus("Connected", "ok");
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
        setStatus(FINAL[ev.code] || "Disconnected", "bad");
        $("connect").hidden = false;
        $("disconnect").hidden = true;
        return;
      }
      const retry = () => {
        const wait = Math.round(state.delay * (0.5 + Math.random() / 2));
        setStatus(`Disconnected (${ev.code}); retrying in ${Math.ceil(wait / 1000)} s…`, "bad");
        state.delay = Math.min(state.delay * 2, 30000);
        state.retry = setTimeout(connect, wait);
      };
      // A refused upgrade (HTTP 401) reaches a browser only as close 1006 before open: ask the
      // REST API with the same token whether it is the token, so we stop retrying a bad one.
      if (opened) return retry();
      fetch(`${location.protocol === "https:" ? "https" : "http"}://${server}/api/calls?limit=1`, { headers: { Authorization: `Bearer ${token}` } })
        .then((r) => {
          if (r.status !== 401 || state.ws !== null) return retry();
          state.wanted = false;
          setStatus("Token refused (unknown, expired or revoked): enter a valid token.", "bad");
          $("connect").hidden = false;
          $("disconnect").hidden = true;
        })
        .catch(retry);
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
        if (state.popCallId && !state.calls.has(state.popCallId)) hidePop();
        break;
      case "call.ended":
      case "call.missed":
        if (msg.call) endCall(msg.call, msg.type === "call.missed");
        break;
      case "call.claimed":
        // Every tab of the user hears of a claim; this tab's own claim comes back with byMe.
        if (state.popCallId === msg.callId && !msg.byMe) hidePop();
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
        const sent = state.pending.get(msg.id) || { action: "command" };
        state.pending.delete(msg.id);
        const text = resultText(sent.action, msg);
        logLine(text, msg.ok);
        if (!msg.ok) flash(text);
        if (!msg.ok && sent.callId && state.calls.has(sent.callId)) {
          state.errors.set(sent.callId, text);
          renderCall(state.calls.get(sent.callId));
        }
        if (msg.ok && sent.action === "dial") $("dial-to").value = "";
        break;
      }
      case "error":
        logLine(`Refused (${msg.code}): ${msg.message}`, false);
        break;
      default:
        if (typeof msg.type === "string" && msg.type.startsWith("call.") && msg.call) {
          state.calls.set(msg.call.callId, msg.call);
          renderCall(msg.call);
          if (msg.type === "call.ringing" && msg.pop !== false) showPop(msg.call);
          else if (msg.type === "call.answered" && msg.pop === true) showPop(msg.call);
          else if (msg.type === "call.ringing_stopped" && state.popCallId === msg.call.callId) hidePop();
          else if (state.popCallId === msg.call.callId) $("pop-body").replaceChildren(popBody(msg.call, Date.now(), view().me));
        }
    }
  }

  function renderMe() {
    const u = state.user;
    $("me").className = "";
    $("me").replaceChildren(h("strong", {}, u.name), ` (${u.id}, ${u.role})`, h("br"), `Devices: ${u.devices.join(", ") || "none"}`);
    $("dial-device").replaceChildren(...u.devices.map((d) => h("option", { value: d }, d)));
    // Without a device there is no phone to ring first: say so instead of a dead form.
    const none = u.devices.length === 0;
    $("dial-device").disabled = none;
    $("dial-call").disabled = none;
    $("dial-none").hidden = !none;
  }

  /** Replace one card, keeping what the user was typing and where the focus was. */
  function renderCall(call) {
    const old = $("calls").querySelector(`[data-call-id="${CSS.escape(call.callId)}"]`);
    const typed = old ? [...old.querySelectorAll("input")].map((i) => i.value) : [];
    const focused = old && old.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    const card = callCard(call, act, Date.now(), { ...view(), error: state.errors.get(call.callId) });
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
    state.errors.delete(call.callId);
    $("calls").querySelector(`[data-call-id="${CSS.escape(call.callId)}"]`)?.remove();
    $("no-calls").hidden = state.calls.size > 0;
    if (state.popCallId === call.callId) hidePop();
    missed = missed || isMissed(call, view().me, view().role);
    const known = state.history.find((e) => e.call.callId === call.callId);
    if (known) {
      known.call = call;
      known.missed = known.missed || missed;
    } else state.history.unshift({ call, missed });
    state.history.length = Math.min(state.history.length, MAX_HISTORY);
    // Keep an open note (and what is typed in it) across the re-render.
    const open = new Map([...$("history").querySelectorAll("li[data-call-id]")].filter((li) => li.querySelector("details[open]")).map((li) => [li.dataset.callId, li.querySelector("input").value]));
    $("history").replaceChildren(
      ...state.history.map((e) => {
        const li = historyItem(e, act, view());
        li.dataset.callId = e.call.callId;
        if (open.has(e.call.callId)) {
          li.querySelector("details").open = true;
          li.querySelector("input").value = open.get(e.call.callId);
        }
        return li;
      }),
    );
  }

  function showPop(call) {
    const fresh = state.popCallId !== call.callId;
    state.popCallId = call.callId;
    $("pop-body").replaceChildren(popBody(call, Date.now(), view().me));
    $("pop").hidden = false;
    if (fresh) {
      $("pop-claim").disabled = false;
      $("pop-claim").textContent = "Take this pop";
      // The pop itself is not a live region (its body is rebuilt on every update); one line is announced.
      $("announce").textContent = popAnnouncement(call, view().me);
    }
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
  setStatus("Not connected", "bad");
  $("pop-close").addEventListener("click", hidePop);
  $("pop-claim").addEventListener("click", () => {
    if (!state.popCallId || !state.ws || state.ws.readyState !== WebSocket.OPEN) return logLine(resultText("claim", { ok: false, error: { message: "not connected" } }), false);
    state.ws.send(JSON.stringify({ type: "claim", callId: state.popCallId }));
    $("pop-claim").disabled = true;
    $("pop-claim").textContent = "Taken by this tab";
  });
  $("pop").addEventListener("keydown", (e) => {
    if (e.key === "Escape") hidePop();
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

  // Back online (laptop woke up, network returned): retry now instead of waiting out the backoff.
  window.addEventListener("online", () => {
    if (state.wanted && !state.ws) connect();
  });

  if ($("token").value) connect();
})();
