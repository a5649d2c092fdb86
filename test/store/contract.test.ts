import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/store/db.js";
import { SqliteCallStore } from "../../src/store/index.js";
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

  it("migrates once when several nodes open the same database at once, and again is a no-op", async () => {
    const first = await freshStore();
    const others = [0, 1, 2].map(() => new PostgresCallStore({ connection: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: `ctib_${dbN}` } }));
    stores.push(...others);
    await Promise.all(others.map((s) => s.open()));
    expect(await first.schemaVersion()).toBe(1);
    const { rows } = await first.pool.query("SELECT count(*)::int AS n FROM ctibridge_migrations");
    expect(rows[0].n).toBe(1);
  });
});
