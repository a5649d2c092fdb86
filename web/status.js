/*
 * The agent's own status line and its switch: available, paused with a reason, logged out of
 * her queues, in after-call work; pause / available / log out / log in (queue.pause,
 * queue.unpause, queue.logout, queue.login through `act`).
 */
import { agentStatus } from "./model.js";
import { reasonText } from "./board.js";
import { h } from "./view.js";

export const REASONS = ["break", "lunch", "meeting", "training", "backoffice"];

/**
 * `act`: { pause(reason), unpause(), logout(queues), login() }; `remembered`: the queues she
 * logged out of in this browser (the PBX no longer lists them), for "log in".
 */
export function statusView(state, ui, act, remembered) {
  const { t } = ui;
  if (!ui.devices.length) return [h("span", { class: "muted small" }, t("me.noDevice"))];
  const st = agentStatus(state);
  if (st.status === "unknown") return [];
  const word = st.status === "paused" ? t("me.pausedFor", { reason: st.reason ? reasonText(st.reason, t) : "–" }) : t(`me.${st.status}`);
  const line = h(
    "p",
    { class: "status-line" },
    h("span", { class: `status-word ${st.status}`, dataset: { status: st.status } }, word),
    st.queues.length ? h("span", { class: "muted small" }, t("me.queues", { list: st.queues.map((q) => q.queue).join(", ") })) : "",
  );
  const controls = [];
  if (st.status === "available") {
    const sel = h("select", { "aria-label": t("me.reason"), dataset: { focus: "reason" } }, REASONS.map((r) => h("option", { value: r }, reasonText(r, t))));
    controls.push(sel, h("button", { type: "button", onclick: () => act.pause(sel.value) }, t("me.pause")));
  } else if (st.status === "paused") {
    controls.push(h("button", { type: "button", onclick: () => act.unpause() }, t("me.resume")));
  }
  if (st.queues.length && st.status !== "wrapUp") controls.push(h("button", { type: "button", class: "quiet", onclick: () => act.logout(st.queues.map((q) => q.queue)) }, t("me.logout")));
  else if (st.status === "loggedOut" && remembered.length) controls.push(h("button", { type: "button", onclick: () => act.login(remembered) }, t("me.login")));
  return [line, controls.length ? h("div", { class: "row" }, controls) : null].filter(Boolean);
}
