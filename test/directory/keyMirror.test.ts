import { describe, expect, it } from "vitest";
import { configSchema } from "../../src/config.js";
import { KeyMirror, type KeyChange, type SharedKeyRecord } from "../../src/directory/keyMirror.js";
import { Directory } from "../../src/directory/users.js";
import { createAuthenticator, type AuthedUser } from "../../src/publish/auth.js";
import { createApiToken, hashToken, newApiToken, revokeApiToken } from "../../src/publish/apiTokens.js";
import { openDb } from "../../src/store/db.js";

const T = "2024-06-01T09:00:00.000Z";

function key(userId: string, role: "agent" | "supervisor" = "agent", createdAt = T): { token: string; record: SharedKeyRecord } {
  const { id, token } = newApiToken();
  return { token, record: { id, userId, role, hash: hashToken(token), createdAt, revokedAt: null } };
}
const put = (r: SharedKeyRecord, revision: number): KeyChange => ({ key: r.id, revision, operation: "PUT", value: JSON.stringify(r) });

describe("the API key mirror (KV watch changes → the keys a gateway accepts)", () => {
  it("accepts a live key by its secret only, and stops at its revocation (once, with the hook)", () => {
    const revoked: string[] = [];
    const m = new KeyMirror({ onRevoked: (id) => revoked.push(id) });
    const a = key("alice");
    m.apply(put(a.record, 1));
    expect(m.verify(a.token)).toEqual(a.record);
    expect(m.isLive(a.record.id)).toBe(true);
    // The same id with another secret, a malformed key, a key the bucket never had.
    expect(m.verify(`ctb_${a.record.id}_${"x".repeat(43)}`)).toBeNull();
    expect(m.verify("ctb_nope")).toBeNull();
    expect(m.verify(key("alice").token)).toBeNull();
    m.apply(put({ ...a.record, revokedAt: "2024-06-01T10:00:00.000Z" }, 2));
    expect(m.verify(a.token)).toBeNull();
    expect(m.isLive(a.record.id)).toBe(false);
    expect(m.record(a.record.id)?.revokedAt).toBe("2024-06-01T10:00:00.000Z");
    // The same revocation seen again (the re-read after a reconnect) changes nothing.
    m.apply(put({ ...a.record, revokedAt: "2024-06-01T10:00:00.000Z" }, 2));
    expect(revoked).toEqual([a.record.id]);
    expect(m.size).toBe(0);
  });

  it("ignores a change older than the one applied (the watcher and a full re-read interleave)", () => {
    const m = new KeyMirror();
    const a = key("alice");
    m.apply(put({ ...a.record, revokedAt: T }, 7));
    m.apply(put(a.record, 3));
    expect(m.verify(a.token)).toBeNull();
  });

  it("a deleted or purged key, or a record that is not one, opens nothing", () => {
    const revoked: string[] = [];
    const m = new KeyMirror({ onRevoked: (id) => revoked.push(id) });
    const a = key("alice");
    const b = key("bob");
    m.apply(put(a.record, 1));
    m.apply(put(b.record, 2));
    m.apply({ key: a.record.id, revision: 3, operation: "DEL" });
    m.apply({ key: b.record.id, revision: 4, operation: "PURGE" });
    expect([m.verify(a.token), m.verify(b.token)]).toEqual([null, null]);
    expect(revoked).toEqual([a.record.id, b.record.id]);
    const c = key("carol");
    for (const [rev, value] of [[5, "{not json"], [6, JSON.stringify({ ...c.record, hash: "short" })], [7, JSON.stringify({ ...c.record, id: "aaaaaaaaaaaa" })]] as const) {
      m.apply({ key: c.record.id, revision: rev, operation: "PUT", value });
    }
    expect(m.verify(c.token)).toBeNull();
  });
});

