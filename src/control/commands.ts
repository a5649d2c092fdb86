/**
 * Call control: a command from a user is validated (zod, allow-list of actions), authorised
 * (agents act only on calls where one of their devices has a leg, and only through their own
 * devices; supervisors on any call), then mapped onto a fixed AMI action template. No raw
 * AMI ever comes from a client (CVE-2024-42365). Every command is logged once, with its result
 * and the call it concerns (`callId`: the one it names, or the one a dial placed).
 */
import { controlLimitsSchema, type Config } from "../config.js";
import type { Logger } from "../log.js";
import type { AnnotationPatch, Call } from "../calls/model.js";
import { TokenBucket } from "../tokenBucket.js";
import type { AnnotateResult } from "./annotations.js";
import type { DoneResult } from "./done.js";
import { argSchemas, describeIssue, type ActionName, type ArgsOf } from "./args.js";
import { COMMAND_ERRORS, CommandError, fromAmiError, type CommandErrorCode } from "./errors.js";
import * as T from "./templates.js";

export interface CommandUser {
  userId: string;
  role: "agent" | "supervisor";
  devices: string[];
}
export interface Command {
  id: string;
  action: string;
  args: unknown;
  /** The WebSocket connection it came on, for the log line. */
  connectionId?: string;
}
export type CommandResult = { ok: true; data?: unknown } | { ok: false; error: { code: CommandErrorCode; message: string } };
export type CommandHandler = (user: CommandUser, cmd: Command) => Promise<CommandResult>;

export interface CommandDeps {
  /** `limits` absent: the defaults of control.limits. */
  config: Omit<Config["control"], "limits"> & { limits?: Config["control"]["limits"] };
  log: Logger;
  ami: {
    action(
      name: string,
      fields: ReadonlyArray<readonly [string, string | number | readonly string[]]>,
      opts?: { timeoutMs?: number },
    ): Promise<{ response: { headers: Record<string, string | string[]> }; events: unknown[] }>;
    connected(): boolean;
  };
  calls: {
    getCall(callId: string): Call | undefined;
    channelOf(callId: string, device: string): string | undefined;
    peerChannelOf(callId: string, device: string): string | undefined;
    beginClickToDial(args: { userId: string; device: string; to: string; channelId: string; at: number }): Call;
    originateFailed(channelId: string, reason: string, at: number): void;
  };
  /** `call.annotate`: decides who may (control/annotations.ts), for live and stored calls alike. */
  annotate: (user: CommandUser, callId: string, patch: AnnotationPatch) => AnnotateResult;
  /** `call.done`: close missed legs (control/done.ts). Absent: `not_supported`. */
  markDone?: (user: CommandUser, callId: string, target?: string) => DoneResult;
  /** `agent.ready`: end the user's own wrap-up; null when she is not in one. Absent: `not_supported`. */
  agentReady?: (userId: string) => { callId: string; since: string; endedAt: string; seconds: number; reason: string } | null;
  /**
   * Hold by phone-side NOTIFY: the `pjsip_notify.conf` sections to send (e.g. `Event: hold`
   * and `Event: talk`). Absent: `hold`/`unhold` answer `not_supported` (see holdUnsupported).
   */
  hold?: { holdOption: string; unholdOption: string };
  /**
   * Waits for the `OriginateResponse` of a click-to-dial (by its ChannelId), so the command
   * result says whether the user's phone was reached. Absent: the result only says queued.
   */
  originateResult?: (channelId: string, timeoutMs: number) => Promise<{ ok: boolean; reason: string }>;
  /**
   * The queue member interfaces that stand for a device (a FreePBX-style member
   * `Local/1004@agents/n` for `PJSIP/1004`), so QueuePause names the member Asterisk knows.
   * Absent or empty: the device itself.
   */
  queueInterfaces?: (device: string, queue?: string) => string[];
  newId?: () => string;
  now?: () => number;
}

type Run<A extends ActionName> = (user: CommandUser, args: ArgsOf<A>) => Promise<unknown>;

