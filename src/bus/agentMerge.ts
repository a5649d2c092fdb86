/**
 * One user's agent state over several PBXs (cluster mode, a user with phones on two sites).
 * Each PBX worker builds a state from its own PBX only; a gateway keeps one per (user, PBX) and
 * sends clients this merge, so the state never flip-flops with whichever PBX spoke last:
 *   deviceState  the busiest (calls/agents.ts DEVICE_RANK, as for several phones on one PBX);
 *   queues       the union, each entry naming its PBX (`pbxId`), sorted by queue then PBX;
 *   activity     the busiest: ringing > talking > on_hold > wrap_up > paused > idle > offline
 *                (offline only when offline on every PBX);
 *   wrapUp       the running one (two running: the later started);
 *   pbxId        the PBX when only one contributed, else absent.
 * Pure; the result depends on the states, not on the order they arrived in.
 */
import { DEVICE_RANK } from "../calls/agents.js";
import type { AgentActivity, AgentState } from "../calls/model.js";

const ACTIVITY_RANK: Readonly<Record<AgentActivity, number>> = { offline: 0, idle: 1, paused: 2, wrap_up: 3, on_hold: 4, talking: 5, ringing: 6 };

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** `byPbx`: PBX id → that PBX's latest state of the user (at least one). */
export function mergeAgentStates(byPbx: ReadonlyMap<string, AgentState>): AgentState {
  const pbxs = [...byPbx.keys()].sort(cmp);
  let deviceState: AgentState["deviceState"] = null;
  let activity: AgentActivity = "offline";
  let wrapUp: AgentState["wrapUp"] = null;
  const queues: AgentState["queues"] = [];
  for (const pbxId of pbxs) {
    const s = byPbx.get(pbxId)!;
    if (s.deviceState !== null && (deviceState === null || DEVICE_RANK[s.deviceState] > DEVICE_RANK[deviceState])) deviceState = s.deviceState;
    if (ACTIVITY_RANK[s.activity] > ACTIVITY_RANK[activity]) activity = s.activity;
    if (s.wrapUp !== null && (wrapUp === null || s.wrapUp.since > wrapUp.since)) wrapUp = s.wrapUp;
    for (const q of s.queues) queues.push({ ...q, pbxId });
  }
  queues.sort((x, y) => cmp(x.queue, y.queue) || cmp(x.pbxId!, y.pbxId!));
  return { ...(pbxs.length === 1 ? { pbxId: pbxs[0]! } : {}), deviceState, queues, activity, wrapUp };
}