describe("a gateway's authenticator with the cluster's keys", () => {
  function setup() {
    const db = openDb(":memory:");
    let t = Date.parse(T) + 60_000;
    const now = () => t;
    const dir = new Directory({ db });
    dir.applyConfig([
      { id: "amy", name: "Amy", role: "agent", devices: ["PJSIP/1"] },
      { id: "sue", name: "Sue", role: "supervisor", devices: [] },
    ], now);
    const keys = new KeyMirror({ onRevoked: (id) => revokeApiToken(db, id, now) });
    const config = configSchema.parse({});
    const auth = createAuthenticator({ config, db, directory: dir, keys, now });
    return { db, dir, keys, auth, later: (ms: number) => (t += ms), now };
  }
  const userOf = (r: unknown) => (r as { user: AuthedUser }).user;

  it("opens a session for the key's user, narrowed to the directory's role; the session ends when the key is revoked", async () => {
    const { keys, auth } = setup();
    const amy = key("amy", "supervisor");
    const sue = key("sue", "supervisor");
    keys.apply(put(amy.record, 1));
    keys.apply(put(sue.record, 2));
    const a = await auth.authenticateToken(amy.token);
    expect(a).toEqual({ ok: true, user: { userId: "amy", role: "agent", expiresAt: null, tokenId: amy.record.id, userUid: expect.any(String) } });
    const s = await auth.authenticateToken(sue.token);
    expect(s).toMatchObject({ ok: true, user: { userId: "sue", role: "supervisor", tokenId: sue.record.id } });
    expect(auth.stillValid(userOf(s))).toBe(true);
    keys.apply(put({ ...sue.record, revokedAt: T }, 3));
    expect(auth.stillValid(userOf(s))).toBe(false);
    expect(auth.stillValid(userOf(a))).toBe(true);
    expect(await auth.authenticateToken(sue.token)).toEqual({ ok: false, status: 401, reason: "invalid_token" });
    expect(await auth.authenticateToken(key("nobody").token)).toEqual({ ok: false, status: 401, reason: "invalid_token" });
  });

  it("refuses a key of a user this gateway does not have, and one created before an earlier record of the id was removed", async () => {
    const { dir, keys, auth, later, now } = setup();
    const ghost = key("ghost");
    keys.apply(put(ghost.record, 1));
    expect(await auth.authenticateToken(ghost.token)).toEqual({ ok: false, status: 401, reason: "unknown_user" });
    const old = key("amy", "agent", new Date(now()).toISOString());
    keys.apply(put(old.record, 2));
    const session = userOf(await auth.authenticateToken(old.token));
    later(1000);
    dir.removeUser("amy", now);
    later(1000);
    dir.addUser({ id: "amy", name: "Amy again" }, now);
    expect(await auth.authenticateToken(old.token)).toEqual({ ok: false, status: 401, reason: "stale_token" });
    expect(auth.stillValid(session)).toBe(false);
    later(1000);
    const fresh = key("amy", "agent", new Date(now()).toISOString());
    keys.apply(put(fresh.record, 3));
    expect(await auth.authenticateToken(fresh.token)).toMatchObject({ ok: true, user: { userId: "amy" } });
  });

  it("a key of the gateway's own database keeps working, and a migrated copy revoked in the cluster is revoked there too", async () => {
    const { db, keys, auth, now } = setup();
    const local = createApiToken(db, "amy", "agent", now);
    expect(await auth.authenticateToken(local.token)).toMatchObject({ ok: true, user: { userId: "amy", tokenId: local.id } });
    const row = db.prepare("SELECT id, user_id, role, hash, created_at FROM api_tokens WHERE id = ?").get(local.id) as { id: string; user_id: string; role: "agent"; hash: string; created_at: string };
    const copy: SharedKeyRecord = { id: row.id, userId: row.user_id, role: row.role, hash: row.hash, createdAt: row.created_at, revokedAt: null };
    keys.apply(put(copy, 1));
    keys.apply(put({ ...copy, revokedAt: new Date(now()).toISOString() }, 2));
    expect(await auth.authenticateToken(local.token)).toEqual({ ok: false, status: 401, reason: "invalid_token" });
  });
});
