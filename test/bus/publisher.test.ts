/**
 * The PBX worker's publisher without NATS: a sink that stores like a stream with a duplicate
 * window (by message id) and fails on demand. Order is kept, nothing is lost, a publish retried
 * after a lost ack is stored once; subjects never split on odd ids.
 */
import { describe, expect, it } from "vitest";
import { subjectOf, token, type BusEntry } from "../../src/bus/entry.js";
import { BusPublisher, type PublishSink } from "../../src/bus/publisher.js";
import { memoryLogger } from "../../src/log.js";

class FakeStream implements PublishSink {
  stored: { subject: string; entry: BusEntry; msgId: string }[] = [];
  /** Calls to fail, by the message's counter; `lostAck`: stored, but the ack never comes. */
  fail = new Map<number, "refused" | "lostAck">();
  async publish(subject: string, data: string, msgId: string) {
    const n = Number(msgId.split(":")[2]);
    const mode = this.fail.get(n);
    this.fail.delete(n);
    const dup = this.stored.findIndex((s) => s.msgId === msgId);
    if (mode === "refused") throw new Error("no responders");
    if (dup < 0) this.stored.push({ subject, entry: JSON.parse(data) as BusEntry, msgId });
    if (mode === "lostAck") throw new Error("timeout");
    return { seq: (dup < 0 ? this.stored.length : dup + 1), duplicate: dup >= 0 };
  }
}

const status = (n: number) => ({ kind: "pbx" as const, status: "resynced" as const, info: { calls: n } });

describe("BusPublisher", () => {
  it("keeps order and loses nothing when a publish is refused or its ack is lost; retried ones are stored once", async () => {
    const sink = new FakeStream();
    sink.fail.set(3, "lostAck");
    sink.fail.set(7, "refused");
    const pub = new BusPublisher({ sink, pbxId: "berlin", log: memoryLogger("silent").log, retryMs: 1, now: () => 5 });
    pub.setTerm(42);
    for (let i = 1; i <= 10; i++) pub.offer(status(i));
    await pub.flushed();
    expect(sink.stored.map((s) => (s.entry.ev as ReturnType<typeof status>).info.calls)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(sink.stored.map((s) => s.msgId).slice(0, 3)).toEqual(["berlin:42:1", "berlin:42:2", "berlin:42:3"]);
    expect(sink.stored[0]).toMatchObject({ subject: "cti.berlin.pbx", entry: { pbxId: "berlin", term: 42, sentAt: 5 } });
    expect(pub.stored).toBe(10);
  });

  it("with a window above 1, a refused publish may come after later ones (why the default is 1)", async () => {
    const sink = new FakeStream();
    sink.fail.set(2, "refused");
    const pub = new BusPublisher({ sink, pbxId: "berlin", log: memoryLogger("silent").log, retryMs: 1, window: 4 });
    for (let i = 1; i <= 4; i++) pub.offer(status(i));
    await pub.flushed();
    expect(sink.stored.map((s) => (s.entry.ev as ReturnType<typeof status>).info.calls)).toEqual([1, 3, 4, 2]);
  });

  it("stamps calls and agent states with the PBX id", async () => {
    const sink = new FakeStream();
    const pub = new BusPublisher({ sink, pbxId: "berlin", log: memoryLogger("silent").log });
    const call = { callId: "c-1" } as never;
    pub.offer({ kind: "call", event: { name: "callUpdated", userId: null, call, at: 1 } });
    pub.offer({ kind: "agent", userId: "a.b c", state: { deviceState: null, queues: [], activity: "idle", wrapUp: null } });
    await pub.flushed();
    expect(sink.stored.map((s) => s.subject)).toEqual(["cti.berlin.call.c-1", "cti.berlin.agent.a~2eb~20c"]);
    expect(sink.stored[0]!.entry.ev).toMatchObject({ event: { call: { callId: "c-1", pbxId: "berlin" } } });
    expect(sink.stored[1]!.entry.ev).toMatchObject({ state: { pbxId: "berlin" } });
  });

  it("subject tokens: plain ids stay, anything else is escaped injectively", () => {
    expect(token("alice_1-x")).toBe("alice_1-x");
    expect(token("a.b")).not.toBe(token("a~2eb".replace("~", "_")));
    expect(new Set(["a.b", "a*b", "a>b", "a b", "a~2eb"].map(token)).size).toBe(5);
    expect(subjectOf({ pbxId: "p", term: 1, sentAt: 0, ev: { kind: "agent", userId: "*", state: {} as never } })).toBe("cti.p.agent.~2a");
  });
});
