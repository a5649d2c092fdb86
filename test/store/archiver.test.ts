/**
 * The archiver (store/archiver.ts) in front of a real store (SQLite through its CallStore) that
 * fails for a while, as a PostgreSQL server that restarts does: snapshots wait, coalesce per
 * call, go out in order once writes work again, and each call ends up stored once, newest state.
 */
import { describe, expect, it } from "vitest";
import type { Call } from "../../src/calls/model.js";
import { StoreArchiver } from "../../src/store/archiver.js";
import { openDb } from "../../src/store/db.js";
import { SqliteCallStore, type SnapshotVersion } from "../../src/store/index.js";
import { waitFor } from "../helpers/daemon.js";
import { memoryLogger } from "../helpers/fakeAmiServer.js";
import { finalCall } from "../helpers/seedCalls.js";

/** A SQLite store whose writes fail while `down` (the error a lost connection gives). */
class FlakyStore extends SqliteCallStore {
  down = false;
  saved: [string, string, SnapshotVersion][] = [];
  override async save(call: Call, version: SnapshotVersion) {
    if (this.down) throw new Error("Connection terminated unexpectedly");
    this.saved.push([call.callId, call.state, version]);
    return super.save(call, version);
  }
}

describe("StoreArchiver", () => {
  it("keeps what fails, coalesces per call, writes in order once the store is back, nothing doubled", async () => {
    const store = new FlakyStore(openDb(":memory:"));
    const { log, lines } = memoryLogger("info");
    const archiver = new StoreArchiver({ store, log, now: () => Date.parse("2026-03-01T10:00:00.000Z"), retryMs: 5 });
    const ended = await finalCall("06-ringgroup-answered");
    const ringing: Call = { ...structuredClone(ended), state: "ringing", outcome: null, times: { ...ended.times, answered: null, ended: null } };
    const other = { ...structuredClone(ended), callId: "other", linkedIds: ["other-linked"] };

    archiver.save(ringing, "2026-03-01T10:00:01.000Z");
    await archiver.flush();
    store.down = true;
    archiver.save(ended, "2026-03-01T10:00:05.000Z");
    archiver.save(other, "2026-03-01T10:00:06.000Z");
    await waitFor(() => archiver.failingSince !== null, "failing");
    // A newer snapshot of a waiting call replaces it; the call keeps its place.
    archiver.save({ ...ended, recording: "r.wav" }, "2026-03-01T10:00:07.000Z");
    expect(archiver.backlog).toBe(2);
    store.down = false;
    expect(await archiver.flush()).toBe(true);

    expect(store.saved.map(([id, state, v]) => [id, state, v.at, v.seq])).toEqual([
      [ended.callId, "ringing", "2026-03-01T10:00:01.000Z", 1],
      [ended.callId, "ended", "2026-03-01T10:00:07.000Z", 4],
      ["other", "ended", "2026-03-01T10:00:06.000Z", 3],
    ]);
    expect((await store.list()).map((c) => [c.callId, c.state, c.recording])).toEqual([
      ["other", "ended", ended.recording],
      [ended.callId, "ended", "r.wav"],
    ].sort((a, b) => (a[0]! < b[0]! ? 1 : -1)));
    expect(archiver.failingSince).toBeNull();
    expect(lines.filter((l) => l.msg === "call archive write failed, will retry")).toHaveLength(1);
    expect(lines.filter((l) => l.msg === "call archive writes work again")).toHaveLength(1);
    await archiver.stop();
  });

  it("past maxBacklog drops snapshots of calls in progress, never an ended call", async () => {
    const store = new FlakyStore(openDb(":memory:"));
    const { log } = memoryLogger("silent");
    let dropped = 0;
    const archiver = new StoreArchiver({ store, log, now: Date.now, retryMs: 5, maxBacklog: 1, onDrop: () => dropped++ });
    const ended = await finalCall("06-ringgroup-answered");
    store.down = true;
    archiver.save(ended, "2026-03-01T10:00:05.000Z");
    await waitFor(() => archiver.failingSince !== null, "failing");
    archiver.save({ ...structuredClone(ended), callId: "live", linkedIds: ["live-1"], state: "ringing" }, "2026-03-01T10:00:06.000Z");
    archiver.save({ ...structuredClone(ended), callId: "done", linkedIds: ["done-1"] }, "2026-03-01T10:00:07.000Z");
    expect(dropped).toBe(1);
    store.down = false;
    await archiver.flush();
    expect((await store.list()).map((c) => c.callId).sort()).toEqual([ended.callId, "done"].sort());
    await archiver.stop();
  });
});
