import { describe, expect, it } from "vitest";
import { parseIncoming } from "../../src/publish/incoming.js";
import { Journal, type JournalEntry } from "../../src/publish/journal.js";
import { renderPopUrl, toCallSnapshot } from "../../src/publish/protocol.js";
import { renderEntry, type Recipient } from "../../src/publish/render.js";
import { leg, makeCall, party, T0 } from "../helpers/calls.js";

const alice: Recipient = { id: "c1", userId: "alice", role: "agent", scope: { kind: "own" }, popTiming: "ringing" };
const sue: Recipient = { id: "c2", userId: "sue", role: "supervisor", scope: { kind: "all" }, popTiming: "ringing" };

function docCall() {
  return makeCall({
    callId: "c-7f3a",
    linkedIds: ["1717232400.17"],
    from: party("+4930123456", { display: "Anna Schmidt", name: "Anna Schmidt" }),
    to: party("200", { display: "Support" }),
    did: "+4930555000",
    didRaw: "4930555000",
    queue: "support",
    legs: [leg("alice", "PJSIP/1001"), leg("bob", "PJSIP/1002")],
    ivr: { TICKET: "4711" },
    match: { status: "single", count: 1, records: [{ name: "Anna Schmidt", company: "Acme GmbH", recordId: "C-981", url: "https://crm.example/c/981", matchedOn: "e164" }] },
  });
}

describe("protocol JSON (the examples in docs/protocol.md)", () => {
  it("call.ringing as agent alice receives it", () => {
    const snapshot = toCallSnapshot(docCall(), "https://crm.example/pop?phone={e164}&ticket={ivr.TICKET}");
    const entry: JournalEntry = { kind: "call", seq: 18231, ts: new Date(T0).toISOString(), type: "call.ringing", userId: "alice", callId: "c-7f3a", queue: "support", at: T0, snapshot };
    expect(JSON.parse(JSON.stringify(renderEntry(alice, entry)))).toMatchInlineSnapshot(`
      {
        "call": {
          "annotation": null,
          "answeredBy": null,
          "callId": "c-7f3a",
          "clickToDial": false,
          "conference": null,
          "did": "+4930555000",
          "didRaw": "4930555000",
          "direction": "inbound",
          "endReason": null,
          "from": {
            "display": "Anna Schmidt",
            "e164": "+4930123456",
            "name": "Anna Schmidt",
            "raw": "+4930123456",
          },
          "hangupCause": null,
          "ivr": {
            "TICKET": "4711",
          },
          "legs": [
            {
              "answeredAt": null,
              "device": "PJSIP/1001",
              "endedAt": null,
              "outcome": null,
              "placed": false,
              "ringingAt": "2024-06-01T09:00:00.000Z",
              "state": "ringing",
              "talkSeconds": null,
              "userId": "alice",
              "waitSeconds": null,
            },
          ],
          "linkedIds": [
            "1717232400.17",
          ],
          "match": {
            "count": 1,
            "records": [
              {
                "company": "Acme GmbH",
                "matchedOn": "e164",
                "name": "Anna Schmidt",
                "recordId": "C-981",
                "url": "https://crm.example/c/981",
              },
            ],
            "status": "single",
          },
          "mergedInto": null,
          "outcome": null,
          "park": null,
          "popUrl": "https://crm.example/pop?phone=%2B4930123456&ticket=4711",
          "queue": "support",
          "recording": null,
          "restored": false,
          "state": "ringing",
          "times": {
            "answered": null,
            "ended": null,
            "ringing": "2024-06-01T09:00:00.000Z",
            "started": "2024-06-01T09:00:00.000Z",
            "talkSeconds": null,
            "waitSeconds": null,
          },
          "to": {
            "display": "Support",
            "e164": null,
            "name": null,
            "raw": "200",
          },
          "transfer": null,
        },
        "pop": true,
        "seq": 18231,
        "ts": "2024-06-01T09:00:00.000Z",
        "type": "call.ringing",
        "userId": "alice",
        "v": 1,
      }
    `);
  });

  it("call.ringing_stopped and call.missed carry their extras; a supervisor sees every leg", () => {
    const snapshot = toCallSnapshot(docCall(), undefined);
    const base = { kind: "call" as const, ts: new Date(T0 + 20_000).toISOString(), userId: null, callId: "c-7f3a", queue: "support", at: T0 + 20_000, snapshot };
    const stopped = renderEntry(sue, { ...base, seq: 18240, type: "call.ringing_stopped", reason: "caller_hangup" });
    expect(stopped).toMatchObject({ type: "call.ringing_stopped", reason: "caller_hangup", userId: "sue", pop: false });
    expect((stopped as { call: { legs: unknown[] } }).call.legs).toHaveLength(2);
    const missed = renderEntry(alice, { ...base, seq: 18241, type: "call.missed", userId: "alice" });
    expect(missed).toMatchObject({ type: "call.missed", callbackNumber: "+4930123456" });
  });

  it("agent.state and pbx status", () => {
    expect(renderEntry(sue, { kind: "agent", seq: 18250, ts: new Date(T0).toISOString(), userId: "alice", state: { deviceState: "not_inuse", queues: [{ queue: "support", loggedIn: true, paused: true, reason: "lunch" }], activity: "paused", wrapUp: null } })).toMatchInlineSnapshot(`
      {
        "agent": "alice",
        "seq": 18250,
        "state": {
          "activity": "paused",
          "deviceState": "not_inuse",
          "queues": [
            {
              "loggedIn": true,
              "paused": true,
              "queue": "support",
              "reason": "lunch",
            },
          ],
          "wrapUp": null,
        },
        "ts": "2024-06-01T09:00:00.000Z",
        "type": "agent.state",
        "userId": "sue",
        "v": 1,
      }
    `);
    expect(renderEntry(alice, { kind: "pbx", seq: 18251, ts: new Date(T0).toISOString(), type: "pbx.disconnected", reason: "connection refused", calls: null })).toMatchInlineSnapshot(`
      {
        "reason": "connection refused",
        "seq": 18251,
        "ts": "2024-06-01T09:00:00.000Z",
        "type": "pbx.disconnected",
        "userId": "alice",
        "v": 1,
      }
    `);
    expect(renderEntry(alice, { kind: "pbx", seq: 18252, ts: new Date(T0).toISOString(), type: "pbx.resynced", reason: null, calls: 3 })).toMatchInlineSnapshot(`
      {
        "calls": 3,
        "seq": 18252,
        "ts": "2024-06-01T09:00:00.000Z",
        "type": "pbx.resynced",
        "userId": "alice",
        "v": 1,
      }
    `);
  });

  it("renders pop URLs URL-encoded, outbound from the called party, empty for unknown keys", () => {
    const call = makeCall({ direction: "outbound", to: party("+33 1 23"), ivr: { A: "x&y" } });
    expect(renderPopUrl("https://x/?n={e164}&r={raw}&a={ivr.A}&z={ivr.NONE}&id={callId}", call)).toBe(`https://x/?n=%2B33%201%2023&r=%2B33%201%2023&a=x%26y&z=&id=${call.callId}`);
    expect(renderPopUrl(undefined, call)).toBeNull();
  });

});

