/**
 * The two CallStore implementations (store/index.ts): the contract over every recorded trace
 * (PostgreSQL must give SQLite's exact transcript), redelivery and reordering, migrations, and a
 * standalone daemon with store.kind postgres end to end (REST, CLI, a PostgreSQL restart). The
 * PostgreSQL part needs the server binaries; without them it says so in one line and skips.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildCli, type CliIo } from "../../src/cli/cli.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { DaemonRig, E2E_USERS, waitFor, type RunningDaemon } from "../helpers/daemon.js";
import { traceBytes } from "../helpers/traces.js";
import { openDb } from "../../src/store/db.js";
import { SqliteCallStore } from "../../src/store/index.js";
import { PG_MIGRATIONS } from "../../src/store/postgres/schema.js";
import { PostgresCallStore } from "../../src/store/postgres/store.js";
import { POSTGRES_MISSING, postgresBin, startPostgres, type PgServer } from "../helpers/postgres.js";
import { runContract, traceSnapshots, type Snap, type Transcript } from "../helpers/storeContract.js";

let snaps: Snap[] = [];
let reference: Transcript = {};

beforeAll(async () => {
  snaps = await traceSnapshots();
  const sqlite = new SqliteCallStore(openDb(":memory:"));
  reference = await runContract(sqlite, snaps);
  await sqlite.close();
}, 60_000);

describe("CallStore contract: SQLite (today's behaviour, the reference)", () => {
  it("stores every call of the recorded traces once, with real reads behind every part of the transcript", () => {
    const ids = new Set(snaps.filter((s) => !s.call.mergedInto).map((s) => s.call.callId));
    const merged = new Set(snaps.filter((s) => s.call.mergedInto).map((s) => s.call.callId));
    expect(reference.count).toBe([...ids].filter((id) => !merged.has(id)).length);
    expect(reference.count).toBeGreaterThan(60);
    expect((reference.pages as string[][]).flat()).toEqual((reference.all as { callId: string }[]).map((c) => c.callId));
    expect(reference.inOrder).toEqual([...(reference.all as { callId: string }[]).map((c) => c.callId)].reverse());
    expect((reference.missedAll as string[]).length).toBeGreaterThan(5);
    expect((reference.queueStats as unknown[]).length).toBeGreaterThan(0);
    expect((reference.pruned as number[]).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(reference.deleted).toBe(1);
    // Traces 25 and the resync ones leave calls open: the restore map is exercised too.
    expect((reference.openIds as unknown[]).length).toBeGreaterThan(0);
  });
});

const bin = postgresBin();
if (!bin) console.log(POSTGRES_MISSING);

describe.skipIf(!bin)("CallStore contract: PostgreSQL against the SQLite reference", () => {
  let pg: PgServer;
  let dbN = 0;
  const stores: PostgresCallStore[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    await pg?.destroy();
  });

  /** A store on a fresh database of the test server. */
  async function freshStore(): Promise<PostgresCallStore> {
    const admin = new PostgresCallStore({ connection: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: "postgres" } });
    const name = `ctib_${++dbN}`;
    await admin.pool.query(`CREATE DATABASE ${name}`);
    await admin.close();
    const store = new PostgresCallStore({ connection: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: name } });
    stores.push(store);
    await store.open();
    return store;
  }

  it("gives the same transcript: rows, REST bodies, paging, missed/open, call-back marks, queue stats, restore map, wrap-ups, retention", async () => {
    const store = await freshStore();
    expect(await runContract(store, snaps)).toEqual(reference);
  });

  it("a redelivered snapshot (every one saved twice, and the whole run again) duplicates nothing", async () => {
    const store = await freshStore();
    const t = await runContract(store, snaps, async (save) => {
      for (let i = 0; i < snaps.length; i++) {
        await save(i);
        await save(i);
      }
      for (let i = 0; i < snaps.length; i++) await save(i);
    });
    expect(t).toEqual(reference);
  });

  it("an older snapshot never overwrites a newer one: each call's snapshots in reverse order store its last", async () => {
    const store = await freshStore();
    // Per call, newest first; calls in their original order (the call-back marks depend on it).
    const byCall = new Map<string, number[]>();
    snaps.forEach((s, i) => byCall.set(s.call.callId, [...(byCall.get(s.call.callId) ?? []), i]));
    const t = await runContract(store, snaps, async (save) => {
      const lastOf = new Map([...byCall].map(([id, is]) => [id, is.at(-1)!]));
      for (let i = 0; i < snaps.length; i++) {
        const id = snaps[i]!.call.callId;
        if (lastOf.get(id) !== i) continue;
        for (const j of [...byCall.get(id)!].reverse()) await save(j);
      }
    });
    expect(t).toEqual(reference);
  });

  it("retention also forgets the tombstones of merged calls older than its cutoff", async () => {
    const store = await freshStore();
    const merged = snaps.filter((s) => s.call.mergedInto);
    expect(merged.length).toBeGreaterThan(0);
    for (const [i, s] of snaps.entries()) await store.save(s.call, { at: s.at, seq: i });
    const count = async () => (await store.pool.query("SELECT count(*)::int AS n FROM merged_calls")).rows[0].n as number;
    expect(await count()).toBe(new Set(merged.map((s) => s.call.callId)).size);
    await store.pruneOldCalls(merged[0]!.at, 200);
    expect(await count()).toBe(new Set(merged.filter((s) => s.at >= merged[0]!.at).map((s) => s.call.callId)).size);
    await store.pruneOldCalls("2100-01-01T00:00:00.000Z", 200);
    expect(await count()).toBe(0);
  });

  it("migrates once when several nodes open the same database at once, and again is a no-op", async () => {
    const first = await freshStore();
    const others = [0, 1, 2].map(() => new PostgresCallStore({ connection: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: `ctib_${dbN}` } }));
    stores.push(...others);
    await Promise.all(others.map((s) => s.open()));
    expect(await first.schemaVersion()).toBe(PG_MIGRATIONS.length);
    const { rows } = await first.pool.query("SELECT count(*)::int AS n FROM ctibridge_migrations");
    expect(rows[0].n).toBe(PG_MIGRATIONS.length);
  });

  it("facts the stream archiver may see twice or out of order: done marks, wrap-ups and annotations end where in-order writes end", async () => {
    // The last snapshot of a missed call, an answered one; the same facts in order and scrambled.
    const last = new Map<string, Snap>();
    for (const sn of snaps) last.set(sn.call.callId, sn);
    const missed = [...last.values()].find((x) => x.call.state === "ended" && x.call.legs.some((l) => l.outcome === "missed" && l.userId))!;
    const answered = [...last.values()].find((x) => x.call.state === "ended" && x.call.legs.some((l) => l.outcome === "answered_by_me" && l.userId))!;
    const missedUser = missed.call.legs.find((l) => l.outcome === "missed" && l.userId)!.userId!;
    const agent = answered.call.legs.find((l) => l.outcome === "answered_by_me")!.userId!;
    const since = answered.call.times.ended!;
    const steps: Record<string, (s: PostgresCallStore) => Promise<unknown>> = {
      saveMissed: (s) => s.save(missed.call, { at: missed.at, seq: 1 }),
      saveAnswered: (s) => s.save(answered.call, { at: answered.at, seq: 2 }),
      done: (s) => s.markOpenDone(missed.call.callId, [missedUser], "2026-03-09T10:00:00.000Z"),
      start: (s) => s.wrapUpStart({ callId: answered.call.callId, userId: agent, since, until: null, paused: [] }),
      end: (s) => s.wrapUpEnd(answered.call.callId, agent, "2026-03-09T10:00:30.000Z", 30, "ready", since),
      note1: (s) => s.annotate(answered.call.callId, { by: agent, at: "2026-03-09T10:00:10.000Z", comment: "one" }, { by: agent, at: "2026-03-09T10:00:10.000Z", comment: "one" }),
      note2: (s) => s.annotate(answered.call.callId, { by: agent, at: "2026-03-09T10:00:20.000Z", disposition: "sale" }, { by: agent, at: "2026-03-09T10:00:20.000Z", comment: "one", disposition: "sale" }),
    };
    const outcome = async (order: string[]) => {
      const store = await freshStore();
      for (const k of order) await steps[k]!(store);
      return {
        missed: (await store.get(missed.call.callId))!.legs.find((l) => l.userId === missedUser),
        answered: await store.get(answered.call.callId),
        notes: await store.annotations(answered.call.callId),
        running: await store.wrapUpsRunning(),
      };
    };
    const inOrder = await outcome(["saveMissed", "saveAnswered", "done", "start", "note1", "note2", "end"]);
    expect(inOrder.missed!.done).toBe(true);
    expect(inOrder.answered!.legs.find((l) => l.userId === agent)!.wrapUpSeconds).toBe(30);
    expect(inOrder.answered!.annotation).toMatchObject({ comment: "one", disposition: "sale" });
    expect(inOrder.notes).toHaveLength(2);
    expect(inOrder.running).toEqual([]);
    // A crash redelivers: each fact again, later ones before earlier ones.
    const scrambled = await outcome(["done", "end", "note2", "saveAnswered", "note1", "start", "saveMissed", "note2", "start", "end", "done", "note1"]);
    expect(scrambled).toEqual(inOrder);
    // Every fact once, each before what it follows.
    expect(await outcome(["note2", "note1", "end", "done", "saveAnswered", "start", "saveMissed"])).toEqual(inOrder);
  });
});

