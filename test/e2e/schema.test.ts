/**
 * The protocol schema (src/publish/schema.ts) holds for what the server really sends: every
 * recorded trace in test/fixtures/ami is replayed through the whole daemon (fake PBX on
 * 127.0.0.1) with a real ws client per lab user plus a supervisor, and every frame each of
 * them received must validate (strict objects: an unknown field fails too). `GET /api/calls`
 * returns the same call object: validated by the same schema, and equal to the supervisor's
 * last WebSocket copy of the call but for the history-only `done` of each leg.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { AmiServer } from "../../src/sim/amiServer.js";
import { startFakeAmi } from "../helpers/fakeAmiServer.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import type { z } from "zod";
import { rest, serverMessage } from "../../src/publish/schema.js";
import { TestClient } from "../helpers/cti.js";
import { DaemonRig, E2E_USERS, trace01Halves, waitFor, type RunningDaemon, rest as restCall } from "../helpers/daemon.js";
import { trace25Listing as listing } from "../helpers/listing.js";
import { invalidCalls, invalidFrames } from "../helpers/schemaCheck.js";
import { traceBytes, traceFiles } from "../helpers/traces.js";

const rig = new DaemonRig();
const pbxs: AmiServer[] = [];
afterEach(async () => {
  await rig.close();
  for (const p of pbxs.splice(0)) await p.close();
});

const EVERYONE = ["alice", "bob", "carol", "dave", "eve", "frank", "sam"];
const POP = { urlTemplate: "https://crm.example/pop?phone={e164}&ticket={ivr.TICKET}&c={callId}" };


/** Every frame type validated by the tests above (the last test checks none was left out). */
const validated = new Set<string>();
const note = (clients: Iterable<TestClient>) => {
  for (const c of clients) for (const m of c.messages) validated.add(m.type);
};

const withoutDone = (c: any) => ({ ...c, legs: c.legs.map(({ done: _done, ...l }: any) => l) });

describe("every frame of every recorded trace validates against the protocol schema", () => {
  it.each(traceFiles())("%s", async (file) => {
    const d = await rig.start({ users: E2E_USERS, pop: POP });
    const clients = new Map(EVERYONE.map((u) => [u, d.connect(u)]));
    for (const c of clients.values()) await c.ready();
    await d.replay(stripTracePreamble(traceBytes(file)));
    for (const c of clients.values()) await c.sync();

    const problems = EVERYONE.flatMap((u) => invalidFrames(u, clients.get(u)!.messages));
    expect(problems).toEqual([]);
    note(clients.values());
    const types = new Set(EVERYONE.flatMap((u) => clients.get(u)!.messages.map((m) => m.type)));
    expect(types.has("hello") && types.has("snapshot") && types.has("pong")).toBe(true);

    // REST: the stored calls, once the writer has caught up with every call the supervisor saw end.
    const sam = clients.get("sam")!.messages;
    const lastCopy = new Map<string, any>();
    for (const m of sam) if (m.call) lastCopy.set(m.call.callId, m.call);
    const ended = [...lastCopy.values()].filter((c) => c.state === "ended" && c.mergedInto === null);
    const stored = await waitFor(async () => {
      const r = await restCall(d, "sam", "GET", "/api/calls?limit=1000");
      return r.status === 200 && ended.every((c) => r.json.calls.some((s: any) => s.callId === c.callId)) && r.json.calls;
    }, "stored calls");
    expect(invalidCalls("sam", stored)).toEqual([]);
    for (const c of ended) expect(withoutDone(stored.find((s: any) => s.callId === c.callId)), c.callId).toEqual(c);
    for (const u of EVERYONE.slice(0, -1)) {
      const r = await restCall(d, u, "GET", "/api/calls?limit=1000");
      expect(r.status).toBe(200);
      expect(invalidCalls(u, r.json.calls)).toEqual([]);
    }
  });
});