/** Which per-user budget (control.limits) a command draws on; annotate never reaches the PBX. */
type BudgetKind = "originate" | "queue" | "call";
const BUDGET_OF: { [A in ActionName]: BudgetKind | null } = {
  dial: "originate",
  hangup: "call",
  transfer: "call",
  hold: "call",
  unhold: "call",
  "queue.pause": "queue",
  "queue.unpause": "queue",
  "queue.login": "queue",
  "queue.logout": "queue",
  "call.annotate": null,
  "call.done": null,
  // Ending a wrap-up may unpause queue members.
  "agent.ready": "queue",
};

/** Why hold is not on by default: the honest limit, shown to the user. */
const HOLD_UNSUPPORTED =
  "hold is done on the phone: Asterisk has no AMI action that holds a PJSIP call; " +
  "configure phone-side NOTIFY hold (pjsip_notify.conf) to enable it";

/** OriginateResponse `Reason` (the AST_CONTROL code the originate ended on) in words. */
function originateReason(code: string): string {
  const words: Record<string, string> = { "0": "failed", "1": "hung up", "3": "no answer", "5": "busy", "8": "congestion" };
  return words[code] ?? (code || "failed");
}

function defaultNewId(): string {
  // Uniqueid-like (`<seconds>.<n>` in Asterisk); prefixed so it can never collide with one.
  return `ctib-${Math.floor(Date.now() / 1000)}.${Math.random().toString(36).slice(2, 10)}`;
}

