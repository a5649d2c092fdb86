/**
 * `ctibridge webhooks list|retry|purge` (docs/webhooks.md): the outbox, read and changed
 * through SQLite while the daemon runs (WAL; a running daemon sees a retried row within 5 s).
 */
import { Option, type Command } from "commander";
import type { CliIo, ConfigOpts } from "./cli.js";
import type { DataCommandHelpers } from "./cliData.js";
import { Outbox, OUTBOX_STATES, type OutboxRow, type OutboxState } from "../store/outbox.js";

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
  const webhooks = program.command("webhooks").description("the webhook outbox: list events, send dead ones again, purge delivered ones");

  withConfig(webhooks.command("list").description("outbox events, newest first"))
    .addOption(new Option("--state <state>", "only events in this state").choices([...OUTBOX_STATES]))
    .option("--webhook <name>", "only events for this target")
    .option("--limit <n>", "at most this many", (v) => Number(v), 100)
    .option("--json", "one JSON object per line (the payload as sent)")
    .action((o: ConfigOpts & { state?: OutboxState; webhook?: string; limit: number; json?: boolean }) => {
      const c = config(o);
      if (!Number.isInteger(o.limit) || o.limit < 1) {
        io.err("ctibridge: --limit: expected a positive whole number\n");
        return io.exit(1);
      }
      const db = h.db(c);
      try {
        const box = new Outbox(db);
        for (const r of box.list({ state: o.state, target: o.webhook, limit: o.limit })) {
          io.out((o.json ? JSON.stringify({ ...r, payload: JSON.parse(r.payload) }) : formatRow(r)) + "\n");
        }
        const n = box.counts();
        io.err(`pending ${n.pending}, failed ${n.failed}, delivered ${n.delivered}, dead ${n.dead}\n`);
      } finally {
        db.close();
      }
    });

  withConfig(webhooks.command("retry [ids...]").description("send failed or dead events again from now (attempts and the retry period start over)"))
    .option("--dead", "every dead event")
    .action((ids: string[], o: ConfigOpts & { dead?: boolean }) => {
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
      const db = h.db(c);
      try {
        const box = new Outbox(db);
        const now = new Date().toISOString();
        const n = o.dead ? box.retry(now, { dead: true }) : box.retry(now, { ids: ids.map(Number) });
        io.out(`${n} events will be sent again\n`);
        if (!o.dead && n < ids.length) io.err(`${ids.length - n} of the ids named are not failed or dead events (delivered, pending, or no such id)\n`);
      } finally {
        db.close();
      }
    });

  withConfig(webhooks.command("purge").description("delete delivered (default), dead or open events"))
    .option("--delivered", "delivered events (the default when no state is named)")
    .option("--dead", "dead events (given up on: their data is lost to the receiver)")
    .option("--open", "pending and failed events too (with --webhook: a target no longer configured; they are never sent)")
    .option("--webhook <name>", "only events for this target")
    .option("--older-than <age>", "only those finished (or, open, created) more than this long ago: 30d, 12h, 90m, 45s")
    .action((o: ConfigOpts & { delivered?: boolean; dead?: boolean; open?: boolean; webhook?: string; olderThan?: string }) => {
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
      const db = h.db(c);
      try {
        const n = new Outbox(db).purge(states, new Date(Date.now() - age).toISOString(), undefined, o.webhook);
        io.out(`purged ${n} ${states.join(", ")} events${o.webhook ? ` of ${o.webhook}` : ""}\n`);
      } finally {
        db.close();
      }
    });
}
