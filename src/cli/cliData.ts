/**
 * The data lifecycle commands (docs/data.md): `backup` (SQLite online backup of the live
 * database), `export` (reporting: jsonl in the REST call shape, or flat csv; paged, never all
 * rows in memory), `forget NUMBER` (erase one number). Retention runs inside the daemon
 * (store/retention.ts).
 */
import { chmodSync, closeSync, openSync, writeSync } from "node:fs";
import Database from "better-sqlite3";
import { Option, type Command } from "commander";
import type { CliIo, ConfigOpts } from "./cli.js";
import type { Config } from "../config.js";
import { toCallSnapshot } from "../publish/protocol.js";
import { callsInOrder } from "../store/callLog.js";
import type { Db } from "../store/db.js";
import { CSV_COLUMNS, csvRow } from "../store/export.js";
import { forgetNumber, numberForms } from "../store/forget.js";
import { describeStore, postgresStore } from "../store/open.js";
import { JetStreamBus, STREAM } from "../bus/jetstream.js";
import { token } from "../bus/entry.js";
import { createLogger } from "../log.js";

export interface DataCommandHelpers {
  withConfig: (cmd: Command) => Command;
  config: (o: ConfigOpts) => Config;
  db: (c: Config) => Db;
}

export function addDataCommands(program: Command, io: CliIo, h: DataCommandHelpers): void {
  const { withConfig, config } = h;
  const dbOf = h.db;
  withConfig(program.command("backup").description("a consistent copy of the live database (SQLite online backup; safe while the daemon runs)"))
    .requiredOption("-o, --out <file>", "the copy (created 0600; never overwrites)")
    .action(async (o: ConfigOpts & { out: string }) => {
      const c = config(o);
      let fd: number;
      try {
        fd = openSync(o.out, "wx", 0o600);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        io.err(`ctibridge: --out ${o.out}: ${code === "EEXIST" ? "exists; choose another name or remove it" : `cannot be created (${code})`}\n`);
        return io.exit(1);
      }
      closeSync(fd);
      const db = dbOf(c);
      try {
        const r = await db.backup(o.out);
        // A self-contained file: no -wal/-shm beside it when it is opened or copied on.
        const copy = new Database(o.out);
        copy.pragma("journal_mode = DELETE");
        copy.close();
        chmodSync(o.out, 0o600);
        io.out(`backed up ${r.totalPages} pages to ${o.out}\n`);
      } catch (err) {
        io.err(`ctibridge: backup to ${o.out} failed: ${(err as Error).message}\n`);
        io.exit(1);
      } finally {
        db.close();
      }
    });

  withConfig(program.command("export").description("stored calls for reporting: jsonl (the REST call shape) or csv (docs/data.md)"))
    .option("--since <date>", "calls started at or after (ISO date or time)")
    .option("--until <date>", "calls started before (ISO date or time)")
    .addOption(new Option("--format <format>", "output format").choices(["jsonl", "csv"]).default("jsonl"))
    .option("-o, --out <file>", "write to this file (created 0600) instead of stdout")
    .action(async (o: ConfigOpts & { since?: string; until?: string; format: "jsonl" | "csv"; out?: string }) => {
      const c = config(o);
      const bounds: { since?: string; until?: string } = {};
      for (const k of ["since", "until"] as const) {
        const v = o[k];
        if (v === undefined) continue;
        if (Number.isNaN(Date.parse(v))) {
          io.err(`ctibridge: --${k}: not a date: ${v}\n`);
          return io.exit(1);
        }
        bounds[k] = new Date(v).toISOString();
      }
      let fd: number | null = null;
      if (o.out !== undefined) {
        try {
          fd = openSync(o.out, "w", 0o600);
        } catch (err) {
          io.err(`ctibridge: --out ${o.out}: cannot be created (${(err as NodeJS.ErrnoException).code})\n`);
          return io.exit(1);
        }
      }
      const write = fd === null ? io.out : (t: string) => void writeSync(fd, t);
      const line = (call: Parameters<typeof csvRow>[0]) => write((o.format === "csv" ? csvRow(call) : JSON.stringify(toCallSnapshot(call, c.pop.urlTemplate))) + "\n");
      let n = 0;
      if (o.format === "csv") write(CSV_COLUMNS.join(",") + "\n");
      // The call log of record: PostgreSQL when store.kind says so (a cluster's gateways), else SQLite.
      if (c.store.kind === "postgres") {
        const store = postgresStore(c);
        try {
          for await (const call of store.inOrder(bounds)) {
            line(call);
            n++;
          }
        } catch (err) {
          io.err(`ctibridge: export from ${describeStore(c, "")} failed: ${(err as Error).message}\n`);
          return io.exit(1);
        } finally {
          await store.close();
          if (fd !== null) closeSync(fd);
        }
        return void io.err(`exported ${n} calls\n`);
      }
      const db = dbOf(c);
      try {
        for (const call of callsInOrder(db, bounds)) {
          line(call);
          n++;
        }
      } finally {
        db.close();
        if (fd !== null) closeSync(fd);
      }
      io.err(`exported ${n} calls\n`);
    });

  withConfig(program.command("forget <number>").description("erase one phone number: its calls (with legs and annotations) and contact entries (docs/data.md)"))
    .action(async (number: string, o: ConfigOpts) => {
      const c = config(o);
      if (!/[0-9]/.test(number)) {
        io.err(`ctibridge: forget: not a phone number: ${number}\n`);
        return io.exit(1);
      }
      const db = dbOf(c);
      let r: ReturnType<typeof forgetNumber>;
      try {
        r = forgetNumber(db, number, c.numbers);
      } finally {
        db.close();
      }
      // The call log of record on PostgreSQL, and in a cluster the stream's copies of those calls.
      if (c.store.kind === "postgres") {
        const store = postgresStore(c);
        try {
          const calls = await store.callsOfNumber(numberForms(number, c.numbers));
          r.calls += await store.deleteCalls(calls.map((x) => x.callId));
          if (c.mode === "cluster" && calls.length > 0) {
            const purged = await purgeStreamCalls(c, calls);
            io.out(`purged ${purged} stream messages of those calls\n`);
          }
        } catch (err) {
          io.err(`ctibridge: forget in ${describeStore(c, "")} failed: ${(err as Error).message}\n`);
          return io.exit(1);
        } finally {
          await store.close();
        }
      }
      io.out(`forgot ${number}: ${r.calls} calls, ${r.contactNumbers} contact numbers, ${r.contacts} contacts deleted\n`);
    });
}

/** Purge every stream message of these calls (subject `cti.<pbxId>.call.<callId>`); how many. */
async function purgeStreamCalls(c: Config, calls: readonly { callId: string; pbxId: string | null }[]): Promise<number> {
  const bus = await JetStreamBus.fromConfig(c.cluster, "ctibridge-cli-forget", createLogger({ level: "warn" }));
  try {
    let n = 0;
    for (const { callId, pbxId } of calls) n += (await bus.jsm.streams.purge(STREAM, { filter: `cti.${pbxId === null ? "*" : token(pbxId)}.call.${token(callId)}` })).purged;
    return n;
  } finally {
    await bus.close();
  }
}
