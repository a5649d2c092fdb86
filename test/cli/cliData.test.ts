/** The data lifecycle commands through the CLI (issue 9): backup, export, forget; retention in the daemon. */
import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cliRun.js";
import { CallLog } from "../../src/store/callLog.js";
import { CSV_COLUMNS, csvField } from "../../src/store/export.js";
import { openDb } from "../../src/store/db.js";
import { DaemonRig, trace01Halves, waitFor } from "../helpers/daemon.js";
import { finalCall, seedCalls } from "../helpers/seedCalls.js";

const run = runCli;

const dir = () => mkdtempSync(join(tmpdir(), "ctib-data-"));
function configFor(dbPath: string): string {
  const f = join(dir(), "c.yaml");
  writeFileSync(f, `store: { path: ${dbPath} }\nlog: { level: silent }\n`);
  return f;
}

const rig = new DaemonRig();
afterEach(() => rig.close());

describe("ctibridge backup", () => {
  it("copies the live database while the daemon runs: consistent, every call, 0600, one self-contained file", async () => {
    const d = await rig.start();
    seedCalls(d.daemon.db, await finalCall("06-ringgroup-answered"), Array.from({ length: 50 }, (_, i) => new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString()));
    await d.replay(trace01Halves()[0]); // a call in progress, written by the daemon
    await waitFor(() => d.daemon.callLog.openCallIds().size > 0, "the open call stored");
    const out = join(dir(), "backup.db");
    const r = await run(["backup", "--config", configFor(d.dbPath), "--out", out]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^backed up \d+ pages to /);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const copy = new Database(out, { readonly: true });
    expect(copy.pragma("integrity_check", { simple: true })).toBe("ok");
    expect(copy.pragma("journal_mode", { simple: true })).toBe("delete");
    const live = (sql: string) => d.daemon.db.prepare(sql).pluck().get();
    for (const sql of ["SELECT count(*) FROM calls", "SELECT count(*) FROM legs", "SELECT count(*) FROM open_calls", "SELECT count(*) FROM call_annotations"]) {
      expect(copy.prepare(sql).pluck().get(), sql).toBe(live(sql));
    }
    copy.close();
    // Never over an existing file.
    const again = await run(["backup", "--config", configFor(d.dbPath), "--out", out]);
    expect(again.code).toBe(1);
    expect(again.err).toBe(`ctibridge: --out ${out}: exists; choose another name or remove it\n`);
  });
});

describe("ctibridge export", () => {
  async function seeded() {
    const dbPath = join(dir(), "c.db");
    const db = openDb(dbPath);
    const base = await finalCall("06-ringgroup-answered");
    const starts = Array.from({ length: 1203 }, (_, i) => new Date(Date.UTC(2026, 0, 1) + i * 3_600_000).toISOString());
    seedCalls(db, base, starts);
    const one = new CallLog(db).get("c-1200")!;
    db.close();
    return { cfg: configFor(dbPath), starts, one };
  }

  it("jsonl: every call since a date in start order, in the REST call shape, across pages", async () => {
    const { cfg, starts, one } = await seeded();
    const r = await run(["export", "--config", cfg, "--since", starts[3]!, "--format", "jsonl"]);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1200);
    expect(lines.map((c) => c.times.started)).toEqual(starts.slice(3));
    expect(lines.find((c) => c.callId === "c-1200")).toEqual({ ...JSON.parse(JSON.stringify(one)), popUrl: null });
    expect(r.err).toBe("exported 1200 calls\n");
  });

  it("csv: the documented columns, one row per call, --until excludes, quoting and formula guard", async () => {
    const { cfg, starts } = await seeded();
    const r = await run(["export", "--config", cfg, "--since", starts[0]!, "--until", starts[2]!, "--format", "csv"]);
    const rows = r.out.trim().split("\n");
    expect(rows[0]).toBe(CSV_COLUMNS.join(","));
    expect(rows).toHaveLength(3);
    const cells = rows[1]!.split(",");
    expect(Object.fromEntries(CSV_COLUMNS.map((k, i) => [k, cells[i]]))).toMatchObject({
      call_id: "c-0",
      started: starts[0],
      direction: "inbound",
      outcome: "answered",
      from: "+4930123456",
      from_e164: "+4930123456",
      answered_by_user: "bob",
      users: "alice;bob;carol",
      missed_by: "",
    });
    expect((await run(["export", "--config", cfg, "--since", "yesterday-ish"])).code).toBe(1);
    expect(["=HYPERLINK(1)", "@x", "+cmd", "-1+2", "+49 30 123456", "-5", 'say "hi", ok', null].map(csvField)).toEqual([
      "'=HYPERLINK(1)",
      "'@x",
      "'+cmd",
      "'-1+2",
      "+49 30 123456",
      "-5",
      '"say ""hi"", ok"',
      "",
    ]);
  });

  it("--out writes the file 0600", async () => {
    const { cfg } = await seeded();
    const out = join(dir(), "calls.jsonl");
    const r = await run(["export", "--config", cfg, "--out", out]);
    expect(r.out).toBe("");
    expect(readFileSync(out, "utf8").trim().split("\n")).toHaveLength(1203);
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });
});

