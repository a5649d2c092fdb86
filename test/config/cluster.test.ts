/**
 * Cluster roles in the config (issue 13): standalone stays the default; a half-configured
 * cluster is refused with one line per missing or contradicting setting; check-config names
 * the role and what it connects to.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, describeRole, loadConfig, redactConfig } from "../../src/config.js";

const dir = mkdtempSync(join(tmpdir(), "ctib-cluster-cfg-"));
let n = 0;
function load(yaml: string, env: Record<string, string> = {}) {
  const file = join(dir, `c${++n}.yaml`);
  writeFileSync(file, yaml);
  return loadConfig({ file, env, requirePbx: true, requireFile: true });
}
function problems(yaml: string): string[] {
  try {
    load(yaml);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}
const AMI = "ami: { host: pbx.example, username: ctib, secret: s3cret }\n";

describe("cluster roles in the config", () => {
  it("defaults to standalone and says so", () => {
    const c = load(AMI);
    expect(c.mode).toBe("standalone");
    expect(describeRole(c)).toBe("role: standalone (AMI pbx.example:5038, SQLite, WebSocket/REST on 127.0.0.1:8088)");
    const pgc = load(AMI + "store: { kind: postgres, postgres: { password: pw } }\n");
    expect(describeRole(pgc)).toBe("role: standalone (AMI pbx.example:5038, SQLite, call log archived to PostgreSQL, WebSocket/REST on 127.0.0.1:8088)");
  });

  it("refuses cluster settings in standalone mode and half-configured clusters, setting by setting", () => {
    expect(problems(AMI + "cluster: { role: pbx, pbxId: berlin, nats: { servers: [nats://127.0.0.1:4222] } }\n")).toEqual([
      "cluster.role: set to pbx, but mode is standalone (set mode: cluster)",
      "cluster.pbxId: set, but mode is standalone (set mode: cluster)",
      "cluster.nats.servers: set, but mode is standalone (set mode: cluster)",
    ]);
    expect(problems(AMI + "mode: cluster\n")).toEqual([
      "cluster.role: required in cluster mode (pbx or gateway)",
      "cluster.nats.servers: required in cluster mode (e.g. [nats://127.0.0.1:4222])",
    ]);
    expect(problems(AMI + "mode: cluster\ncluster: { role: pbx, nats: { servers: [nats://127.0.0.1:4222], user: ctib } }\n")).toEqual([
      "cluster.pbxId: required for role pbx (the PBX this worker serves)",
      "cluster.nats.password: required with cluster.nats.user (or CTIBRIDGE_NATS_PASSWORD)",
    ]);
    expect(problems("mode: cluster\ncluster: { role: gateway, pbxId: berlin, nats: { servers: [nats://127.0.0.1:4222], token: t, credentialsFile: /nonexistent/x.creds } }\nserver: { ringDebounceMs: 300 }\n")).toEqual([
      "cluster.pbxId: only for role pbx (a gateway serves every PBX)",
      "server.ringDebounceMs: must be 0 on a gateway (frames are numbered by the stream)",
      "cluster.nats: one of user/password, token or credentialsFile",
      "cluster.nats.credentialsFile: cannot read /nonexistent/x.creds (ENOENT)",
    ]);
    expect(problems(AMI + "mode: cluster\ncluster: { role: pbx, pbxId: 'a.b', nats: { servers: [http://x] } }\n")).toEqual([
      "cluster.pbxId: expected 1-64 letters, digits, _ or -",
      "cluster.nats.servers.0: expected nats://host:port or tls://host:port",
    ]);
  });

  it("a PBX worker and a gateway: check-config names the role and what it connects to; a gateway needs no PBX", () => {
    const w = load(AMI + "mode: cluster\ncluster: { role: pbx, pbxId: berlin, nats: { servers: [nats://10.0.0.1:4222, nats://10.0.0.2:4222], replicas: 3, user: ctib } }\n", { CTIBRIDGE_NATS_PASSWORD: "pw" });
    expect(describeRole(w)).toBe("role: pbx worker for berlin (AMI pbx.example:5038, NATS nats://10.0.0.1:4222, nats://10.0.0.2:4222 (replicas 3), lease 2000 ms)");
    expect((redactConfig(w) as { cluster: { nats: { password: string } } }).cluster.nats.password).toBe("[redacted]");
    const g = load("mode: cluster\ncluster: { role: gateway, nats: { servers: [nats://10.0.0.1:4222] } }\n");
    expect(describeRole(g)).toBe("role: gateway (NATS nats://10.0.0.1:4222 (replicas 1), WebSocket/REST on 127.0.0.1:8088, no call log (store.kind sqlite))");
    const pg = "store: { kind: postgres, postgres: { password: pw, poolSize: 2 } }\n";
    const gp = load(pg + "mode: cluster\ncluster: { role: gateway, nats: { servers: [nats://10.0.0.1:4222] }, archive: { concurrency: 2 } }\n");
    expect(describeRole(gp)).toBe("role: gateway (NATS nats://10.0.0.1:4222 (replicas 1), WebSocket/REST on 127.0.0.1:8088, archives the stream into the call log when it holds the archive lease)");
  });

  it("the call log in a cluster: written by gateways, never by a PBX worker; archive writers within the pool", () => {
    const pg = "store: { kind: postgres, postgres: { password: pw, poolSize: 2 } }\n";
    expect(problems(AMI + pg + "mode: cluster\ncluster: { role: pbx, pbxId: berlin, nats: { servers: [nats://10.0.0.1:4222] } }\n")).toEqual([
      "store.kind: postgres is for gateways in cluster mode (they write the call log from the stream); a pbx worker keeps a scratch SQLite (remove store.kind)",
    ]);
    expect(problems(pg + "mode: cluster\ncluster: { role: gateway, nats: { servers: [nats://10.0.0.1:4222] } }\n")).toEqual(["cluster.archive.concurrency: 4 is more than store.postgres.poolSize 2"]);
  });

  it("webhooks in a cluster: on gateways with the PostgreSQL call log, never on a PBX worker", () => {
    const hook = "webhooks: [{ name: crm, url: 'https://crm.example/hook', events: [call.ended], secret: 0123456789abcdef }]\n";
    const pg = "store: { kind: postgres, postgres: { password: pw } }\n";
    expect(problems(AMI + hook + "mode: cluster\ncluster: { role: pbx, pbxId: berlin, nats: { servers: [nats://10.0.0.1:4222] } }\n")).toEqual([
      "webhooks: not on a pbx worker in cluster mode (its outbox is a scratch SQLite, lost when it dies); configure them on the gateways, with store.kind: postgres",
    ]);
    expect(problems(hook + "mode: cluster\ncluster: { role: gateway, nats: { servers: [nats://10.0.0.1:4222] } }\n")).toEqual([
      "webhooks: need store.kind: postgres on a gateway (the outbox is a table of the call log, written with each call by the archiver)",
    ]);
    expect(load(hook + pg + "mode: cluster\ncluster: { role: gateway, nats: { servers: [nats://10.0.0.1:4222] } }\n").webhooks.map((w) => w.name)).toEqual(["crm"]);
    expect(problems(hook + pg + "mode: cluster\ncluster: { role: gateway, nats: { servers: [nats://10.0.0.1:4222] }, archive: { enabled: false } }\n")).toEqual([
      "webhooks: this gateway never archives (cluster.archive.enabled: false), so it never writes or delivers them; configure them on the archiving gateways",
    ]);
    // Standalone keeps its SQLite outbox, whatever the store.
    expect(load(AMI + hook + pg).webhooks).toHaveLength(1);
  });

  it("devices qualified with their PBX: valid in cluster mode, checked part by part, refused standalone, collisions per PBX", () => {
    const GW = "mode: cluster\ncluster: { role: gateway, nats: { servers: [nats://10.0.0.1:4222] } }\n";
    const ok = load(GW + "users:\n  - { id: alice, name: A, devices: [hamburg:PJSIP/1001, PJSIP/2001] }\n  - { id: xavier, name: X, devices: [berlin:PJSIP/1001] }\n");
    expect(ok.users.map((u) => u.devices)).toEqual([["hamburg:PJSIP/1001", "PJSIP/2001"], ["berlin:PJSIP/1001"]]);
    expect(problems(GW + "users:\n  - { id: alice, name: A, devices: ['ham burg:PJSIP/1001', 'hamburg:1001', 'PJSIP/10:01', 'x:y:PJSIP/1'] }\n")).toEqual([
      "users.0.devices.0: the PBX before ':' in ham burg:PJSIP/1001 must be a cluster.pbxId (1-64 letters, digits, _ or -)",
      "users.0.devices.1: expected a device like PJSIP/1001 after hamburg:",
      "users.0.devices.3: expected a device like PJSIP/1001 after x:",
    ]);
    expect(problems(GW + "users:\n  - { id: alice, name: A, devices: [PJSIP/1001] }\n  - { id: xavier, name: X, devices: [hamburg:PJSIP/1001] }\n  - { id: yves, name: Y, devices: [berlin:PJSIP/1001] }\n  - { id: zoe, name: Z, devices: [hamburg:PJSIP/1001] }\n")).toEqual([
      "users.1.devices: hamburg:PJSIP/1001 already belongs to user alice (as PJSIP/1001)",
      "users.2.devices: berlin:PJSIP/1001 already belongs to user alice (as PJSIP/1001)",
      "users.3.devices: hamburg:PJSIP/1001 already belongs to user alice (as PJSIP/1001)",
    ]);
    expect(problems(GW + "users:\n  - { id: xavier, name: X, devices: [hamburg:PJSIP/1001] }\n  - { id: zoe, name: Z, devices: [hamburg:PJSIP/1001] }\n")).toEqual([
      "users.1.devices: hamburg:PJSIP/1001 already belongs to user xavier",
    ]);
    expect(problems(AMI + "users:\n  - { id: alice, name: A, devices: [hamburg:PJSIP/1001, PJSIP/1002] }\n")).toEqual([
      "users.0.devices: hamburg:PJSIP/1001 names a PBX, but mode is standalone (write PJSIP/1001, or set mode: cluster)",
    ]);
  });
});
