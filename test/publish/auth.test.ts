import { mkdtempSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IncomingMessage } from "node:http";
import { SignJWT, exportSPKI, generateKeyPair } from "jose";
import { configSchema } from "../../src/config.js";
import { createAuthenticator } from "../../src/publish/auth.js";
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