describe("the session frames validate too", () => {
  it("hello, snapshot, claim acknowledgement, command results, errors, resync, pbx status", async () => {
    const d = await rig.start({ users: E2E_USERS, pop: POP });
    const [connected, rest1] = trace01Halves();
    await d.replay(connected);
    const [call] = d.daemon.tracker.activeCalls();
    const alice = d.connect("alice");
    const tab2 = d.connect("alice");
    const sam = d.connect("sam");
    const [{ hello, snapshot }] = await Promise.all([alice.ready(), tab2.ready(), sam.ready()]);
    expect(hello).toMatchObject({ protocol: 1, subprotocol: "ctibridge.v1" });
    expect(snapshot.calls.map((c: any) => c.callId)).toEqual([call!.callId]);

    alice.send({ type: "claim", callId: call!.callId });
    alice.send({ type: "command", id: "a1", action: "call.annotate", args: { callId: call!.callId, recordId: "C-981", comment: "line one\nline two" } });
    alice.send({ type: "command", id: "a2", action: "call.annotate", args: { callId: call!.callId } });
    alice.send({ type: "command", id: "d1", action: "dial", args: { to: "12ab" } });
    alice.send({ type: "command", id: "x1", action: "no.such" });
    alice.send({ type: "command", action: "hangup", args: { callId: call!.callId } });
    alice.send("not json");
    alice.send({ type: "resume", afterSeq: 0 });
    await alice.sync();
    await tab2.sync();
    await d.replay(rest1);
    d.pbx.dropConnections();
    await waitFor(() => d.resyncs() > 1, "second resync");
    for (const c of [alice, tab2, sam]) await c.sync();

    const types = new Set([alice, tab2, sam].flatMap((c) => c.messages.map((m) => m.type)));
    for (const t of ["call.claimed", "command.result", "error", "resync_required", "call.updated", "call.ended", "pbx.disconnected", "pbx.resynced"]) {
      expect(types.has(t), t).toBe(true);
    }
    // Commands run concurrently: their results come in any order.
    const results = alice.messages.filter((m) => m.type === "command.result").sort((a, b) => a.id.localeCompare(b.id));
    expect(results.map((r) => [r.id, r.ok, r.error?.code ?? null])).toEqual([
      ["a1", true, null],
      ["a2", false, "invalid_argument"],
      ["d1", false, "invalid_argument"],
      ["x1", false, "unknown_action"],
    ]);
    expect(results[0].data).toEqual({ annotation: { recordId: "C-981", comment: "line one\nline two", by: "alice", at: expect.any(String) } });
    // A command without its id is refused as a whole, with an error (no command.result).
    expect(alice.messages.find((m) => m.type === "error" && m.message.startsWith("id:"))).toMatchObject({ code: "invalid_argument", message: "id: Invalid input: expected string, received undefined" });
    expect([...invalidFrames("alice", alice.messages), ...invalidFrames("tab2", tab2.messages), ...invalidFrames("sam", sam.messages)]).toEqual([]);
    note([alice, tab2, sam]);

    // REST annotate answers the same data as the WebSocket.
    const r = await restCall(d, "alice", "POST", `/api/calls/${call!.callId}/annotate`, { disposition: "support" });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, data: { annotation: { recordId: "C-981", comment: "line one\nline two", disposition: "support", by: "alice", at: expect.any(String) } } });
    const bodies: [unknown, z.ZodType][] = [
      [r.json, rest.annotate],
      [(await restCall(d, "alice", "GET", `/api/calls/${call!.callId}/annotations`)).json, rest.annotations],
      [(await restCall(d, "alice", "GET", "/api/calls")).json, rest.calls],
      [(await restCall(d, "bob", "POST", `/api/calls/${call!.callId}/annotate`, { comment: "x" })).json, rest.error],
      [(await restCall(d, "alice", "GET", "/api/calls/nope/annotations")).json, rest.error],
      [(await restCall(d, "alice", "GET", "/api/calls?limit=0")).json, rest.error],
    ];
    for (const [body, schema] of bodies) expect(schema.safeParse(body).error?.issues ?? [], JSON.stringify(body).slice(0, 200)).toEqual([]);
    expect((bodies[1]![0] as any).annotations).toEqual([
      { by: "alice", at: expect.any(String), recordId: "C-981", comment: "line one\nline two" },
      { by: "alice", at: expect.any(String), disposition: "support" },
    ]);
  });
});

