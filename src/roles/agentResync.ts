/**
 * Queue members and device states after each login: once the PBX says FullyBooted (a PBX
 * that is still loading app_queue answers "Invalid/unknown command"), then each listing that
 * fails is retried with backoff (`ami.agentListing`), logged once per action. Each listing
 * that succeeds replaces its part of the agent state (members, pauses, device states from
 * before the reconnect do not survive it); agent events that arrive meanwhile wait for it
 * (`hold`). A newer login (or stop) abandons an older resync (its generation). Never throws.
 */
import { backoffDelay, type AmiClient } from "../ami/client.js";
import type { AmiMessage } from "../ami/codec.js";
import type { AgentEvent, AgentTracker } from "../calls/agents.js";
import type { Config } from "../config.js";
import type { Logger } from "../log.js";

export interface AgentResyncDeps {
  agents: Pick<AgentTracker, "handle" | "flush" | "beginResync" | "endResync">;
  listing: () => Config["ami"]["agentListing"];
  /** Bound of the events held while a listing runs (`ami.maxQueuedEvents`). */
  maxQueued: () => number;
  /** Whether this client is still the daemon's PBX link. */
  isCurrent: (client: AmiClient) => boolean;
  toAgentEvent: (msg: AmiMessage) => AgentEvent | null;
  /** After a member listing: wrap-ups past their time end, stray wrap-up pauses are undone. */
  reconcile: () => void;
  log: Logger;
}

type Listing = "QueueStatus" | "DeviceStateList";

export class AgentResync {
  /** Agent events that arrive while an agent listing runs wait for it (the listing is older). */
  private backlog: AgentEvent[] | null = null;
  /** The resync (its generation) that holds the backlog and must release it. */
  private owner = 0;
  /** Bumped on every login and at stop: a resync of an older connection gives up. */
  private gen = 0;

  constructor(private readonly d: AgentResyncDeps) {}

  /** Keep an agent event for after the running listing; false: none runs (or the bound is reached), apply it now. */
  hold(ev: AgentEvent): boolean {
    if (!this.backlog || this.backlog.length >= this.d.maxQueued()) return false;
    this.backlog.push(ev);
    return true;
  }

  stop(): void {
    this.gen++;
  }

  private release(): void {
    const held = this.backlog ?? [];
    this.backlog = null;
    for (const ev of held) this.d.agents.handle(ev);
    this.d.agents.flush();
  }

  async run(client: AmiClient): Promise<void> {
    const { agents, log } = this.d;
    const gen = ++this.gen;
    const cfg = this.d.listing();
    const current = () => gen === this.gen && this.d.isCurrent(client) && client.isConnected;
    if (!(await client.whenBooted(cfg.bootWaitMs))) {
      if (!current()) return;
      log.warn({ waitedMs: cfg.bootWaitMs }, "pbx did not say FullyBooted, listing agent state anyway");
    }
    let todo: Listing[] = ["QueueStatus", "DeviceStateList"];
    const listed = { QueueStatus: false, DeviceStateList: false };
    const warned = new Set<string>();
    for (let attempt = 1; current(); attempt++) {
      this.backlog ??= [];
      this.owner = gen;
      const results = await Promise.allSettled(todo.map((a) => client.action(a, [])));
      if (gen !== this.gen) {
        // A newer login took over; it releases the backlog unless it never got to hold it.
        if (this.owner === gen) this.release();
        return;
      }
      agents.beginResync();
      const failed: Listing[] = [];
      results.forEach((r, i) => {
        const action = todo[i]!;
        if (r.status === "fulfilled") {
          listed[action] = true;
          for (const msg of r.value.events) {
            const ev = this.d.toAgentEvent(msg);
            if (ev) agents.handle(ev);
          }
        } else {
          failed.push(action);
          // Once per action and login: retries are not news. Expected for good on a PBX without
          // app_queue or on Asterisk < 13; the reason is enough, no stack.
          if (!warned.has(action)) log.warn({ action, reason: (r.reason as Error)?.message ?? String(r.reason), retrying: attempt < cfg.attempts }, "agent state listing failed");
          warned.add(action);
        }
      });
      agents.endResync(todo.includes("QueueStatus") && !failed.includes("QueueStatus"), todo.includes("DeviceStateList") && !failed.includes("DeviceStateList"));
      this.release();
      todo = failed;
      if (todo.length === 0 || attempt >= cfg.attempts || !current()) break;
      await new Promise((r) => setTimeout(r, backoffDelay(attempt, cfg.minDelayMs, cfg.maxDelayMs, Math.random)).unref());
    }
    if (gen !== this.gen) return;
    if (listed.QueueStatus) this.d.reconcile();
    log.info({ membersListed: listed.QueueStatus, devicesListed: listed.DeviceStateList }, "agent state resynced");
  }
}
