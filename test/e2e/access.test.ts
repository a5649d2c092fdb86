/**
 * Access through the whole daemon (issue 7, "Access"): who may annotate a call, what removing a
 * user does to their sessions and keys, and that REST history shows a call exactly as the
 * WebSocket does. Real sockets on 127.0.0.1; the CLI runs in-process on its own SQLite
 * connection, as `ctibridge users …` would from another process.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { buildCli, type CliIo } from "../../src/cli/cli.js";
import { SUBPROTOCOL } from "../../src/publish/protocol.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { TestClient } from "../helpers/cti.js";
import { DaemonRig, E2E_USERS, trace01Halves, waitFor, type RunningDaemon } from "../helpers/daemon.js";
import { traceBytes } from "../helpers/traces.js";

const rig = new DaemonRig();
afterEach(() => rig.close());

/** REST on the daemon with a user's rig key (or a literal key). */
async function rest(d: RunningDaemon, who: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const token = who.startsWith("ctb_") ? who : d.token(who);
  const res = await fetch(`http://127.0.0.1:${d.port}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

/** A ws client with a literal token. */
function connectWith(d: RunningDaemon, token: string): TestClient {
  return new TestClient(new WebSocket(`ws://127.0.0.1:${d.port}${d.config.server.wsPath}`, [SUBPROTOCOL, `bearer.${token}`]));
}

/** The CLI against the daemon's database file. */
async function cli(d: RunningDaemon, args: string[]): Promise<{ code: number; out: string }> {
  const cfg = join(mkdtempSync(join(tmpdir(), "ctib-access-")), "c.yaml");
  writeFileSync(cfg, `store: { path: "${d.dbPath}" }\nlog: { level: silent }\n`);
  let out = "";
  let code = 0;
  const io: CliIo = {
    env: {},
    out: (t) => void (out += t),
    err: () => undefined,
    isTTY: false,
    onSignal: () => undefined,
    exit: (c) => {
      code = c;
      throw new Error(`exit ${c}`);
    },
  };
  await buildCli(io)
    .parseAsync(["node", "ctibridge", ...args, "--config", cfg])
    .catch(() => undefined);
  return { code, out };
}

function closeCode(c: TestClient): () => number | undefined {
  let code: number | undefined;
  void c.closed.then((r) => (code = r.code));
  return () => code;
}

const annotate = (id: string, args: Record<string, unknown>) => ({ type: "command", id, action: "call.annotate", args });

describe("annotations belong to the call's parties", () => {
  it("refuses a stranger on a live, an ended and a stored call (WS forbidden, REST 403), stores and publishes nothing", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const alice = d.connect("alice");
    const bob = d.connect("bob");
    await alice.ready();
    await bob.ready();
    const [first, second] = trace01Halves();
    await d.replay(first);
    const callId = (await alice.nextOf("call.answered")).call.callId as string;

    bob.send(annotate("b1", { callId, comment: "forged" }));
    expect(await bob.nextOf("command.result")).toMatchObject({ id: "b1", ok: false, error: { code: "forbidden" } });
    expect(await rest(d, "bob", "POST", `/api/calls/${callId}/annotate`, { comment: "forged" })).toMatchObject({ status: 403, json: { error: { code: "forbidden" } } });
    await alice.sync();
    expect(alice.messages.filter((m) => m.type === "call.updated")).toEqual([]);
    expect(d.daemon.tracker.getCall(callId)?.annotation).toBeNull();

    // Ended, still in memory.
    await d.replay(second);
    await alice.nextOf("call.ended");
    bob.send(annotate("b2", { callId, comment: "forged" }));
    expect(await bob.nextOf("command.result")).toMatchObject({ id: "b2", ok: false, error: { code: "forbidden" } });

    // Only in the store (after a restart).
    await rig.stop(d.daemon);
    const d2 = await rig.start({ users: E2E_USERS, dbPath: d.dbPath, pbx: d.pbx });
    const bob2 = d2.connect("bob");
    await bob2.ready();
    bob2.send(annotate("b3", { callId, recordId: "X-1" }));
    expect(await bob2.nextOf("command.result")).toMatchObject({ id: "b3", ok: false, error: { code: "forbidden" } });
    expect(await rest(d2, "bob", "POST", `/api/calls/${callId}/annotate`, { recordId: "X-1" })).toMatchObject({ status: 403 });
    expect((await rest(d2, "bob", "GET", `/api/calls/${callId}/annotations`)).status).toBe(403);
    expect(await rest(d2, "alice", "GET", `/api/calls/${callId}/annotations`)).toEqual({ status: 200, json: { annotations: [] } });
    const [stored] = (await rest(d2, "alice", "GET", "/api/calls")).json.calls;
    expect(stored).toMatchObject({ callId, annotation: null });
    expect(await rest(d2, "bob", "POST", "/api/calls/no-such-call/annotate", { comment: "x" })).toMatchObject({ status: 404 });
  });

  it("keeps the history; an absent field keeps its value, null clears it (WS and REST, live and stored)", async () => {
    // A supervisor without control rights still annotates: annotating is not call control.
    const d = await rig.start({ users: E2E_USERS, control: { supervisorsMayControl: false } });
    const alice = d.connect("alice");
    const sam = d.connect("sam");
    await alice.ready();
    await sam.ready();
    const [first, second] = trace01Halves();
    await d.replay(first);
    const callId = (await alice.nextOf("call.answered")).call.callId as string;

    alice.send(annotate("a1", { callId, recordId: "C-981", disposition: "support" }));
    const r1 = await alice.nextOf("command.result");
    expect(r1).toMatchObject({ id: "a1", ok: true, data: { annotation: { recordId: "C-981", disposition: "support", by: "alice" } } });
    const r2 = await rest(d, "alice", "POST", `/api/calls/${callId}/annotate`, { comment: "called back" });
    expect(r2.status).toBe(200);
    expect(r2.json.data.annotation).toEqual({ recordId: "C-981", disposition: "support", comment: "called back", by: "alice", at: expect.any(String) });
    await alice.sync();
    const updates = alice.messages.filter((m) => m.type === "call.updated").map((m) => m.call.annotation);
    expect(updates.at(-1)).toEqual(r2.json.data.annotation);

    await d.replay(second);
    await alice.nextOf("call.ended");
    // The supervisor may annotate too (WS and REST); clearing the disposition keeps the rest.
    sam.send(annotate("s1", { callId, disposition: "escalated" }));
    expect(await sam.nextOf("command.result")).toMatchObject({ id: "s1", ok: true, data: { annotation: { disposition: "escalated", by: "sam" } } });
    expect((await rest(d, "sam", "POST", `/api/calls/${callId}/annotate`, { disposition: null })).json.data.annotation).toEqual({
      recordId: "C-981",
      comment: "called back",
      by: "sam",
      at: expect.any(String),
    });

    await rig.stop(d.daemon);
    const d2 = await rig.start({ users: E2E_USERS, dbPath: d.dbPath, pbx: d.pbx });
    const last = await rest(d2, "alice", "POST", `/api/calls/${callId}/annotate`, { comment: "second note" });
    expect(last.json.data.annotation).toEqual({ recordId: "C-981", comment: "second note", by: "alice", at: expect.any(String) });
    const [stored] = (await rest(d2, "alice", "GET", "/api/calls")).json.calls;
    expect(stored.annotation).toEqual(last.json.data.annotation);
    const history = (await rest(d2, "alice", "GET", `/api/calls/${callId}/annotations`)).json.annotations;
    expect(history).toEqual([
      { by: "alice", at: expect.any(String), recordId: "C-981", disposition: "support" },
      { by: "alice", at: expect.any(String), comment: "called back" },
      { by: "sam", at: expect.any(String), disposition: "escalated" },
      { by: "sam", at: expect.any(String), disposition: null },
      { by: "alice", at: expect.any(String), comment: "second note" },
    ]);
  });
});