describe("the agent desktop frames and REST bodies validate too", () => {
  it("wrap-up agent.state, agent.ready, call.done, queue.state; /api/queues, /api/directory, /api/calls/:id/done, a paged /api/calls", async () => {
    const pbx = await startFakeAmi({ fullyBooted: true });
    pbxs.push(pbx);
    pbx.setList("QueueStatus", [...listing("resync-QueueStatus", "QueueParams"), ...listing("resync-QueueStatus", "QueueMember")]);
    pbx.setList("DeviceStateList", listing("resync-DeviceStateList", "DeviceStateChange"));
    const d = await rig.start({ users: E2E_USERS, pop: POP, pbx, agents: { queueStateIntervalMs: 20, wrapUp: { mode: "until-ready", calls: "all" } } });
    await waitFor(() => d.logs.some((l) => l.msg === "agent state resynced"), "agent resync");
    const alice = d.connect("alice");
    const sam = d.connect("sam");
    await Promise.all([alice.ready(), sam.ready()]);
    await d.replay(stripTracePreamble(traceBytes("07-queue-support-answered")));
    await waitFor(() => alice.messages.some((m) => m.type === "agent.state" && m.state.activity === "wrap_up"), "wrap-up");
    alice.send({ type: "command", id: "r1", action: "agent.ready", args: {} });
    expect(await alice.nextOf("command.result")).toMatchObject({ id: "r1", ok: true });
    await d.replay(stripTracePreamble(traceBytes("03-inbound-missed-caller-abandon")));
    const missed = (await alice.nextOf("call.missed")).call.callId;
    const done = await waitFor(async () => {
      const r = await restCall(d, "alice", "POST", `/api/calls/${missed}/done`, {});
      return r.status === 200 && r.json;
    }, "stored and marked");
    await alice.nextOf("call.done");
    await waitFor(() => sam.messages.some((m) => m.type === "queue.state"), "queue.state");
    await Promise.all([alice.sync(), sam.sync()]);
    expect([...invalidFrames("alice", alice.messages), ...invalidFrames("sam", sam.messages)]).toEqual([]);
    note([alice, sam]);

    const page = (await restCall(d, "sam", "GET", "/api/calls?limit=1")).json;
    expect(page.next).toEqual(expect.any(String));
    const bodies: [unknown, z.ZodType][] = [
      [done, rest.done],
      [(await restCall(d, "sam", "GET", "/api/queues")).json, rest.queues],
      [(await restCall(d, "alice", "GET", "/api/directory")).json, rest.directory],
      [page, rest.calls],
      [(await restCall(d, "sam", "GET", `/api/calls?limit=1&before=${encodeURIComponent(page.next)}`)).json, rest.calls],
    ];
    for (const [body, schema] of bodies) expect(schema.safeParse(body).error?.issues ?? [], JSON.stringify(body).slice(0, 200)).toEqual([]);
  });
});

describe("the cluster frames validate too", () => {
  it("pbx.failover, as a gateway's WebSocket server renders it (test/cluster/ drives it through real workers)", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const sam = d.connect("sam");
    await sam.ready();
    d.daemon.cti.pbxStatus("failover", { pbxId: "berlin", calls: 2 });
    await sam.sync();
    expect(sam.messages.find((m) => m.type === "pbx.failover")).toMatchObject({ pbxId: "berlin", calls: 2 });
    expect(invalidFrames("sam", sam.messages)).toEqual([]);
    note([sam]);
  });
});

describe("coverage", () => {
  it("every server frame type of the schema was received and validated above", () => {
    const all = serverMessage.options.flatMap((o: any) => (o.options ?? [o]).map((x: any) => x.shape.type.value as string));
    expect(all.filter((t) => !validated.has(t))).toEqual([]);
    expect(new Set(all).size).toBe(23);
  });
});

describe("protocol version negotiation", () => {
  const open = (d: RunningDaemon, protocols: string[], headers: Record<string, string> = {}) =>
    new TestClient(new WebSocket(`ws://127.0.0.1:${d.port}${d.config.server.wsPath}`, protocols, { headers }));

  it("selects the version offered beside the token, and hello names it", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const c = open(d, ["ctibridge.v1", `bearer.${d.token("alice")}`]);
    const { hello } = await c.ready();
    expect(c.ws.protocol).toBe("ctibridge.v1");
    expect(hello).toMatchObject({ type: "hello", protocol: 1, subprotocol: "ctibridge.v1" });
    c.ws.terminate();
  });

  it("picks the highest version it speaks from an offer of several", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const c = open(d, ["ctibridge.v9", "ctibridge.v1", `bearer.${d.token("alice")}`]);
    const { hello } = await c.ready();
    expect([c.ws.protocol, hello.subprotocol]).toEqual(["ctibridge.v1", "ctibridge.v1"]);
    c.ws.terminate();
  });

  it("no subprotocol offered (token in the Authorization header): protocol 1, subprotocol null", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const c = open(d, [], { Authorization: `Bearer ${d.token("alice")}` });
    const { hello } = await c.ready();
    expect(hello).toMatchObject({ protocol: 1, subprotocol: null });
    c.ws.terminate();
  });

  it.each([
    ["only a version we do not speak", (t: string) => ["ctibridge.v2", `bearer.${t}`]],
    ["only the token", (t: string) => [`bearer.${t}`]],
  ])("refuses %s with HTTP 400 and a one-line reason, before the token is looked at", async (_what, offer) => {
    const d = await rig.start({ users: E2E_USERS });
    const res = await new Promise<{ status: number; body: string }>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${d.port}${d.config.server.wsPath}`, offer(d.token("alice")));
      ws.on("error", () => undefined);
      ws.on("unexpected-response", (_req, r) => {
        let body = "";
        r.on("data", (b) => (body += String(b)));
        r.on("end", () => resolve({ status: r.statusCode ?? 0, body }));
      });
    });
    expect(res).toEqual({ status: 400, body: "no supported protocol version offered; this server speaks ctibridge.v1\n" });
    const line = d.logs.find((l) => l.msg === "upgrade refused, no protocol version we speak");
    expect(line).toBeDefined();
    // The token never reaches the log.
    expect(JSON.stringify(line)).not.toContain(d.token("alice"));
  });
});
