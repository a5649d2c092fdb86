/**
 * The agent desktop's server side end to end (issue 11): missed calls marked done live across
 * tabs (WS `call.done`, REST `POST /api/calls/:id/done`, `ctibridge calls --missed --open`),
 * the call log paged back with `before`/`next`, the supervisor board (`GET /api/queues`, the
 * `queue.state` frame) from recorded queue traces, and the directory for the transfer picker.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AmiDecoder } from "../../src/ami/codec.js";
import { buildCli, type CliIo } from "../../src/cli/cli.js";
import type { AmiServer } from "../../src/sim/amiServer.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { DaemonRig, E2E_USERS, waitFor, type RunningDaemon } from "../helpers/daemon.js";
import { startFakeAmi } from "../helpers/fakeAmiServer.js";
import { finalCall, seedCalls } from "../helpers/seedCalls.js";
import { traceBytes } from "../helpers/traces.js";

const rig = new DaemonRig();
const pbxs: AmiServer[] = [];
afterEach(async () => {
  await rig.close();
  for (const p of pbxs.splice(0)) await p.close();
});

async function rest(d: RunningDaemon, who: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://127.0.0.1:${d.port}${path}`, {
    method,
    headers: { Authorization: `Bearer ${d.token(who)}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

async function cli(d: RunningDaemon, args: string[]): Promise<string> {
  const cfg = join(mkdtempSync(join(tmpdir(), "ctib-desk-")), "c.yaml");
  writeFileSync(cfg, `store: { path: "${d.dbPath}" }\nlog: { level: silent }\n`);
  let out = "";
  const io: CliIo = { env: {}, out: (t) => void (out += t), err: () => undefined, isTTY: false, onSignal: () => undefined, exit: (c) => { throw new Error(`exit ${c}`); } };
  await buildCli(io).parseAsync(["node", "ctibridge", ...args, "--config", cfg]);
  return out;
}

function listing(actionId: string, event: string): [string, string][][] {
  return new AmiDecoder()
    .push(traceBytes("25-resync-actions"))
    .filter((m) => m.get("ActionID") === actionId && m.event === event)
    .map((m) => m.keys.map((k, i) => [k, m.values[i]!] as [string, string]).filter(([k]) => k !== "ActionID"));
}

const trace = (name: string) => stripTracePreamble(traceBytes(name));

describe("missed calls done", () => {
  it("trace 03: alice marks her missed call done in one tab; her other tab and the supervisor get call.done; the open list and the CLI follow", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const tab1 = d.connect("alice");
    const tab2 = d.connect("alice");
    const sam = d.connect("sam");
    const bob = d.connect("bob");
    await Promise.all([tab1.ready(), tab2.ready(), sam.ready(), bob.ready()]);
    await d.replay(trace("03-inbound-missed-caller-abandon"));
    const callId = (await tab1.nextOf("call.missed")).call.callId;
    await waitFor(async () => (await rest(d, "alice", "GET", "/api/calls?missed=1&open=1")).json.calls.length === 1, "stored");
    expect(await cli(d, ["calls", "--missed", "--open", "--json"])).not.toBe("");

    // Bob is no party of it: refused, nothing marked.
    expect(await rest(d, "bob", "POST", `/api/calls/${callId}/done`, {})).toEqual({ status: 403, json: { error: { code: "forbidden", message: "not a call of this user" } } });
    tab1.send({ type: "command", id: "d1", action: "call.done", args: { callId } });
    const result = await tab1.nextOf("command.result");
    expect(result).toEqual({ v: 1, seq: expect.any(Number), ts: expect.any(String), userId: "alice", type: "command.result", id: "d1", ok: true, data: { callId, users: ["alice"], doneAt: expect.any(String) } });
    const doneAt = result.data.doneAt;
    const frame = { v: 1, seq: expect.any(Number), ts: expect.any(String), type: "call.done", callId, user: "alice", doneAt, by: "alice", reason: "marked" };
    expect(await tab2.nextOf("call.done")).toEqual({ ...frame, userId: "alice" });
    expect(tab1.messages.filter((m) => m.type === "call.done")).toEqual([{ ...frame, userId: "alice" }]);
    expect(await sam.nextOf("call.done")).toEqual({ ...frame, userId: "sam" });
    await bob.sync();
    expect(bob.messages.filter((m) => m.type === "call.done")).toEqual([]);

    expect((await rest(d, "alice", "GET", "/api/calls?missed=1&open=1")).json.calls).toEqual([]);
    const all = (await rest(d, "alice", "GET", "/api/calls?missed=1")).json.calls;
    expect(all.map((c: any) => c.legs.map((l: any) => [l.userId, l.outcome, l.done]))).toEqual([[["alice", "missed", true]]]);
    expect(await cli(d, ["calls", "--missed", "--open"])).toBe("");
    expect(await cli(d, ["calls", "--missed"])).toContain("alice:missed(done)");
    // Done already: the second mark is refused over both paths.
    tab2.send({ type: "command", id: "d2", action: "call.done", args: { callId } });
    expect(await tab2.nextOf("command.result")).toMatchObject({ id: "d2", ok: false, error: { code: "invalid_state", message: "no open missed call to mark done" } });
    expect(await rest(d, "alice", "POST", `/api/calls/${callId}/done`, {})).toEqual({ status: 409, json: { error: { code: "invalid_state", message: "no open missed call to mark done" } } });
    expect(await rest(d, "alice", "POST", `/api/calls/${callId}/done`, { user: 5 })).toMatchObject({ status: 400, json: { error: { code: "invalid_argument" } } });
  });

  it("a tab that was away gets the call.done on resume (journaled like every seq'd message)", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const tab1 = d.connect("alice");
    await tab1.ready();
    await d.replay(trace("03-inbound-missed-caller-abandon"));
    const missed = await tab1.nextOf("call.missed");
    await waitFor(async () => (await rest(d, "alice", "GET", "/api/calls?missed=1&open=1")).json.calls.length === 1, "stored");
    const marked = await rest(d, "alice", "POST", `/api/calls/${missed.call.callId}/done`, {});
    expect(marked.status).toBe(200);
    const later = d.connect("alice");
    await later.ready();
    later.send({ type: "resume", afterSeq: missed.seq });
    const done = await later.nextOf("call.done");
    expect(done).toMatchObject({ callId: missed.call.callId, user: "alice", by: "alice", reason: "marked", doneAt: marked.json.data.doneAt });
    expect(done.seq).toBeGreaterThan(missed.seq);
  });

  it("trace 08: the supervisor marks every missed leg of the queue call done (REST); an agent may not mark a colleague's", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const alice = d.connect("alice");
    const bob = d.connect("bob");
    await Promise.all([alice.ready(), bob.ready()]);
    await d.replay(trace("08-queue-support-abandoned"));
    const callId = (await alice.nextOf("call.missed")).call.callId;
    await waitFor(async () => (await rest(d, "sam", "GET", "/api/calls?missed=1&open=1")).json.calls.length === 1, "stored");
    expect((await rest(d, "alice", "POST", `/api/calls/${callId}/done`, { user: "bob" })).status).toBe(403);
    const r = await rest(d, "sam", "POST", `/api/calls/${callId}/done`, {});
    expect(r).toEqual({ status: 200, json: { ok: true, data: { callId, users: ["alice", "bob"], doneAt: expect.any(String) } } });
    expect(await alice.nextOf("call.done")).toMatchObject({ callId, user: "alice", by: "sam", reason: "marked" });
    expect(await bob.nextOf("call.done")).toMatchObject({ callId, user: "bob", by: "sam", reason: "marked" });
  });

  it("an answered call back to the number closes the missed leg live: call.done with reason called_back", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const alice = d.connect("alice");
    await alice.ready();
    await d.replay(trace("03-inbound-missed-caller-abandon"));
    const callId = (await alice.nextOf("call.missed")).call.callId;
    await waitFor(async () => (await rest(d, "alice", "GET", "/api/calls?missed=1&open=1")).json.calls.length === 1, "stored");
    // Trace 11: alice dials out and is answered; here she dials the number that missed her.
    const back = Buffer.from(trace("11-outbound-answered").toString("latin1").replaceAll("0301234567", "0891234567"), "latin1");
    await d.replay(back);
    const done = await alice.nextOf("call.done");
    expect(done).toEqual({ v: 1, seq: expect.any(Number), ts: expect.any(String), userId: "alice", type: "call.done", callId, user: "alice", doneAt: expect.any(String), by: "alice", reason: "called_back" });
    const calls = (await rest(d, "alice", "GET", "/api/calls")).json.calls;
    expect(calls.map((c: any) => [c.direction, c.outcome, c.direction === "outbound" ? c.to.e164 : c.from.e164])).toEqual([
      ["outbound", "answered", "+49891234567"],
      ["inbound", "abandoned", "+49891234567"],
    ]);
    expect(done.doneAt).toBe(calls[0].times.ended);
    expect(calls[1].legs).toEqual([expect.objectContaining({ userId: "alice", outcome: "missed", done: true })]);
  });
});

describe("the call log paged back", () => {
  it("limit 2 with before=next walks every stored call once, newest first, ties by callId; an ISO before works too; a bad cursor is refused", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const base = await finalCall("01-inbound-answered");
    const starts = ["2026-11-01T09:00:00.000Z", "2026-11-01T09:00:00.000Z", "2026-11-01T09:00:00.000Z", "2026-11-02T09:00:00.000Z", "2026-11-03T09:00:00.000Z"];
    seedCalls(d.daemon.db, base, starts, "p");
    const pages: string[][] = [];
    let next: string | null = null;
    for (let i = 0; i < 10; i++) {
      const r = await rest(d, "alice", "GET", `/api/calls?limit=2${next ? `&before=${next}` : ""}`);
      expect(r.status).toBe(200);
      pages.push(r.json.calls.map((c: any) => c.callId));
      next = r.json.next;
      if (next === null) break;
    }
    expect(pages).toEqual([["p-4", "p-3"], ["p-2", "p-1"], ["p-0"]]);
    const iso = await rest(d, "alice", "GET", "/api/calls?before=2026-11-02T09:00:00.000Z");
    expect(iso.json).toEqual({ calls: [expect.objectContaining({ callId: "p-2" }), expect.objectContaining({ callId: "p-1" }), expect.objectContaining({ callId: "p-0" })], next: null });
    expect(await rest(d, "alice", "GET", "/api/calls?before=bm90IGEgY3Vyc29y")).toEqual({ status: 400, json: { error: { code: "invalid_argument", message: "before: expected an ISO date-time or the next cursor of a listing" } } });
  });
});

describe("the supervisor board", () => {
  async function boardDaemon(queueStateIntervalMs = 20) {
    const pbx = await startFakeAmi({ fullyBooted: true });
    pbxs.push(pbx);
    pbx.setList("QueueStatus", [...listing("resync-QueueStatus", "QueueParams"), ...listing("resync-QueueStatus", "QueueMember")]);
    pbx.setList("DeviceStateList", listing("resync-DeviceStateList", "DeviceStateChange"));
    // A fixed day (10:00 UTC, running on from the test's start): "today" does not depend on when the test runs.
    const t0 = Date.now();
    const now = () => Date.parse("2026-11-30T10:00:00.000Z") + (Date.now() - t0);
    const d = await rig.start({ users: E2E_USERS, pbx, now, agents: { queueStateIntervalMs, timezone: "Europe/Berlin" } });
    await waitFor(() => d.logs.some((l) => l.msg === "agent state resynced"), "agent resync");
    return d;
  }

  it("traces 07 (answered) and 08 (abandoned): GET /api/queues counts them for today, a waiting caller shows while 08 waits; agents get 403", async () => {
    const d = await boardDaemon();
    const sam = d.connect("sam");
    await sam.ready();
    await d.replay(trace("07-queue-support-answered"));
    const t08 = trace("08-queue-support-abandoned").toString("latin1");
    const cut = t08.indexOf("Event: QueueCallerAbandon");
    await d.replay(Buffer.from(t08.slice(0, cut), "latin1"));
    const waiting = (await rest(d, "sam", "GET", "/api/queues")).json;
    expect(waiting.timezone).toBe("Europe/Berlin");
    expect(waiting.todayFrom).toBe("2026-11-29T23:00:00.000Z");
    const sup = waiting.queues.find((q: any) => q.queue === "support");
    expect(sup).toMatchObject({ waiting: 1, callers: [{ from: { raw: "0309876543" }, since: expect.any(String) }] });
    expect(sup.longestWaitSeconds).toBe(sup.callers[0].waitSeconds);

    await d.replay(Buffer.from(t08.slice(cut), "latin1"));
    await waitFor(async () => (await rest(d, "sam", "GET", "/api/calls")).json.calls.length === 2, "stored");
    const stored = (await rest(d, "sam", "GET", "/api/calls")).json.calls;
    const answered = stored.find((c: any) => c.outcome === "answered");
    const board = (await rest(d, "sam", "GET", "/api/queues")).json;
    const support = board.queues.find((q: any) => q.queue === "support");
    expect(support).toEqual({
      queue: "support",
      members: [
        { userId: "alice", name: "Alice Agent", interface: "PJSIP/1001", deviceState: "not_inuse", loggedIn: true, paused: false, reason: null, inCall: false, activity: "idle" },
        { userId: "bob", name: "Bob Agent", interface: "PJSIP/1002", deviceState: "not_inuse", loggedIn: true, paused: false, reason: null, inCall: false, activity: "idle" },
      ],
      waiting: 0,
      longestWaitSeconds: null,
      callers: [],
      today: { answered: 1, abandoned: 1, avgWaitSeconds: Math.round(answered.times.waitSeconds * 10) / 10 },
    });
    expect(board.queues.map((q: any) => q.queue)).toEqual(["sales", "support"]);
    // The live frame: the latest queue.state for support says what GET says.
    await waitFor(() => sam.messages.filter((m) => m.type === "queue.state" && m.queue.queue === "support").at(-1)?.queue.today.abandoned === 1, "queue.state");
    expect(sam.messages.filter((m) => m.type === "queue.state" && m.queue.queue === "support").at(-1)).toMatchObject({ type: "queue.state", userId: "sam", queue: support });
    expect(await rest(d, "alice", "GET", "/api/queues")).toEqual({ status: 403, json: { error: { code: "forbidden", message: "the queue board is for supervisors" } } });
  });

  it("queue.state goes to supervisors only (the coalescing: test/queueBoard.test.ts)", async () => {
    const d = await boardDaemon();
    const sam = d.connect("sam");
    const alice = d.connect("alice");
    await Promise.all([sam.ready(), alice.ready()]);
    await d.replay(trace("07-queue-support-answered"));
    await waitFor(() => sam.messages.some((m) => m.type === "queue.state"), "queue.state");
    await d.replay(trace("08-queue-support-abandoned"));
    await Promise.all([sam.sync(), alice.sync()]);
    expect(alice.messages.filter((m) => m.type === "queue.state")).toEqual([]);
    await waitFor(() => sam.messages.filter((m) => m.type === "queue.state").at(-1)?.queue.today.abandoned === 1, "08 counted");
    expect(new Set(sam.messages.filter((m) => m.type === "queue.state").map((m) => m.queue.queue))).toEqual(new Set(["support"]));
  });

  it("GET /api/directory: every user with name, role, devices and extensions, for any authenticated user, no secrets", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const r = await rest(d, "alice", "GET", "/api/directory");
    expect(r.status).toBe(200);
    expect(r.json.users.find((u: any) => u.id === "bob")).toEqual({ id: "bob", name: "Bob Agent", role: "agent", devices: ["PJSIP/1002"], extensions: ["1002"] });
    expect(r.json.users.find((u: any) => u.id === "sam")).toEqual({ id: "sam", name: "Sam", role: "supervisor", devices: [], extensions: [] });
    expect(Object.keys(r.json.users[0]).sort()).toEqual(["devices", "extensions", "id", "name", "role"]);
    const anon = await fetch(`http://127.0.0.1:${d.port}/api/directory`);
    expect(anon.status).toBe(401);
  });
});
