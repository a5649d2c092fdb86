/**
 * How the tracker stores an open call (issue 12: at most 2,000 B per active call, measured by
 * `npm run bench -- --only call-memory`): a leg table without a Map, a leg record and a channel
 * record with their booleans in one word and their live channel ids as one id or a list, the
 * call's facts as flags, one shared empty `ivr` written copy-on-write. The storage changed, the
 * behaviour must not: these pin what each structure promises.
 */
import { describe, expect, it } from "vitest";
import type { ChannelInfo, PbxEvent } from "../../src/calls/pbxEvents.js";
import { Chan } from "../../src/calls/channels.js";
import { LegRec, LegTable } from "../../src/calls/conversation.js";
import type { AnyCallEvent, Leg } from "../../src/calls/model.js";
import { Facts } from "../../src/calls/outcomes.js";
import { replayTracker } from "../../src/replay.js";
import { labConfig } from "../helpers/labConfig.js";

const leg = (device: string): Leg => ({
  userId: null,
  device,
  state: "ringing",
  outcome: null,
  placed: false,
  ringingAt: null,
  answeredAt: null,
  endedAt: null,
  waitSeconds: null,
  talkSeconds: null,
});

describe("leg table", () => {
  it("finds legs by device, keeps insertion order, replaces a device's leg in place", () => {
    const t = new LegTable();
    expect(t.size).toBe(0);
    expect(t.get("PJSIP/1001")).toBeUndefined();
    const a = new LegRec(leg("PJSIP/1001"));
    const b = new LegRec(leg("PJSIP/1002"));
    const c = new LegRec(leg("PJSIP/1003"));
    t.set(a);
    expect(t.size).toBe(1);
    expect(t.get("PJSIP/1001")).toBe(a);
    expect(t.has("PJSIP/1002")).toBe(false);
    t.set(b);
    t.set(c);
    expect([...t.values()]).toEqual([a, b, c]);
    const b2 = new LegRec(leg("PJSIP/1002"));
    t.set(b2);
    expect([...t.values()]).toEqual([a, b2, c]);
    expect(t.get("PJSIP/1002")).toBe(b2);
    t.clear();
    expect(t.size).toBe(0);
    expect([...t.values()]).toEqual([]);
  });

  it("iterates the legs as they were when the loop began", () => {
    const t = new LegTable();
    t.set(new LegRec(leg("PJSIP/1001")));
    const seen: string[] = [];
    for (const rec of t.values()) {
      seen.push(rec.leg.device);
      t.set(new LegRec(leg("PJSIP/1002")));
    }
    expect(seen).toEqual(["PJSIP/1001"]);
    expect(t.size).toBe(2);
  });
});

describe("leg record", () => {
  it("holds live channel ids once each, in order, through one, several and none", () => {
    const r = new LegRec(leg("PJSIP/1001"));
    expect(r.live).toEqual([]);
    expect(r.hasLive).toBe(false);
    r.addLive("1.1");
    r.addLive("1.1");
    expect(r.live).toEqual(["1.1"]);
    r.addLive("1.2");
    r.addLive("1.3");
    r.addLive("1.2");
    expect(r.live).toEqual(["1.1", "1.2", "1.3"]);
    r.dropLive("1.2");
    r.dropLive("9.9");
    expect(r.live).toEqual(["1.1", "1.3"]);
    r.dropLive("1.1");
    expect(r.live).toEqual(["1.3"]);
    expect(r.hasLive).toBe(true);
    r.dropLive("1.3");
    expect(r.hasLive).toBe(false);
    r.addLive("2.1");
    r.clearLive();
    expect(r.live).toEqual([]);
  });

  it("keeps its four facts apart, and a copy with another leg keeps them and its channels", () => {
    const r = new LegRec(leg("PJSIP/1001"));
    expect([r.answered, r.pickedUp, r.declined, r.rang]).toEqual([false, false, false, false]);
    r.rang = true;
    r.declined = true;
    expect([r.answered, r.pickedUp, r.declined, r.rang]).toEqual([false, false, true, true]);
    r.declined = false;
    r.answered = true;
    r.pickedUp = true;
    expect([r.answered, r.pickedUp, r.declined, r.rang]).toEqual([true, true, false, true]);
    r.addLive("1.1");
    r.addLive("1.2");
    const other = { ...r.leg, placed: true };
    const copy = r.withLeg(other);
    expect(copy.leg).toBe(other);
    expect([copy.answered, copy.pickedUp, copy.declined, copy.rang]).toEqual([true, true, false, true]);
    expect(copy.live).toEqual(["1.1", "1.2"]);
    copy.dropLive("1.1");
    expect(r.live).toEqual(["1.1", "1.2"]);
  });
});