describe.skipIf(!bin)("standalone with store.kind postgres", () => {
  let pg: PgServer;
  const rig = new DaemonRig();
  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterEach(() => rig.close());
  afterAll(async () => {
    await pg?.destroy();
  });

  const trace = (name: string) => stripTracePreamble(traceBytes(name));
  const pgStore = (database: string) => ({ kind: "postgres", postgres: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database } });

  async function createDatabase(name: string): Promise<void> {
    const admin = new PostgresCallStore({ connection: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: "postgres" } });
    await admin.pool.query(`CREATE DATABASE ${name}`);
    await admin.close();
  }

  async function rest(d: RunningDaemon, who: string, method: string, path: string): Promise<{ status: number; json: any }> {
    const headers: Record<string, string> = { Authorization: `Bearer ${d.token(who)}` };
    if (method === "POST") headers["Content-Type"] = "application/json";
    const res = await fetch(`http://127.0.0.1:${d.port}${path}`, { method, headers, ...(method === "POST" ? { body: "{}" } : {}) });
    return { status: res.status, json: await res.json().catch(() => null) };
  }

  /** `ctibridge calls …` against a config file naming the server; the password from CTIBRIDGE_STORE_PASSWORD. */
  async function cli(database: string, args: string[]): Promise<{ out: string; err: string; code: number }> {
    const cfg = join(mkdtempSync(join(tmpdir(), "ctib-pgcli-")), "c.yaml");
    writeFileSync(cfg, `store:\n  kind: postgres\n  postgres: { host: "${pg.host}", port: ${pg.port}, user: ${pg.user}, database: ${database} }\nlog: { level: silent }\n`);
    let out = "";
    let err = "";
    let code = 0;
    const io: CliIo = {
      env: { CTIBRIDGE_STORE_PASSWORD: pg.password },
      out: (t) => void (out += t),
      err: (t) => void (err += t),
      isTTY: false,
      onSignal: () => undefined,
      exit: (c) => {
        code = c;
        throw new Error(`exit ${c}`);
      },
    };
    await buildCli(io)
      .parseAsync(["node", "ctibridge", ...args, "--config", cfg])
      .catch((e: Error) => {
        if (!e.message.startsWith("exit")) throw e;
      });
    return { out, err, code };
  }

  /** The record store holds what the daemon's SQLite log holds (rows as REST maps them). */
  async function archived(d: RunningDaemon): Promise<void> {
    await waitFor(async () => JSON.stringify(await d.daemon.callStore.list({ limit: 1000 })) === JSON.stringify(d.daemon.callLog.list({ limit: 1000 })), "archive caught up");
  }

  it("archives every call to PostgreSQL; REST history, the missed list, done marks and `ctibridge calls` read it", async () => {
    await createDatabase("e2e_a");
    const d = await rig.start({ users: E2E_USERS, store: pgStore("e2e_a") });
    expect(d.daemon.callStore.kind).toBe("postgres");
    for (const t of ["03-inbound-missed-caller-abandon", "07-queue-support-answered", "11-outbound-answered", "06-ringgroup-answered"]) await d.replay(trace(t));
    await archived(d);
    const stored = await d.daemon.callStore.list({ limit: 1000 });
    expect(stored.map((c) => [c.direction, c.outcome])).toEqual([
      ["inbound", "answered"],
      ["outbound", "answered"],
      ["inbound", "answered"],
      ["inbound", "abandoned"],
    ]);
    // REST reads the record store: the supervisor sees all four, alice her missed call.
    const all = await rest(d, "sam", "GET", "/api/calls");
    expect(all.status).toBe(200);
    expect(all.json.calls.map((c: { callId: string }) => c.callId)).toEqual(stored.map((c) => c.callId));
    const missed = await rest(d, "alice", "GET", "/api/calls?missed=1");
    expect(missed.json.calls.map((c: { callId: string }) => c.callId)).toEqual([stored[3]!.callId]);
    // Marked done over REST: SQLite and PostgreSQL both have it; the open list is empty.
    expect((await rest(d, "alice", "POST", `/api/calls/${stored[3]!.callId}/done`)).status).toBe(200);
    await archived(d);
    expect((await rest(d, "alice", "GET", "/api/calls?missed=1&open=1")).json.calls).toEqual([]);
    // The CLI reads the server with the password from the environment, as the daemon's REST does.
    const listed = await cli("e2e_a", ["calls", "--json"]);
    expect(listed.code).toBe(0);
    expect(listed.out.trim().split("\n").map((l) => JSON.parse(l))).toEqual(await d.daemon.callStore.list({ limit: 100 }));
    const open = await cli("e2e_a", ["calls", "--missed", "--open", "--user", "alice"]);
    expect(open.out).toBe("");
  });

  it("a PostgreSQL restart: /healthz says the archive fails, then it catches up with nothing lost or doubled", async () => {
    await createDatabase("e2e_b");
    const d = await rig.start({ users: E2E_USERS, store: pgStore("e2e_b") });
    await d.replay(trace("03-inbound-missed-caller-abandon"));
    await archived(d);
    await pg.stop();
    await d.replay(trace("07-queue-support-answered"));
    await d.replay(trace("11-outbound-answered"));
    const failing = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${d.port}/healthz`);
      const body = (await res.json()) as { archive?: string };
      return res.status === 503 && body.archive?.startsWith("write failing since") && body;
    }, "archive failing");
    expect(failing).toMatchObject({ status: "failing", store: "ok", pbx: "connected" });
    await pg.restart();
    await archived(d);
    const res = await fetch(`http://127.0.0.1:${d.port}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", archive: "ok" });
    const admin = new PostgresCallStore({ connection: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: "e2e_b" } });
    const { rows } = await admin.pool.query("SELECT (SELECT count(*)::int FROM calls) AS calls, (SELECT count(*)::int FROM legs) AS legs, (SELECT count(*)::int FROM open_calls) AS open");
    await admin.close();
    const sqlite = d.daemon.callLog.list({ limit: 100 });
    expect(rows[0]).toEqual({ calls: 3, legs: sqlite.reduce((n, c) => n + c.legs.length, 0), open: 0 });
  });

  it("a server that cannot be reached stops the start with one line naming it", async () => {
    const port = pg.port;
    await expect(rig.start({ users: E2E_USERS, noWait: true, store: { kind: "postgres", postgres: { host: "127.0.0.1", port: port === 65535 ? 1 : port + 1, user: "x", database: "x", connectTimeoutMs: 2000 } } })).rejects.toThrow(
      new RegExp(`^store: postgres x@127\\.0\\.0\\.1:${port === 65535 ? 1 : port + 1}/x \\(ssl off\\) cannot be opened: `),
    );
  });
});
