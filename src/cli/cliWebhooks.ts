/**
 * `ctibridge webhooks list|retry|purge` (docs/webhooks.md): the outbox, read and changed while
 * the daemon runs: SQLite's (WAL; a running daemon sees a retried row within 5 s), or in cluster
 * mode with store.kind postgres the cluster's PostgreSQL outbox (the delivering gateway sees a
 * retried row within 5 s).
 */
import { Option, type Command } from "commander";
import type { CliIo, ConfigOpts } from "./cli.js";
import type { DataCommandHelpers } from "./cliData.js";
import type { Config } from "../config.js";
import { Outbox, OUTBOX_STATES, type OutboxAdmin, type OutboxRow, type OutboxState } from "../store/outbox.js";
import { describeStore, postgresStore } from "../store/open.js";
import { PgOutbox } from "../store/postgres/outbox.js";

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30d`, `12h`, `90m`, `45s` → milliseconds; null when not such a duration. */
export function parseAge(text: string): number | null {
  const m = /^(\d+)([smhd])$/.exec(text.trim());
  return m ? Number(m[1]) * UNITS[m[2]!]! : null;
}

function formatRow(r: OutboxRow): string {
  const when = r.state === "delivered" ? `delivered ${r.deliveredAt}` : r.state === "dead" ? `dead since ${r.lastAttemptAt}` : `next ${r.nextAt}`;
  const err = r.lastError ? `  ${r.lastStatus ?? ""}${r.lastStatus ? " " : ""}${r.lastError}` : "";
  return `${r.id}  ${r.state.padEnd(9)} ${String(r.attempts).padStart(3)}  ${r.target}  ${r.type.padEnd(16)} ${r.callId}  ${r.eventId}  ${when}${err}`;
}

export function addWebhookCommands(program: Command, io: CliIo, h: DataCommandHelpers): void {
  const { withConfig, config } = h;
  /** Run `fn` on the configured outbox: a cluster's PostgreSQL one, else the SQLite file's. False when it cannot be opened (said on stderr). */
  async function withOutbox(c: Config, fn: (box: OutboxAdmin) => Promise<void> | void): Promise<boolean> {
    if (c.mode === "cluster" && c.store.kind === "postgres") {
      const store = postgresStore(c);
      try {
        try {
          await store.open();
        } catch (err) {
          io.err(`ctibridge: store: ${describeStore(c, "")} cannot be read: ${String((err as Error)?.message ?? err).split("\n")[0]}\n`);
          return false;
        }
        await fn(new PgOutbox(store.pool));
        return true;
      } finally {
        await store.close().catch(() => undefined);
      }
    }
    const db = h.db(c);
    try {
      await fn(new Outbox(db));
      return true;
    } finally {
      db.close();
    }
  }
  const webhooks = program.command("webhooks").description("the webhook outbox: list events, send dead ones again, purge delivered ones");

  withConfig(webhooks.command("list").description("outbox events, newest first"))
    .addOption(new Option("--state <state>", "only events in this state").choices([...OUTBOX_STATES]))
    .option("--webhook <name>", "only events for this target")
    .option("--limit <n>", "at most this many", (v) => Number(v), 100)
    .option("--json", "one JSON object per line (the payload as sent)")
    .action(async (o: ConfigOpts & { state?: OutboxState; webhook?: string; limit: number; json?: boolean }) => {
      const c = config(o);
      if (!Number.isInteger(o.limit) || o.limit < 1) {
        io.err("ctibridge: --limit: expected a positive whole number\n");
        return io.exit(1);
      }
      const ok = await withOutbox(c, async (box) => {
        for (const r of await box.list({ state: o.state, target: o.webhook, limit: o.limit })) {
          io.out((o.json ? JSON.stringify({ ...r, payload: JSON.parse(r.payload) }) : formatRow(r)) + "\n");
        }
        const n = await box.counts();
        io.err(`pending ${n.pending}, failed ${n.failed}, delivered ${n.delivered}, dead ${n.dead}\n`);
      });
      if (!ok) io.exit(1);
    });

  withConfig(webhooks.command("retry [ids...]").description("send failed or dead events again from now (attempts and the retry period start over)"))
    .option("--dead", "every dead event")
    .action(async (ids: string[], o: ConfigOpts & { dead?: boolean }) => {
      const c = config(o);
      if (!o.dead && ids.length === 0) {
        io.err("ctibridge: webhooks retry: name outbox ids (from `webhooks list`) or --dead\n");
        return io.exit(1);
      }
      const bad = ids.filter((i) => !/^[1-9][0-9]*$/.test(i));
      if (bad.length > 0) {
        io.err(`ctibridge: webhooks retry: not an outbox id: ${bad.join(", ")}\n`);
        return io.exit(1);
      }
      const ok = await withOutbox(c, async (box) => {
        const now = new Date().toISOString();
        const n = await (o.dead ? box.retry(now, { dead: true }) : box.retry(now, { ids: ids.map(Number) }));
        io.out(`${n} events will be sent again\n`);
        if (!o.dead && n < ids.length) io.err(`${ids.length - n} of the ids named are not failed or dead events (delivered, pending, or no such id)\n`);
      });
      if (!ok) io.exit(1);
    });

  withConfig(webhooks.command("purge").description("delete delivered (default), dead or open events"))
    .option("--delivered", "delivered events (the default when no state is named)")
    .option("--dead", "dead events (given up on: their data is lost to the receiver)")
    .option("--open", "pending and failed events too (with --webhook: a target no longer configured; they are never sent)")
    .option("--webhook <name>", "only events for this target")
    .option("--older-than <age>", "only those finished (or, open, created) more than this long ago: 30d, 12h, 90m, 45s")
    .action(async (o: ConfigOpts & { delivered?: boolean; dead?: boolean; open?: boolean; webhook?: string; olderThan?: string }) => {
      const c = config(o);
      let age = 0;
      if (o.olderThan !== undefined) {
        const ms = parseAge(o.olderThan);
        if (ms === null) {
          io.err(`ctibridge: --older-than: expected a duration such as 30d, 12h, 90m or 45s, not ${o.olderThan}\n`);
          return io.exit(1);
        }
        age = ms;
      }
      if (o.open && o.webhook === undefined) {
        io.err("ctibridge: --open needs --webhook NAME (open events of a configured target are still to be sent)\n");
        return io.exit(1);
      }
      const states: OutboxState[] = [];
      if (o.delivered || (!o.dead && !o.open)) states.push("delivered");
      if (o.dead) states.push("dead");
      if (o.open) states.push("pending", "failed");
      const ok = await withOutbox(c, async (box) => {
        const n = await box.purge(states, new Date(Date.now() - age).toISOString(), undefined, o.webhook);
        io.out(`purged ${n} ${states.join(", ")} events${o.webhook ? ` of ${o.webhook}` : ""}\n`);
      });
      if (!ok) io.exit(1);
    });
}
