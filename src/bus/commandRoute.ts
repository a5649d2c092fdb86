/**
 * Which PBX worker a gateway sends a command to, and with which of the user's devices. A user
 * may have devices on several PBXs (`hamburg:PJSIP/1001` in the users config,
 * directory/pbxDevices.ts), so "the PBX the user was last seen on" is not enough:
 *   - a call command (args.callId): the call's PBX;
 *   - `dial`, `queue.login`, `queue.logout`: the PBX of the device it names (`args.device`, else
 *     the user's first device); the worker gets the plain device name;
 *   - `queue.pause`, `queue.unpause`: every PBX the user's devices are on (the results merged);
 *   - `agent.ready`: the PBX whose wrap-up runs;
 *   - else, and for plain devices (on every PBX): the user's only named PBX, else the PBX the
 *     user was last seen on, else the only PBX known.
 * Each target carries the user's devices on that PBX, plain, for the worker's authorisation.
 */
import type { CommandResult } from "../publish/server.js";
import { devicesOn, pbxsOf, splitDevice } from "../directory/pbxDevices.js";
import type { LiveView } from "./liveView.js";

export interface CommandTarget {
  pbxId: string;
  args: unknown;
  /** The user's devices on this PBX, plain names. */
  devices: string[];
}

export type Route = { ok: true; targets: CommandTarget[] } | { ok: false; error: { code: "pbx_unavailable" | "invalid_argument"; message: string } };

const NO_PBX: Route = { ok: false, error: { code: "pbx_unavailable", message: "no PBX known for this command" } };
const DEVICE_ACTIONS = new Set(["dial", "queue.login", "queue.logout"]);

export function routeCommand(view: LiveView, user: { userId: string; devices: readonly string[] }, cmd: { action: string; args: unknown }): Route {
  const args = typeof cmd.args === "object" && cmd.args !== null && !Array.isArray(cmd.args) ? (cmd.args as Record<string, unknown>) : null;
  const to = (pbxId: string | null | undefined, a: unknown = cmd.args): Route =>
    pbxId ? { ok: true, targets: [{ pbxId, args: a, devices: devicesOn(user.devices, pbxId) }] } : NO_PBX;
  const { named, anyPlain } = pbxsOf(user.devices);
  const fallback = (): string | null => (!anyPlain && named.length === 1 ? named[0]! : view.pbxFor(undefined, user.userId));

  if (typeof args?.callId === "string") return to(view.getCall(args.callId)?.pbxId ?? fallback());
  if (DEVICE_ACTIONS.has(cmd.action)) {
    const requested = typeof args?.device === "string" ? args.device : undefined;
    const chosen = requested ?? user.devices[0];
    if (chosen === undefined) return to(fallback());
    const q = splitDevice(chosen);
    if (q.pbxId !== null) return to(q.pbxId, { ...args, device: q.device });
    if (requested === undefined) return to(fallback());
    // A plain name the user has only qualified: the PBX it is on, when that is one PBX.
    const mine = user.devices.map(splitDevice).filter((m) => m.device === q.device);
    if (mine.length === 0 || mine.some((m) => m.pbxId === null)) return to(fallback());
    const pbxs = [...new Set(mine.map((m) => m.pbxId!))];
    if (pbxs.length === 1) return to(pbxs[0]);
    return { ok: false, error: { code: "invalid_argument", message: `${q.device} is on several PBXs: name one (${pbxs.map((p) => `${p}:${q.device}`).join(", ")})` } };
  }
  if (cmd.action === "queue.pause" || cmd.action === "queue.unpause") {
    const pbxs = [...named];
    const last = anyPlain || named.length === 0 ? view.pbxFor(undefined, user.userId) : null;
    if (last !== null && !pbxs.includes(last)) pbxs.push(last);
    if (pbxs.length === 0) return NO_PBX;
    return { ok: true, targets: pbxs.map((pbxId) => ({ pbxId, args: cmd.args, devices: devicesOn(user.devices, pbxId) })) };
  }
  if (cmd.action === "agent.ready") {
    let running: { pbxId: string; since: string } | null = null;
    for (const [pbxId, s] of view.agentStatesOf(user.userId)) if (s.wrapUp !== null && (running === null || s.wrapUp.since > running.since)) running = { pbxId, since: s.wrapUp.since };
    return to(running?.pbxId ?? fallback());
  }
  return to(fallback());
}

type PauseRow = { device: string; interface?: string; ok: boolean; error?: string };

/**
 * The answers of several PBXs to one `queue.pause`/`queue.unpause`: fine when one PBX paused a
 * device (as the worker's own rule for several devices), each device named as the user's
 * config names it (`hamburg:PJSIP/1001`); all failed: the first PBX's error.
 */
export function mergePauseResults(user: { devices: readonly string[] }, results: { pbxId: string; result: CommandResult }[]): CommandResult {
  const name = (pbxId: string, device: string) => (user.devices.includes(`${pbxId}:${device}`) ? `${pbxId}:${device}` : device);
  if (!results.some((r) => r.result.ok)) return results[0]!.result;
  const devices: PauseRow[] = [];
  for (const { pbxId, result } of results) {
    if (result.ok) {
      const rows = ((result.data ?? {}) as { devices?: PauseRow[] }).devices ?? [];
      for (const r of rows) devices.push({ ...r, device: name(pbxId, r.device) });
    } else {
      for (const d of devicesOn(user.devices, pbxId)) devices.push({ device: name(pbxId, d), ok: false, error: result.error.message });
    }
  }
  return { ok: true, data: { devices } };
}