describe("removing a user takes effect at once", () => {
  it("`users remove` from another process: 4001 within a heartbeat, REST refused, the old key never works for a new user with the same id", async () => {
    const d = await rig.start({ users: E2E_USERS, server: { heartbeatMs: 50 } });
    expect((await cli(d, ["users", "add", "zed", "Zed", "--device", "PJSIP/1009"])).code).toBe(0);
    const oldKey = (await cli(d, ["tokens", "create", "zed"])).out.trim();
    expect((await rest(d, oldKey, "GET", "/api/calls")).status).toBe(200);
    const zed = connectWith(d, oldKey);
    await zed.ready();
    const code = closeCode(zed);

    expect((await cli(d, ["users", "remove", "zed"])).code).toBe(0);
    expect(await waitFor(code, "zed closed")).toBe(4001);
    expect((await rest(d, oldKey, "GET", "/api/calls")).status).toBe(401);

    expect((await cli(d, ["users", "add", "zed", "Zed again", "--device", "PJSIP/1009"])).code).toBe(0);
    const newKey = (await cli(d, ["tokens", "create", "zed"])).out.trim();
    expect((await rest(d, newKey, "GET", "/api/calls")).status).toBe(200);
    expect((await rest(d, oldKey, "GET", "/api/calls")).status).toBe(401);
    expect(await connectWith(d, oldKey).refused).toBe(401);
    const fresh = connectWith(d, newKey);
    expect((await fresh.ready()).hello.user.name).toBe("Zed again");
    fresh.ws.terminate();
  });

  it("a SIGHUP reload that drops a config user closes their sessions and kills their keys; unchanged users keep theirs", async () => {
    const d = await rig.start({ users: E2E_USERS, server: { heartbeatMs: 50 } });
    const bob = d.connect("bob");
    const carol = d.connect("carol");
    await bob.ready();
    await carol.ready();
    const bobClosed = closeCode(bob);
    const bobKey = d.token("bob");

    d.daemon.reloadUsers({ ...d.config, users: d.config.users.filter((u) => u.id !== "bob") });
    expect(await waitFor(bobClosed, "bob closed")).toBe(4001);
    expect((await rest(d, bobKey, "GET", "/api/calls")).status).toBe(401);

    d.daemon.reloadUsers(d.config);
    expect((await rest(d, bobKey, "GET", "/api/calls")).status).toBe(401);
    expect(await connectWith(d, bobKey).refused).toBe(401);
    // carol's record never changed: her session and key live through both reloads.
    const carolClosed = closeCode(carol);
    for (let i = 0; i < 3; i++) {
      await carol.sync();
      await new Promise((r) => setTimeout(r, 60));
    }
    expect(carolClosed()).toBeUndefined();
    expect((await rest(d, "carol", "GET", "/api/calls")).status).toBe(200);
  });
});

