/**
 * A gateway's feed: each stream message goes to the WebSocket server under its stream sequence,
 * and a frame without a time of its own (agent state, PBX status, done mark) carries when the
 * worker saw the fact, as a standalone daemon stamps it, not when this gateway read it (a
 * gateway that starts later reads minutes of the stream at once). The comparison of both modes
 * over every recorded trace: test/cluster/sameFrames.test.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { forwardCommand, gatewayFeed, type WorkerReply } from "../../src/bus/gatewayFeed.js";
import type { BusEntry, StreamEvent } from "../../src/bus/entry.js";
import { LiveView } from "../../src/bus/liveView.js";
import { memoryLogger } from "../../src/log.js";
import { startHarness, type Harness } from "../helpers/cti.js";

const SAW = Date.parse("2026-11-30T09:00:00.000Z");
const READ = SAW + 5 * 60_000;
/** Above the harness's journal base (its clock × 1000), as a gateway's seqBase keeps stream sequences. */
const S = READ * 1000;

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

describe("gatewayFeed", () => {
  it("frames take the stream sequence and the worker's time of the fact, not the gateway's read time", async () => {
    h = await startHarness({ now: () => READ });
    const sue = h.connect(await h.sign("sue", { role: "supervisor" }));
    const alice = h.connect(await h.sign("alice"));
    await sue.ready();
    await alice.ready();
    const feed = gatewayFeed({ cti: h.cti, view: new LiveView(60_000), log: memoryLogger("silent").log });
    const entry = (ev: StreamEvent, sentAt: number): BusEntry => ({ pbxId: "berlin", term: 1, sentAt, ev });
    feed.onEntry({ seq: S + 1, entry: entry({ kind: "agent", userId: "alice", state: { deviceState: "ringing", queues: [], activity: "ringing", wrapUp: null, pbxId: "berlin" } }, SAW) });
    feed.onEntry({ seq: S + 2, entry: entry({ kind: "pbx", status: "disconnected", info: { reason: "connection closed" } }, SAW + 1000) });
    feed.onEntry({ seq: S + 3, entry: entry({ kind: "done", done: { userId: "alice", callId: "c-1", queue: null, doneAt: "2026-11-30T08:59:00.000Z", by: "alice", reason: "marked" } }, SAW + 2000) });
    await sue.sync();
    await alice.sync();
    const live = (msgs: any[]) => msgs.filter((m) => m.type !== "hello" && m.type !== "snapshot" && m.type !== "pong").map((m) => [m.type, m.seq, m.ts]);
    const want = [
      ["agent.state", S + 1, "2026-11-30T09:00:00.000Z"],
      ["pbx.disconnected", S + 2, "2026-11-30T09:00:01.000Z"],
      ["call.done", S + 3, "2026-11-30T09:00:02.000Z"],
    ];
    expect(live(sue.messages)).toEqual(want);
    expect(live(alice.messages)).toEqual(want);
    // Replies keep the gateway's own time.
    expect(sue.messages.find((m) => m.type === "pong").ts).toBe(new Date(READ).toISOString());
  });

  it("a command's result comes after the facts it caused: the gateway answers once it applied the worker's appliedSeq", async () => {
    h = await startHarness({ now: () => READ });
    const view = new LiveView(60_000);
    const feed = gatewayFeed({ cti: h.cti, view, log: memoryLogger("silent").log });
    const entry = (ev: StreamEvent): BusEntry => ({ pbxId: "berlin", term: 1, sentAt: SAW, ev });
    feed.onEntry({ seq: S + 1, entry: entry({ kind: "agent", userId: "alice", state: { deviceState: "not_inuse", queues: [], activity: "idle", wrapUp: null, pbxId: "berlin" } }) });
    // The worker marked the call done (its fact stored as S + 2), then replied, naming S + 2; the
    // gateway has not read S + 2 yet.
    const sent: string[] = [];
    const forward = forwardCommand({
      view,
      request: async (): Promise<WorkerReply> => ({ ok: true, data: { callId: "c-1", users: ["alice"], doneAt: "2026-11-30T08:59:00.000Z" }, appliedSeq: S + 2 }),
      timeoutMs: 1_000,
      log: memoryLogger("silent").log,
      applied: feed.applied,
    });
    const result = forward({ userId: "alice", role: "agent", devices: ["PJSIP/1001"], expiresAt: null, tokenId: "t" }, { id: "d1", action: "call.done", args: { callId: "c-1" }, connectionId: "x" }).then((r) => {
      sent.push("result");
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(sent).toEqual([]);
    feed.onEntry({ seq: S + 2, entry: entry({ kind: "done", done: { userId: "alice", callId: "c-1", queue: null, doneAt: "2026-11-30T08:59:00.000Z", by: "alice", reason: "marked" } }) });
    sent.push("fact applied");
    // The reply's appliedSeq is the gateway's business: the client's result is the worker's result.
    expect(await result).toEqual({ ok: true, data: { callId: "c-1", users: ["alice"], doneAt: "2026-11-30T08:59:00.000Z" } });
    expect(sent).toEqual(["fact applied", "result"]);
  });
});
