/*
 * The supervisor board: every agent (device state, status with pause reason, queues, current
 * call with its duration) and every queue (waiting callers and the longest wait from the live
 * calls, answered / abandoned today and the average wait from `GET /api/queues`). Pure
 * functions build the rows; `boardView` turns them into DOM.
 */
import { agentStatus, clock, partyName } from "./model.js";
import { h } from "./view.js";

/** Callers waiting in a queue now: queue calls that ring and nobody answered yet. */
export function waitingCalls(calls, queue) {
  return [...calls].filter((c) => c.queue === queue && c.state === "ringing" && !c.answeredBy);
}

/** One agent's row: status, the queues, their current call (a live leg of theirs). */
export function agentRow(userId, state, calls, directory) {
  const st = agentStatus(state);
  const live = [...calls].find((c) => c.state !== "ended" && (c.legs || []).some((l) => l.userId === userId && l.state !== "ended"));
  const leg = live && live.legs.find((l) => l.userId === userId && l.state !== "ended");
  return {
    userId,
    name: directory.get(userId)?.name || userId,
    deviceState: state?.deviceState || "unknown",
    status: st.status,
    reason: st.reason,
    queues: st.queues,
    call: live ? { call: live, legState: leg.state, since: leg.answeredAt || leg.ringingAt || live.times.started } : null,
  };
}

/**
 * Queue rows: every queue an agent is in, that a live call names, or that the KPIs list
 * (`kpis`: queue name → an item of `GET /api/queues` or a `queue.state` frame).
 */
export function queueRows(agentStates, calls, kpis, now) {
  const names = new Set(Object.keys(kpis || {}));
  for (const s of agentStates.values()) for (const q of s?.queues || []) names.add(q.queue);
  for (const c of calls) if (c.queue) names.add(c.queue);
  return [...names].sort().map((queue) => {
    const waiting = waitingCalls(calls, queue);
    const longest = waiting.reduce((m, c) => Math.max(m, (now - Date.parse(c.times.started)) / 1000), 0);
    const k = (kpis || {})[queue] || {};
    const members = [...agentStates.values()].filter((s) => (s?.queues || []).some((q) => q.queue === queue));
    const ready = members.filter((s) => s.queues.some((q) => q.queue === queue && !q.paused && q.loggedIn !== false)).length;
    return {
      queue,
      waiting: Math.max(waiting.length, k.waiting ?? 0),
      longestWait: Math.max(longest, k.longestWaitSeconds ?? 0),
      answered: k.today?.answered ?? null,
      abandoned: k.today?.abandoned ?? null,
      avgWait: k.today?.avgWaitSeconds ?? null,
      members: members.length,
      ready,
    };
  });
}

const statusText = (row, t) => {
  if (row.status === "paused") return row.reason ? t("me.pausedFor", { reason: reasonText(row.reason, t) }) : t("me.paused");
  if (row.status === "available") return t("me.available");
  if (row.status === "loggedOut") return t("me.loggedOut");
  if (row.status === "wrapUp") return t("me.wrapUp");
  if (row.status === "offline") return t("me.offline");
  return "";
};

export function reasonText(reason, t) {
  const key = `reason.${reason}`;
  return t(key) === key ? reason : t(key);
}

/** The board as DOM; `filter` a queue name or "" for all. */
export function boardView(ui, agentStates, calls, kpis, filter, now) {
  const { t, fmt } = ui;
  const ids = new Set([...agentStates.keys(), ...[...ui.directory.values()].filter((u) => u.devices?.length).map((u) => u.id)]);
  const agents = [...ids]
    .sort((a, b) => (ui.directory.get(a)?.name || a).localeCompare(ui.directory.get(b)?.name || b))
    .map((id) => agentRow(id, agentStates.get(id), calls, ui.directory))
    .filter((r) => !filter || r.queues.some((q) => q.queue === filter));
  const queues = queueRows(agentStates, calls, kpis, now).filter((q) => !filter || q.queue === filter);
  const secs = (s) => (s === null || s === undefined ? "–" : clock(s));
  const num = (n) => (n === null || n === undefined ? "–" : fmt.number(n));
  const options = queueRows(agentStates, calls, kpis, now).map((q) => q.queue);
  return h(
    "div",
    { class: "board-body" },
    h(
      "label",
      { class: "filter" },
      h("span", {}, t("board.filter")),
      h(
        "select",
        { id: "board-filter", dataset: { focus: "board-filter" }, onchange: (e) => ui.act.filterBoard(e.target.value) },
        h("option", { value: "" }, t("board.allQueues")),
        options.map((q) => h("option", { value: q, selected: q === filter }, q)),
      ),
    ),
    h("h3", {}, t("board.queues")),
    queues.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "queues" },
            h("thead", {}, h("tr", {}, [t("board.queue"), t("board.waiting"), t("board.longest"), t("board.answered"), t("board.abandoned"), t("board.avgWait"), t("board.members")].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              queues.map((q) =>
                h(
                  "tr",
                  { dataset: { queue: q.queue } },
                  h("th", { scope: "row" }, q.queue),
                  h("td", { class: `num ${q.waiting ? "hot" : ""}`, dataset: { k: "waiting" } }, num(q.waiting)),
                  h("td", { class: "num", dataset: { k: "longest" } }, q.waiting ? secs(q.longestWait) : "–"),
                  h("td", { class: "num", dataset: { k: "answered" } }, num(q.answered)),
                  h("td", { class: "num", dataset: { k: "abandoned" } }, num(q.abandoned)),
                  h("td", { class: "num", dataset: { k: "avgWait" } }, secs(q.avgWait)),
                  h("td", { class: "num", dataset: { k: "members" } }, `${num(q.ready)} / ${num(q.members)}`),
                ),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, t("board.noQueues")),
    h("h3", {}, t("board.agents")),
    agents.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "agents" },
            h("thead", {}, h("tr", {}, [t("board.agent"), t("board.device"), t("board.status"), t("board.queues"), t("board.call")].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              agents.map((r) =>
                h(
                  "tr",
                  { dataset: { agent: r.userId, status: r.status } },
                  h("th", { scope: "row" }, r.name),
                  h("td", { class: `dev ${r.deviceState}` }, t(`dev.${r.deviceState}`)),
                  h("td", { class: `st ${r.status}` }, statusText(r, t)),
                  h("td", { class: "qs" }, r.queues.map((q) => h("span", { class: `chip ${q.paused ? "paused" : ""}` }, q.paused ? `${q.queue} ⏸` : q.queue))),
                  h(
                    "td",
                    { class: "cur" },
                    r.call ? [h("span", {}, partyName(r.call.call, r.userId, t)), " ", h("span", { class: "muted timer", dataset: { since: r.call.since } }, clock((now - Date.parse(r.call.since)) / 1000))] : "",
                  ),
                ),
              ),
            ),
          ),
        )
      : h("p", { class: "muted" }, t("board.none")),
  );
}