export function createCommandHandler(deps: CommandDeps): CommandHandler {
  const { config, ami, calls, log } = deps;
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? defaultNewId;
  const schemas = argSchemas(config.maxDigits);
  const limits = config.limits ?? controlLimitsSchema.parse({});
  const perMinute: Record<BudgetKind, number> = {
    originate: limits.originatePerMinute,
    queue: limits.queueActionsPerMinute,
    call: limits.callActionsPerMinute,
  };
  /** `userId kind` → bucket; bounded by users × 3, full buckets are dropped when it grows. */
  const budgets = new Map<string, TokenBucket>();

  /** One command of this kind from this user, or `rate_limited` before anything reaches the PBX. */
  function charge(user: CommandUser, kind: BudgetKind): void {
    const t = now();
    const key = `${user.userId}\u0000${kind}`;
    let b = budgets.get(key);
    if (!b) {
      if (budgets.size >= 3_000) for (const [k, old] of budgets) if (old.full(t)) budgets.delete(k);
      budgets.set(key, (b = new TokenBucket(perMinute[kind], perMinute[kind] / 60, t)));
    }
    if (!b.take(1, t)) throw new CommandError("rate_limited", `at most ${perMinute[kind]} ${kind === "originate" ? "dials" : `${kind} actions`} per minute; try again later`);
  }

  async function send(t: T.AmiActionTemplate): Promise<void> {
    if (!ami.connected()) throw new CommandError("pbx_unavailable");
    let res;
    try {
      res = await ami.action(t.name, t.fields);
    } catch (err) {
      throw fromAmiError(err);
    }
    if (res.response.headers.Response === "Error") {
      const m = res.response.headers.Message;
      throw new CommandError("pbx_rejected", typeof m === "string" ? m : COMMAND_ERRORS.pbx_rejected);
    }
  }

  /** The call, when this user may act on it. */
  function authorisedCall(user: CommandUser, callId: string): Call {
    const call = calls.getCall(callId);
    if (call === undefined) throw new CommandError("not_found");
    const mine = call.legs.some((l) => user.devices.includes(l.device));
    if (!mine && user.role !== "supervisor") throw new CommandError("forbidden", "not a call of this user");
    return call;
  }

  /** The live channel to act through: the user's own leg; for a supervisor, else the answering leg. */
  function actingChannel(user: CommandUser, call: Call): string {
    const own = call.legs.filter((l) => user.devices.includes(l.device) && l.state !== "ended").map((l) => l.device);
    const others =
      user.role === "supervisor"
        ? [call.answeredBy?.device, ...call.legs.filter((l) => l.state !== "ended").map((l) => l.device)]
        : [];
    for (const device of [...own, ...others]) {
      if (device === undefined || device === null) continue;
      const ch = calls.channelOf(call.callId, device);
      // `Hangup` takes `/regex/` in Channel: never let a slash-led name through.
      if (ch !== undefined && ch !== "" && !ch.startsWith("/")) return ch;
    }
    throw new CommandError("no_channel");
  }

  function ownDevice(user: CommandUser, requested: string | undefined): string {
    const device = requested ?? user.devices[0];
    if (device === undefined) throw new CommandError("forbidden", "this user has no device");
    if (!user.devices.includes(device)) throw new CommandError("forbidden", "not a device of this user");
    return device;
  }

  function requireState(call: Call, states: Call["state"][]): void {
    if (!states.includes(call.state)) throw new CommandError("invalid_state", `the call is ${call.state}`);
  }

  const dial: Run<"dial"> = async (user, a) => {
    const device = ownDevice(user, a.device);
    if (!ami.connected()) throw new CommandError("pbx_unavailable");
    const channelId = newId();
    // Announce first, so `call.dialing` reaches the user before the phone even rings.
    const call = calls.beginClickToDial({ userId: user.userId, device, to: a.to, channelId, at: now() });
    try {
      await send(T.originate({ device, context: config.dialContext, to: a.to, channelId }));
    } catch (err) {
      const e = fromAmiError(err);
      calls.originateFailed(channelId, e.message, now());
      e.callId = call.callId;
      throw e;
    }
    if (deps.originateResult) {
      // Asterisk answers an Async Originate at once; the outcome comes with OriginateResponse.
      const r = await deps.originateResult(channelId, T.ORIGINATE_RING_MS + 5_000);
      if (!r.ok) {
        calls.originateFailed(channelId, r.reason, now());
        const e = new CommandError("pbx_rejected", `the call could not be placed: ${originateReason(r.reason)}`);
        e.callId = call.callId;
        throw e;
      }
    }
    return { callId: call.callId, channelId };
  };

  const hangup: Run<"hangup"> = async (user, a) => {
    await send(T.hangup(actingChannel(user, authorisedCall(user, a.callId))));
  };

  const transfer: Run<"transfer"> = async (user, a) => {
    const call = authorisedCall(user, a.callId);
    requireState(call, ["connected", "on_hold"]);
    const t = { channel: actingChannel(user, call), context: config.transferContext, to: a.to };
    await send(a.kind === "blind" ? T.blindTransfer(t) : T.attendedTransfer(t));
  };

  const holdOrResume = (hold: boolean) => async (user: CommandUser, a: { callId: string }) => {
    const call = authorisedCall(user, a.callId);
    if (deps.hold === undefined) throw new CommandError("not_supported", HOLD_UNSUPPORTED);
    requireState(call, hold ? ["connected"] : ["on_hold"]);
    const channel = actingChannel(user, call);
    if (!channel.startsWith("PJSIP/")) throw new CommandError("not_supported", "hold by NOTIFY needs a PJSIP channel");
    await send(T.notify({ channel, option: hold ? deps.hold.holdOption : deps.hold.unholdOption }));
  };

  /** Pause every device of the user; fine when at least one is a member (others may not be). */
  const pause = async (user: CommandUser, paused: boolean, queue?: string, reason?: string) => {
    if (user.devices.length === 0) throw new CommandError("forbidden", "this user has no device");
    const results: { device: string; interface?: string; ok: boolean; error?: string }[] = [];
    let firstError: CommandError | undefined;
    for (const device of user.devices) {
      const known = deps.queueInterfaces?.(device, queue) ?? [];
      for (const iface of known.length > 0 ? known : [device]) {
        const r = iface === device ? { device } : { device, interface: iface };
        try {
          await send(T.queuePause({ device: iface, paused, ...(queue ? { queue } : {}), ...(reason ? { reason } : {}) }));
          results.push({ ...r, ok: true });
        } catch (err) {
          const e = fromAmiError(err);
          firstError ??= e;
          results.push({ ...r, ok: false, error: e.message });
        }
      }
    }
    if (!results.some((r) => r.ok)) throw firstError!;
    return { devices: results };
  };

  const annotate: Run<"call.annotate"> = async (user, a) => {
    const { callId, ...patch } = a;
    const r = deps.annotate(user, callId, patch);
    if (!r.ok) throw new CommandError(r.code, r.message);
    return { annotation: r.annotation };
  };

  const done: Run<"call.done"> = async (user, a) => {
    if (!deps.markDone) throw new CommandError("not_supported");
    const r = deps.markDone(user, a.callId, a.user);
    if (!r.ok) throw new CommandError(r.code, r.message);
    return { callId: r.callId, users: r.users, doneAt: r.doneAt };
  };

  const ready: Run<"agent.ready"> = async (user) => {
    if (!deps.agentReady) throw new CommandError("not_supported");
    const r = deps.agentReady(user.userId);
    if (r === null) throw new CommandError("invalid_state", "not in wrap-up");
    return { wrapUp: r };
  };

  const actions: { [A in ActionName]: Run<A> } = {
    dial,
    hangup,
    transfer,
    hold: holdOrResume(true),
    unhold: holdOrResume(false),
    "queue.pause": (user, a) => {
      // ctibridge unpauses members paused for `wrap-up` that no wrap-up of its own owns (wrapUp.ts).
      if (a.reason?.trim().toLowerCase() === "wrap-up") throw new CommandError("invalid_argument", "reason: wrap-up is reserved for after-call work (agents.wrapUp)");
      return pause(user, true, a.queue, a.reason);
    },
    "queue.unpause": (user, a) => pause(user, false, a.queue),
    "queue.login": async (user, a) => send(T.queueAdd({ device: ownDevice(user, a.device), queue: a.queue })),
    "queue.logout": async (user, a) => send(T.queueRemove({ device: ownDevice(user, a.device), queue: a.queue })),
    "call.annotate": annotate,
    "call.done": done,
    "agent.ready": ready,
  };

  async function run(user: CommandUser, cmd: Command): Promise<unknown> {
    const action = cmd.action;
    if (typeof action !== "string" || !Object.hasOwn(actions, action)) throw new CommandError("unknown_action");
    const name = action as ActionName;
    // Annotations, done marks and the end of a wrap-up are no call control.
    if (!config.enabled && name !== "call.annotate" && name !== "call.done" && name !== "agent.ready") throw new CommandError("disabled");
    const parsed = schemas[name].safeParse(cmd.args ?? {});
    if (!parsed.success) throw new CommandError("invalid_argument", describeIssue(parsed.error));
    const kind = BUDGET_OF[name];
    if (kind !== null) charge(user, kind);
    return (actions[name] as Run<ActionName>)(user, parsed.data as ArgsOf<ActionName>);
  }

  return async (user, cmd) => {
    const named = (cmd.args as { callId?: unknown } | null)?.callId;
    const fields = {
      userId: user.userId,
      ...(cmd.connectionId !== undefined ? { connectionId: cmd.connectionId } : {}),
      cmdId: cmd.id,
      action: String(cmd.action).slice(0, 64),
      ...(typeof named === "string" ? { callId: named.slice(0, 64) } : {}),
    };
    try {
      const data = await run(user, cmd);
      const placed = (data as { callId?: unknown } | undefined)?.callId;
      log.info({ ...fields, ...(typeof placed === "string" ? { callId: placed } : {}), ok: true }, "command handled");
      return data === undefined ? { ok: true } : { ok: true, data };
    } catch (err) {
      const e = err instanceof CommandError ? err : new CommandError("internal");
      const withCall = e.callId !== undefined ? { ...fields, callId: e.callId } : fields;
      if (e.code === "internal") log.error({ ...withCall, err }, "command crashed");
      log.info({ ...withCall, ok: false, code: e.code }, "command handled");
      return { ok: false, error: { code: e.code, message: e.message } };
    }
  };
}
