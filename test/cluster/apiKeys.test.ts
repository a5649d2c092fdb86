/**
 * API keys in cluster mode, through real processes (the compiled CLI as gateways and as
 * `ctibridge tokens …`, one nats-server): a key created once with the CLI against a gateway's
 * config opens every gateway (WebSocket subprotocol and REST bearer), also one started after
 * the key was made and one restarted; `tokens revoke` refuses it on every gateway and closes
 * its open sessions there with 4001 (at their next heartbeat, as standalone); `tokens list`
 * shows it; `tokens migrate` moves a gateway's own SQLite key to the cluster; an unreachable
 * NATS is one clear error line.
 */
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { ClusterRig, type RoleProc } from "../helpers/clusterRig.js";
import { TestClient } from "../helpers/cti.js";
import { waitFor } from "../helpers/daemon.js";
import { freePort, natsAvailable, startNats, type NatsServer } from "../helpers/natsServer.js";
import { SUBPROTOCOL } from "../../src/publish/protocol.js";
import { createApiToken } from "../../src/publish/apiTokens.js";
import { openDb } from "../../src/store/db.js";

const have = natsAvailable();
if (!have) console.log("cluster suite not run: nats-server is not installed (apt-get install nats-server)");

describe.skipIf(!have)("API keys in cluster mode", () => {
  const rig = new ClusterRig();
  let nats: NatsServer;
  const procs: RoleProc[] = [];
  const clients: TestClient[] = [];
  beforeAll(() => rig.build(), 120_000);
  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    for (const p of procs.splice(0)) if (p.proc.exitCode === null && p.proc.signalCode === null) await rig.kill9(p);
    await nats?.kill();
  });
  afterAll(() => rig.close());

  /** A gateway with a short heartbeat (revoked sessions close at the next one). */
  const gatewayYaml = (name: string) => rig.gatewayYaml({ nats: nats.url, name }).replace("server: { host: 127.0.0.1, port: 0,", "server: { host: 127.0.0.1, port: 0, heartbeatMs: 300,");
  async function gateway(name: string): Promise<{ p: RoleProc; port: number }> {
    const p = rig.start(name, gatewayYaml(name));
    procs.push(p);
    await rig.ready(p);
    return { p, port: p.port()! };
  }
  const configOf = (name: string) => join(rig.dir, `${name}.yaml`);
  const open = (port: number, token: string) => {
    const c = new TestClient(new WebSocket(`ws://127.0.0.1:${port}/ws`, [SUBPROTOCOL, `bearer.${token}`]));
    clients.push(c);
    return c;
  };
  /** Hello received: the session is open. */
  const session = async (port: number, token: string) => {
    const c = open(port, token);
    // A refused upgrade never settles `opened` (ws reports it as an unexpected response).
    const status = await Promise.race([c.opened.then(() => 101), c.refused]);
    if (status !== 101) throw new Error(`upgrade on ${port} refused with ${status}`);
    await waitFor(() => c.messages.some((m) => m.type === "hello"), "hello");
    return c;
  };
  const rest = async (port: number, token: string) => (await fetch(`http://127.0.0.1:${port}/api/calls`, { headers: { authorization: `Bearer ${token}` } })).status;
  const list = async (name: string) => {
    const r = await rig.run(["tokens", "list", "--config", configOf(name)]);
    expect(r.code).toBe(0);
    return r.out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  };

  it("a key made once opens every gateway (a later one and a restarted one too); revoked, it is refused everywhere and its sessions close with 4001", async () => {
    nats = await startNats();
    const gw1 = await gateway("gw1");
    const made = await rig.run(["tokens", "create", "alice", "--config", configOf("gw1")]);
    expect(made.code).toBe(0);
    const token = made.out.trim();
    expect(token).toMatch(/^ctb_[a-f0-9]{12}_/);
    const id = token.slice(4, 16);
    expect(made.err).toContain(`token ${id} for alice`);
    // A gateway started after the key was made knows it.
    const gw2 = await gateway("gw2");
    for (const port of [gw1.port, gw2.port]) {
      const c = await session(port, token);
      expect(c.messages.find((m) => m.type === "hello").user).toMatchObject({ id: "alice", role: "agent" });
      c.ws.close();
      expect(await rest(port, token)).toBe(200);
    }
    // The key reached gw1 over the watch (it was running when the key was made), and survives a restart.
    await rig.kill9(gw1.p);
    const gw1b = await gateway("gw1");
    expect(await rest(gw1b.port, token)).toBe(200);
    const listed = await list("gw2");
    expect(listed).toEqual([{ id, userId: "alice", role: "agent", createdAt: expect.any(String), revokedAt: null }]);

    const s1 = await session(gw1b.port, token);
    const s2 = await session(gw2.port, token);
    const revoked = await rig.run(["tokens", "revoke", id, "--config", configOf("gw2")]);
    expect(revoked).toMatchObject({ code: 0, out: `token ${id} revoked\n` });
    expect([(await s1.closed).code, (await s2.closed).code]).toEqual([4001, 4001]);
    for (const port of [gw1b.port, gw2.port]) {
      expect(await open(port, token).refused).toBe(401);
      expect(await rest(port, token)).toBe(401);
    }
    expect((await list("gw1"))[0]).toMatchObject({ id, revokedAt: expect.any(String) });
    // Revoked once is revoked: a second revoke and an unknown id exit 1.
    expect((await rig.run(["tokens", "revoke", id, "--config", configOf("gw1")])).code).toBe(1);
    expect((await rig.run(["tokens", "revoke", "0123456789ab", "--config", configOf("gw1")])).code).toBe(1);
    // A key the restarted gateway refused stays refused after another restart (the revocation is in the bucket).
    await rig.kill9(gw1b.p);
    const gw1c = await gateway("gw1");
    expect(await rest(gw1c.port, token)).toBe(401);
  });

  it("tokens migrate moves a gateway's own key to the cluster: it opens the other gateway, and a cluster revocation ends it on its own gateway too", async () => {
    nats = await startNats();
    const gw1 = await gateway("gw1");
    const gw2 = await gateway("gw2");
    // A key of gw1's own SQLite (made before cluster keys existed): only gw1 knows it.
    const db = openDb(join(rig.dir, "gw1.db"));
    const local = createApiToken(db, "bob");
    db.close();
    expect([await rest(gw1.port, local.token), await rest(gw2.port, local.token)]).toEqual([200, 401]);
    const moved = await rig.run(["tokens", "migrate", "--config", configOf("gw1")]);
    expect(moved).toMatchObject({ code: 0, out: "1 of 1 keys copied to the cluster\n" });
    await waitFor(async () => (await rest(gw2.port, local.token)) === 200, "the migrated key on gw2", 300);
    expect((await rig.run(["tokens", "migrate", "--config", configOf("gw1")])).out).toBe("0 of 1 keys copied to the cluster\n");
    expect((await rig.run(["tokens", "revoke", local.id, "--config", configOf("gw2")])).code).toBe(0);
    await waitFor(async () => (await rest(gw1.port, local.token)) === 401, "the migrated key refused on gw1", 300);
    expect(await rest(gw2.port, local.token)).toBe(401);
  });

  it("the CLI says so when NATS cannot be reached, and writes nothing", async () => {
    const port = await freePort();
    const file = join(rig.dir, "nowhere.yaml");
    writeFileSync(file, rig.gatewayYaml({ nats: `nats://127.0.0.1:${port}`, name: "nowhere" }));
    for (const args of [["tokens", "create", "alice"], ["tokens", "list"], ["tokens", "revoke", "0123456789ab"]]) {
      const r = await rig.run([...args, "--config", file]);
      expect(r.code).toBe(1);
      expect(r.out).toBe("");
      expect(r.err).toContain(`ctibridge: cannot reach NATS (nats://127.0.0.1:${port}):`);
    }
  });
});
