import { mkdtempSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IncomingMessage } from "node:http";
import { SignJWT, exportSPKI, generateKeyPair } from "jose";
import { configSchema } from "../../src/config.js";
import { Directory } from "../../src/directory/users.js";
import { createAuthenticator, type AuthedUser } from "../../src/publish/auth.js";
import { openDb } from "../../src/store/db.js";
import { USERS } from "../helpers/cti.js";
import { afterEach, describe, expect, it } from "vitest";
import { createApiToken, listApiTokens, revokeApiToken } from "../../src/publish/auth.js";
import { T0 } from "../helpers/calls.js";
import { startHarness, type Harness } from "../helpers/cti.js";

let h: Harness;
afterEach(async () => h?.close());

/** A raw upgrade request, to see every byte the server answers. */
function rawUpgrade(port: number, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, "127.0.0.1");
    let out = "";
    s.on("data", (d) => (out += d.toString("latin1")));
    s.on("close", () => resolve(out));
    s.on("error", reject);
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    s.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
  });
}

describe("authentication on upgrade", () => {
  it("answers 401 with nothing else when there is no token", async () => {
    h = await startHarness();
    const raw = await rawUpgrade(h.port, {});
    expect(raw).toBe("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  });

  it("refuses a bad signature, an expired token and an unknown user with 401", async () => {
    h = await startHarness();
    const now = Math.floor(Date.now() / 1000);
    for (const token of [await h.sign("alice", { secret: "another-secret-another-secret-another" }), await h.sign("alice", { expSeconds: now - 10 }), await h.sign("mallory"), "not-a-jwt"]) {
      expect(await h.connect(token).refused).toBe(401);
    }
    expect(h.logs.filter((l) => l.msg === "upgrade refused").map((l) => l.reason)).toEqual(["invalid_token", "expired", "unknown_user", "invalid_token"]);
  });

  it("refuses a role claim that is neither agent nor supervisor", async () => {
    h = await startHarness();
    expect(await h.connect(await h.sign("alice", { role: "admin" })).refused).toBe(401);
  });

  it("takes the role from the token over the directory", async () => {
    h = await startHarness();
    const c = h.connect(await h.sign("alice", { role: "supervisor" }));
    expect((await c.ready()).hello.user.role).toBe("supervisor");
  });

  it("refuses a foreign Origin with 403 when an allow-list is set", async () => {
    h = await startHarness({ server: { allowedOrigins: ["https://crm.example"] } });
    const token = await h.sign("alice");
    expect(await h.connect(token, { origin: "https://evil.example" }).refused).toBe(403);
    await h.connect(token, { origin: "https://crm.example" }).ready();
  });

  it("accepts the token as a bearer subprotocol and selects ctibridge.v1", async () => {
    h = await startHarness();
    const token = await h.sign("alice");
    const c = h.connect(null, { protocols: ["ctibridge.v1", `bearer.${token}`] });
    await c.opened;
    expect(c.ws.protocol).toBe("ctibridge.v1");
  });

  it("takes ?token= only when allowQueryToken is on", async () => {
    h = await startHarness();
    const token = await h.sign("alice");
    expect(await h.connect(null, { path: `/ws?token=${token}` }).refused).toBe(401);
    await h.close();
    h = await startHarness({ server: { allowQueryToken: true } });
    await h.connect(null, { path: `/ws?token=${await h.sign("alice")}` }).ready();
  });

  it("API keys: created once, stored hashed, listed, and refused once revoked", async () => {
    h = await startHarness();
    const { id, token } = createApiToken(h.db, "bob", "agent");
    expect(token).toMatch(new RegExp(`^ctb_${id}_`));
    const row = h.db.prepare("SELECT hash FROM api_tokens WHERE id = ?").get(id) as { hash: string };
    expect(row.hash).not.toContain(token);
    const c = h.connect(token);
    expect((await c.ready()).hello.user.id).toBe("bob");
    expect(revokeApiToken(h.db, id)).toBe(true);
    expect(listApiTokens(h.db)).toMatchObject([{ id, userId: "bob", role: "agent" }]);
    expect(listApiTokens(h.db)[0]!.revokedAt).not.toBeNull();
    expect(await h.connect(token).refused).toBe(401);
    expect(await h.connect(token.slice(0, -1) + (token.endsWith("A") ? "B" : "A")).refused).toBe(401);
  });

  it("closes a session with 4003 when its token expires", async () => {
    let clock = T0;
    h = await startHarness({ now: () => clock });
    const exp = Math.floor(T0 / 1000) + 60;
    // Connect 30 ms before exp by the injected clock: the server arms a real 30 ms timer; when it
    // fires the clock says expired (a clock that has not moved yet only re-arms the timer).
    clock = exp * 1000 - 30;
    const c = h.connect(await h.sign("alice", { expSeconds: exp }));
    const { hello } = await c.ready();
    expect(hello.expiresAt).toBe(new Date(exp * 1000).toISOString());
    clock = exp * 1000;
    expect(await c.closed).toEqual({ code: 4003, reason: "token expired" });
  });

  it("closes a session with 4001 once its API key is revoked (checked on the heartbeat)", async () => {
    h = await startHarness({ server: { heartbeatMs: 20 } });
    const { id, token } = createApiToken(h.db, "alice", "agent");
    const c = h.connect(token);
    await c.ready();
    revokeApiToken(h.db, id);
    expect((await c.closed).code).toBe(4001);
  });
});

describe("public-key JWTs", () => {
  it.each(["RS256", "ES256"] as const)("verifies %s with auth.jwtPublicKeyFile and refuses HS256 then", async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg);
    const file = join(mkdtempSync(join(tmpdir(), "ctb-key-")), "jwt.pem");
    writeFileSync(file, await exportSPKI(publicKey));
    const config = configSchema.parse({ auth: { jwtPublicKeyFile: file, jwtIssuer: "crm", jwtAudience: "ctibridge" } });
    const users = new Map(USERS.map((u) => [u.id, u]));
    const auth = createAuthenticator({ config, db: openDb(":memory:"), directory: { getUser: (i) => users.get(i), listUsers: () => USERS } });
    const sign = (iss: string) => new SignJWT({}).setProtectedHeader({ alg }).setSubject("alice").setIssuer(iss).setAudience("ctibridge").setExpirationTime("5m").sign(privateKey);
    expect(await auth.authenticateToken(await sign("crm"))).toMatchObject({ ok: true, user: { userId: "alice", role: "agent", tokenId: null } });
    expect(await auth.authenticateToken(await sign("someone-else"))).toMatchObject({ ok: false, status: 401 });
    const hs = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setExpirationTime("5m").sign(new TextEncoder().encode("x".repeat(32)));
    expect(await auth.authenticateToken(hs)).toMatchObject({ ok: false, reason: "invalid_token" });
    const req = { headers: { authorization: `Bearer ${await sign("crm")}` }, url: "/ws" } as unknown as IncomingMessage;
    expect((await auth.authenticateRequest(req)).ok).toBe(true);
  });
});

describe("tokens are bound to the user record", () => {
  const SECRET_BYTES = new TextEncoder().encode("record-binding-secret-record-binding");
  function setup(overrides: Record<string, unknown> = {}) {
    const db = openDb(":memory:");
    let t = Date.parse("2024-06-01T09:00:00Z");
    const now = () => t;
    const dir = new Directory({ db });
    dir.addUser({ id: "zed", name: "Zed" }, now);
    const config = configSchema.parse({ auth: { jwtSecret: "record-binding-secret-record-binding", ...overrides } });
    const auth = createAuthenticator({ config, db, directory: dir, now });
    const jwt = (iat: number | null) => {
      const j = new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("zed").setExpirationTime(Math.floor(t / 1000) + 3600);
      if (iat !== null) j.setIssuedAt(iat);
      return j.sign(SECRET_BYTES);
    };
    return { db, dir, auth, jwt, later: (ms: number) => (t += ms), now };
  }

  it("a key of a removed record opens no later user with the same id, even if its revocation was lost", async () => {
    const { db, dir, auth, later, now } = setup();
    const { token } = createApiToken(db, "zed");
    const first = await auth.authenticateToken(token);
    expect(first).toMatchObject({ ok: true, user: { userId: "zed", userUid: dir.getUser("zed")!.uid } });
    // A removal that did not revoke (a database written by an older ctibridge): the binding still holds.
    db.prepare("DELETE FROM users WHERE id = 'zed'").run();
    later(1000);
    dir.addUser({ id: "zed", name: "Zed again" }, now);
    expect(await auth.authenticateToken(token)).toEqual({ ok: false, status: 401, reason: "stale_token" });
    expect(auth.stillValid((first as { user: AuthedUser }).user)).toBe(false);
    expect(await auth.authenticateToken(createApiToken(db, "zed").token)).toMatchObject({ ok: true });
  });

  it("a supervisor key acts as an agent for a user the directory calls an agent, and its session ends on demotion", async () => {
    const { db, dir, auth } = setup();
    expect(await auth.authenticateToken(createApiToken(db, "zed", "supervisor").token)).toMatchObject({ ok: true, user: { role: "agent" } });
    dir.addUser({ id: "sue", name: "Sue", role: "supervisor" });
    const sue = await auth.authenticateToken(createApiToken(db, "sue", "supervisor").token);
    expect(sue).toMatchObject({ ok: true, user: { role: "supervisor" } });
    expect(auth.stillValid((sue as { user: AuthedUser }).user)).toBe(true);
    db.prepare("UPDATE users SET role = 'agent' WHERE id = 'sue'").run();
    dir.reload();
    expect(auth.stillValid((sue as { user: AuthedUser }).user)).toBe(false);
  });

  it("removeUser revokes the user's keys for good", async () => {
    const { db, dir } = setup();
    createApiToken(db, "zed");
    dir.removeUser("zed");
    expect(listApiTokens(db).map((k) => k.revokedAt !== null)).toEqual([true]);
  });

  it("a JWT issued before an earlier record of the same id was removed is refused; without iat it passes unless auth.jwtRequireIat", async () => {
    const { jwt, now, auth, dir, later } = setup();
    const created = Math.floor(now() / 1000);
    // A first record: no removal before it, so any iat passes (tokens minted before the first start keep working).
    expect(await auth.authenticateToken(await jwt(created - 600))).toMatchObject({ ok: true });
    later(60_000);
    dir.removeUser("zed", now);
    const removed = Math.floor(now() / 1000);
    later(1000);
    dir.addUser({ id: "zed", name: "Zed again" }, now);
    expect(await auth.authenticateToken(await jwt(removed - 5))).toEqual({ ok: false, status: 401, reason: "stale_token" });
    expect(await auth.authenticateToken(await jwt(removed))).toEqual({ ok: false, status: 401, reason: "stale_token" });
    expect(await auth.authenticateToken(await jwt(removed + 1))).toMatchObject({ ok: true });
    expect(await auth.authenticateToken(await jwt(null))).toMatchObject({ ok: true });
    const strict = setup({ jwtRequireIat: true });
    expect(await strict.auth.authenticateToken(await strict.jwt(null))).toMatchObject({ ok: false, status: 401 });
    expect(await strict.auth.authenticateToken(await strict.jwt(created))).toMatchObject({ ok: true });
  });

  it("a SIGHUP re-apply keeps an unchanged user's record; dropping a config user removes it and revokes its keys", () => {
    const { db, dir } = setup();
    const users = [{ id: "amy", name: "Amy", role: "agent" as const, devices: ["PJSIP/1"] }, { id: "ben", name: "Ben", role: "agent" as const, devices: [] }];
    dir.applyConfig(users);
    const uid = dir.getUser("amy")!.uid;
    createApiToken(db, "ben");
    dir.applyConfig([{ ...users[0]!, name: "Amy R." }]);
    expect(dir.getUser("amy")).toMatchObject({ name: "Amy R.", uid, devices: ["PJSIP/1"] });
    expect(dir.getUser("ben")).toBeUndefined();
    expect(listApiTokens(db).map((k) => [k.userId, k.revokedAt !== null])).toEqual([["ben", true]]);
    expect(dir.getUser("zed")).toBeDefined();
  });
});