describe("incoming messages", () => {
  it.each([
    ['{"type":"resume","afterSeq":18230}', { ok: true }],
    ['{"type":"claim","callId":"c-7f3a"}', { ok: true }],
    ['{"type":"subscribe","users":["alice"],"queues":["support"]}', { ok: true }],
    ['{"type":"command","id":"42","action":"dial","args":{"to":"+4930123456"}}', { ok: true }],
    ['{"type":"ping"}', { ok: true }],
    ['{"type":"ping","extra":1}', { ok: false, code: "invalid_argument" }],
    ['{"type":"command","id":"1","action":"Originate\\r\\n","args":{}}', { ok: false, code: "invalid_argument", ref: "1" }],
    ['"hello"', { ok: false, code: "bad_message" }],
    ['{"afterSeq":1}', { ok: false, code: "unknown_type" }],
  ])("%s", (text, expected) => {
    expect(parseIncoming(text)).toMatchObject(expected);
  });
});

describe("Journal", () => {
  const entry = (seq: number): JournalEntry => ({ kind: "pbx", seq, ts: "", type: "pbx.resynced", reason: null, calls: null });

  it("returns a contiguous range, or null once entries were evicted", () => {
    const j = new Journal(3, 100);
    for (let i = 0; i < 5; i++) {
      const e = entry(j.nextSeq());
      j.push(e);
    }
    expect(j.oldestSeq()).toBe(103);
    expect(j.range(102, 105)!.map((e) => e.seq)).toEqual([103, 104, 105]);
    expect(j.range(103, 104)!.map((e) => e.seq)).toEqual([104]);
    expect(j.range(105, 105)).toEqual([]);
    expect(j.range(101, 105)).toBeNull();
    expect(new Journal(0).range(0, 1)).toBeNull();
  });

  it("journals under given seqs with gaps (a cluster gateway's stream sequence) and still detects eviction", () => {
    const j = new Journal(3, 9);
    for (const seq of [10, 12, 13, 17]) j.push(entry(j.assign(seq)));
    expect(() => j.assign(17)).toThrow();
    expect(j.lastSeq).toBe(17);
    expect(j.oldestSeq()).toBe(12);
    expect(j.range(10, 17)!.map((e) => e.seq)).toEqual([12, 13, 17]);
    expect(j.range(11, 17)!.map((e) => e.seq)).toEqual([12, 13, 17]);
    expect(j.range(12, 16)!.map((e) => e.seq)).toEqual([13]);
    expect(j.range(14, 17)!.map((e) => e.seq)).toEqual([17]);
    // 10 was evicted: a client that saw only up to 9 missed it.
    expect(j.range(9, 17)).toBeNull();
  });
});