describe("REST history shows what the WebSocket shows", () => {
  it("the ring-group call as agent alice and supervisor sam get it over REST equals their WS call.ended", async () => {
    const d = await rig.start({ users: E2E_USERS, pop: { urlTemplate: "https://crm.example/pop?n={e164}&c={callId}" } });
    d.daemon.contacts.importCsv("name,company,record_id,numbers\nAnna Schmidt,Acme,C-981,+4930123456\n");
    const alice = d.connect("alice");
    const sam = d.connect("sam");
    await alice.ready();
    await sam.ready();
    await d.replay(stripTracePreamble(traceBytes("06-ringgroup-answered")));
    await alice.sync();
    await sam.sync();
    const endedFor = (c: TestClient) => c.messages.filter((m) => m.type === "call.ended").at(-1).call;
    const withoutDone = (call: any) => ({ ...call, legs: call.legs.map(({ done: _done, ...l }: any) => l) });

    const mine = (await rest(d, "alice", "GET", "/api/calls")).json.calls;
    expect(mine).toHaveLength(1);
    expect(mine[0].legs.map((l: any) => l.userId)).toEqual(["alice"]);
    expect(mine[0].match.status).toBe("single");
    expect(withoutDone(mine[0])).toEqual(endedFor(alice));

    const all = (await rest(d, "sam", "GET", "/api/calls")).json.calls;
    expect(all[0].legs.map((l: any) => l.userId)).toEqual(["alice", "bob", "carol"]);
    expect(withoutDone(all[0])).toEqual(endedFor(sam));
  });
});