describe("ctibridge forget", () => {
  it("deletes every call from or to the number (any spelling) with legs and annotations, and the contact entries holding it", async () => {
    const dbPath = join(dir(), "c.db");
    const db = openDb(dbPath);
    seedCalls(db, await finalCall("06-ringgroup-answered"), ["2026-01-01T10:00:00.000Z", "2026-01-02T10:00:00.000Z"], "in"); // from +4930123456
    seedCalls(db, await finalCall("12-outbound-no-answer"), ["2026-01-03T10:00:00.000Z"], "out");
    db.close();
    const cfg = configFor(dbPath);
    const csv = join(dir(), "c.csv");
    writeFileSync(csv, "name,company,numbers\nMax,Acme,+49 30 123456\nErika,Beispiel,030 123456;030 9876543\nOther,X,089 1234567\n");
    expect((await run(["contacts", "import", csv, "--config", cfg])).code).toBe(0);
    const outNumber = new CallLog(openDb(dbPath)).get("out-0")!.to.raw;

    const r = await run(["forget", "030 123456", "--config", cfg]);
    expect(r.code).toBe(0);
    expect(r.out).toBe("forgot 030 123456: 2 calls, 2 contact numbers, 1 contacts deleted\n");
    const after = openDb(dbPath);
    const q = (sql: string) => after.prepare(sql).pluck().all();
    expect(q("SELECT call_id FROM calls")).toEqual(["out-0"]);
    expect(q("SELECT DISTINCT call_id FROM legs")).toEqual(["out-0"]);
    expect(q("SELECT call_id FROM call_annotations")).toEqual(["out-0"]);
    expect(q("SELECT name FROM contacts ORDER BY name")).toEqual(["Erika", "Other"]);
    expect(q("SELECT raw FROM contact_numbers ORDER BY raw")).toEqual(["030 9876543", "089 1234567"]);
    expect(JSON.stringify(q("SELECT * FROM calls"))).not.toContain("123456\"");
    after.close();
    expect((await run(["forget", outNumber, "--config", cfg])).out).toMatch(/: 1 calls/);
    expect((await run(["forget", "nobody", "--config", cfg])).code).toBe(1);
  });
});

describe("calls.retentionDays in the daemon", () => {
  it("prunes calls past the retention from the running daemon's store, off the hot path", async () => {
    const dbPath = join(dir(), "c.db");
    const db = openDb(dbPath);
    const base = await finalCall("01-inbound-answered");
    seedCalls(db, base, ["2020-01-01T00:00:00.000Z", "2020-01-02T00:00:00.000Z"], "ancient");
    seedCalls(db, base, [new Date().toISOString()], "recent");
    db.close();
    const d = await rig.start({ dbPath, calls: { retentionDays: 30 } });
    await waitFor(() => d.logs.find((l) => l.msg === "old calls pruned"), "the first sweep", 300);
    expect(d.daemon.db.prepare("SELECT call_id FROM calls").pluck().all()).toEqual(["recent-0"]);
    expect(d.logs.find((l) => l.msg === "old calls pruned")).toMatchObject({ calls: 2, retentionDays: 30 });
    expect(existsSync(dbPath)).toBe(true);
  });
});

describe("forget leaves no trace in the database file", () => {
  it("the erased number's bytes are not in the file or its WAL afterwards", async () => {
    const dbPath = join(dir(), "c.db");
    const db = openDb(dbPath);
    seedCalls(db, await finalCall("06-ringgroup-answered"), Array.from({ length: 20 }, (_, i) => new Date(Date.UTC(2026, 0, 1, i)).toISOString()));
    db.close();
    const cfg = configFor(dbPath);
    expect(readFileSync(dbPath).includes("4930123456")).toBe(true);
    expect((await run(["forget", "+4930123456", "--config", cfg])).out).toMatch(/: 20 calls/);
    for (const f of [dbPath, `${dbPath}-wal`]) if (existsSync(f)) expect(readFileSync(f).includes("4930123456"), f).toBe(false);
  });
});
