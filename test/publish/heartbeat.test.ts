import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.js";
import { openDb } from "../../src/store/db.js";
import { createApiToken, revokeApiToken, verifyApiToken } from "../../src/publish/apiTokens.js";
import { isApiTokenLive } from "../../src/publish/apiTokens.js";
import type { Authenticator } from "../../src/publish/auth.js";
import type { Connection } from "../../src/publish/connection.js";
import { heartbeatSlices, heartbeatTick } from "../../src/publish/liveness.js";

/** The parts of a Connection a heartbeat touches, recording what it did. */
function fakeConn(slot: number, log: string[]): Connection {
  const c = {
    id: `c${slot}`,
    userId: "alice",
    auth: { userId: "alice", role: "agent", expiresAt: null, tokenId: null },
    alive: true,
    closed: false,
    heartbeatSlot: slot,
    ws: { ping: () => log.push(`ping ${slot}`), terminate: () => log.push(`terminate ${slot}`) },
    queue: { pump: () => undefined },
    close: () => log.push(`close ${slot}`),
  };
  return c as unknown as Connection;
}

const auth = { refresh: () => undefined, stillValid: () => true } as unknown as Authenticator;
const log = createLogger({ level: "silent" });

describe("heartbeat in slices (issue 12)", () => {
  it("spreads the default 30 s interval over 300 slices of 100 ms; short intervals stay one round", () => {
    expect(heartbeatSlices(30_000)).toBe(300);
    expect(heartbeatSlices(120_000)).toBe(300);
    expect(heartbeatSlices(1_000)).toBe(10);
    expect(heartbeatSlices(50)).toBe(1);
  });

  it("pings each client once per interval, in its own slice, and drops it one interval after an unanswered ping", () => {
    const events: string[] = [];
    const conns = [0, 1, 2, 3, 4, 5].map((slot) => fakeConn(slot, events));
    for (let slice = 0; slice < 3; slice++) heartbeatTick(conns, auth, log, 3, slice);
    expect(events).toEqual(["ping 0", "ping 3", "ping 1", "ping 4", "ping 2", "ping 5"]);
    events.length = 0;
    conns[4]!.alive = true; // only client 4 answered its ping
    for (let slice = 0; slice < 3; slice++) heartbeatTick(conns, auth, log, 3, slice);
    expect(events).toEqual(["terminate 0", "terminate 3", "terminate 1", "ping 4", "terminate 2", "terminate 5"]);
  });

  it("one slice is the whole round, as before", () => {
    const events: string[] = [];
    heartbeatTick([7, 8].map((slot) => fakeConn(slot, events)), auth, log);
    expect(events).toEqual(["ping 7", "ping 8"]);
  });
});

describe("session statements prepared once per database (issue 12)", () => {
  it("verifies and re-checks keys without preparing SQL again, and still sees a revocation", () => {
    const db = openDb(":memory:");
    const { id, token } = createApiToken(db, "alice", "agent");
    expect(verifyApiToken(db, token)?.id).toBe(id);
    expect(isApiTokenLive(db, id)).toBe(true);
    let prepared = 0;
    const prepare = db.prepare.bind(db);
    db.prepare = ((sql: string) => {
      prepared++;
      return prepare(sql);
    }) as typeof db.prepare;
    expect(verifyApiToken(db, token)?.id).toBe(id);
    expect(isApiTokenLive(db, id)).toBe(true);
    expect(prepared).toBe(0);
    db.prepare = prepare;
    expect(revokeApiToken(db, id)).toBe(true);
    expect(isApiTokenLive(db, id)).toBe(false);
    expect(verifyApiToken(db, token)).toBeNull();
    db.close();
  });
});