describe("channel record and call facts", () => {
  it("keep their booleans apart", () => {
    const ch = new Chan("1.1", "PJSIP/1001-00000001", "device", "PJSIP/1001", "Ring", true, "s");
    expect([ch.root, ch.hungUp, ch.listed]).toEqual([true, false, false]);
    ch.listed = true;
    ch.hungUp = true;
    expect([ch.root, ch.hungUp, ch.listed]).toEqual([true, true, true]);
    ch.listed = false;
    expect([ch.root, ch.hungUp, ch.listed]).toEqual([true, true, false]);
    expect(ch.role).toBe("device");
    for (const role of ["device", "trunk", "local", "other"] as const) {
      const c = new Chan("1.2", "x", role, null, "Down", false, "s");
      c.hungUp = true;
      expect([c.role, c.root, c.hungUp, c.listed]).toEqual([role, false, true, false]);
    }

    const f = new Facts();
    const all = () => [f.answered, f.failed, f.voicemail, f.queueAbandoned, f.anyDeclined, f.lastDialStatus];
    expect(all()).toEqual([false, false, false, false, false, null]);
    f.voicemail = true;
    f.anyDeclined = true;
    f.lastDialStatus = "BUSY";
    expect(all()).toEqual([false, false, true, false, true, "BUSY"]);
    f.answered = true;
    f.failed = true;
    f.queueAbandoned = true;
    f.voicemail = false;
    expect(all()).toEqual([true, true, false, true, true, "BUSY"]);
  });
});

describe("a call's IVR variables", () => {
  const chan = (id: string, linked: string, name: string, state: string): ChannelInfo => ({
    channelId: id,
    linkedId: linked,
    name,
    state,
    callerNum: "+4930123456",
    callerName: "",
    connectedNum: "<unknown>",
    connectedName: "<unknown>",
    context: "from-carrier",
    exten: "4930555000",
  });

  it("stay the call's own: another call's ivr is still empty, an earlier snapshot keeps its values", () => {
    const events: AnyCallEvent[] = [];
    const tracker = replayTracker(labConfig(), (e) => events.push(e));
    const at = Date.UTC(2026, 10, 22, 9);
    const a = chan("100.1", "100.1", "PJSIP/carrier-00000001", "Ring");
    const b = chan("200.1", "200.1", "PJSIP/carrier-00000002", "Ring");
    const feed: PbxEvent[] = [
      { type: "channelNew", ch: a, at },
      { type: "channelNew", ch: b, at: at + 1 },
      { type: "channelNew", ch: chan("100.2", "100.1", "PJSIP/1001-00000003", "Down"), at: at + 2 },
      { type: "dialBegin", caller: a, dest: chan("100.2", "100.1", "PJSIP/1001-00000003", "Down"), dialString: "1001", at: at + 3 },
      { type: "varSet", ch: a, name: "CRM_ACCOUNT", value: "ACC-1", at: at + 4 },
      { type: "varSet", ch: a, name: "__TICKET", value: "INC-2", at: at + 5 },
    ];
    for (const ev of feed) tracker.handle(ev);
    const callA = tracker.getCall(tracker.callIdOf("100.1")!)!;
    const callB = tracker.getCall(tracker.callIdOf("200.1")!)!;
    expect(callA.ivr).toEqual({ CRM_ACCOUNT: "ACC-1", TICKET: "INC-2" });
    expect(callB.ivr).toEqual({});
    const updates = events.filter((e) => e.name === "callUpdated" && e.userId === null && e.call.callId === callA.callId);
    expect(updates.map((e) => e.call.ivr)).toEqual([{ CRM_ACCOUNT: "ACC-1" }, { CRM_ACCOUNT: "ACC-1", TICKET: "INC-2" }]);
    tracker.handle({ type: "varSet", ch: b, name: "CRM_ACCOUNT", value: "ACC-9", at: at + 6 });
    expect(tracker.getCall(callB.callId)!.ivr).toEqual({ CRM_ACCOUNT: "ACC-9" });
    expect(tracker.getCall(callA.callId)!.ivr).toEqual({ CRM_ACCOUNT: "ACC-1", TICKET: "INC-2" });
  });
});
