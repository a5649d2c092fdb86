/**
 * Every recorded scenario replayed through the tracker: the call records must say what
 * the scenario's .json says happened, and each user must receive exactly the event
 * sequence a correct CTI bridge sends.
 */
import { describe, expect, it } from "vitest";
import { replayFiles } from "../../src/replay.js";
import type { AnyCallEvent, Call } from "../../src/calls/model.js";
import { EXT_USER, labConfig } from "../helpers/labConfig.js";
import { FIXTURES, scenarioJson } from "../helpers/traces.js";

async function replay(...names: string[]) {
  const { events, tracker } = await replayFiles(
    names.map((n) => `${FIXTURES}/${n}.ami`),
    labConfig(),
  );
  const calls = new Map<string, Call>();
  for (const e of events) if (e.userId === null && e.name === "callEnded" && !e.call.mergedInto) calls.set(e.call.callId, e.call);
  return { events, calls: [...calls.values()].sort((a, b) => a.times.started.localeCompare(b.times.started)), tracker };
}

/** `callRinging`, `callRingingStopped(answered_elsewhere)`, … per user, in order. */
function sequences(events: AnyCallEvent[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of events) {
    if (!e.userId) continue;
    const name = e.name.replace(/^call/, "").replace(/^./, (c) => c.toLowerCase());
    (out[e.userId] ??= []).push("reason" in e ? `${name}(${e.reason})` : name);
  }
  return out;
}

/** The first word of an expected outcome string (`answered_elsewhere (by 1002)`). */
const word = (s: string) => s.split(/[\s(,]/)[0]!;

function checkAgainstJson(scenario: string, calls: Call[]) {
  const json = scenarioJson(scenario);
  const expected: any[] = json.expected_outcomes.calls;
  expect(calls).toHaveLength(expected.length);
  expected.forEach((exp, i) => {
    const call = calls[i]!;
    expect(call.direction).toBe(exp.direction);
    expect(call.outcome).toBe(word(exp.outcome));
    expect(call.state).toBe("ended");
    if (exp.from) expect(call.from.raw).toBe(word(exp.from));
    if (exp.to) expect(call.to.raw).toBe(exp.to);
    if (exp.queue) expect(call.queue).toBe(exp.queue);
    if (exp.ivr) expect(call.ivr).toMatchObject(exp.ivr);
    if (exp.answeredBy?.external) {
      expect(call.answeredBy).toEqual({ userId: null, device: null, external: exp.answeredBy.external });
    } else if ("answeredBy" in exp) {
      const ext = exp.answeredBy ? String(exp.answeredBy).split(" ").pop()! : null;
      expect(call.answeredBy?.userId ?? null).toBe(ext ? EXT_USER[ext] : null);
    }
  });
  const users: Record<string, string> = json.expected_outcomes.users ?? {};
  const legs = new Map(calls.flatMap((c) => c.legs.map((l) => [l.userId!, l.outcome] as const)));
  for (const [ext, outcome] of Object.entries(users)) {
    if (outcome.includes("only if") && !legs.has(EXT_USER[ext]!)) continue;
    expect(legs.get(EXT_USER[ext]!), `user ${ext}`).toBe(word(outcome));
  }
}

const SCENARIOS: [string, Record<string, string[]>][] = [
  ["01-inbound-answered", { alice: ["ringing", "answered", "ended"] }],
  ["02-inbound-answered-agent-hangup", { alice: ["ringing", "answered", "ended"] }],
  ["03-inbound-missed-caller-abandon", { alice: ["ringing", "ringingStopped(caller_hangup)", "ended", "missed"] }],
  ["04-inbound-missed-dial-timeout", { alice: ["ringing", "ringingStopped(timeout)", "ended", "missed"] }],
  ["05-inbound-busy-reject", { alice: ["ringing", "ringingStopped(declined)", "ended"] }],
  [
    "06-ringgroup-answered",
    {
      alice: ["ringing", "ringingStopped(answered_elsewhere)", "ended"],
      bob: ["ringing", "answered", "ended"],
      carol: ["ringing", "ringingStopped(answered_elsewhere)", "ended"],
    },
  ],
  [
    "07-queue-support-answered",
    { alice: ["ringing", "answered", "ended"], bob: ["ringing", "ringingStopped(answered_elsewhere)", "ended"] },
  ],
  [
    "08-queue-support-abandoned",
    {
      alice: ["ringing", "ringingStopped(caller_hangup)", "ended", "missed"],
      bob: ["ringing", "ringingStopped(caller_hangup)", "ended", "missed"],
    },
  ],
  ["09-queue-sales-local-members", { dave: ["ringing", "answered", "ended"] }],
  ["10-ivr-crm-variables", { alice: ["ringing", "answered", "ended"] }],
  ["11-outbound-answered", { alice: ["dialing", "answered", "ended"] }],
  ["12-outbound-no-answer", { alice: ["dialing", "ended"] }],
  ["13-click-to-dial", { alice: ["dialing", "updated", "answered", "ended"] }],
  ["14-internal-call", { alice: ["dialing", "answered", "ended"], carol: ["ringing", "answered", "ended"] }],
  ["15-hold-unhold", { alice: ["ringing", "answered", "held", "resumed", "ended"] }],
  [
    "16-blind-transfer-refer",
    { alice: ["ringing", "answered", "transferred", "ended"], bob: ["ringing", "answered", "ended"] },
  ],
  ["20-confbridge-three-party", { alice: ["dialing", "answered", "ended"] }],
  // Transfers (issue 8): the transferring agent's `ended` comes when her channel leaves, before
  // the target's answer; a consultation target hears no `resumed` of a call she is not in.
  ["26-blind-transfer-ami-redirect", { alice: ["ringing", "answered", "transferred", "ended"], bob: ["ringing", "answered", "ended"] }],
  ["27-blind-transfer-ami-blindtransfer", { alice: ["ringing", "answered", "transferred", "ended"], bob: ["ringing", "answered", "ended"] }],
  [
    "28-attended-transfer-dtmf",
    { alice: ["ringing", "answered", "held", "transferred", "ended"], carol: ["ringing", "answered", "transferred", "ended"] },
  ],
  [
    "29-attended-transfer-dtmf-abandoned",
    { alice: ["ringing", "answered", "held", "resumed", "ended"], carol: ["ringing", "ringingStopped(caller_hangup)", "ended"] },
  ],
  [
    "30-attended-transfer-ami-atxfer",
    { alice: ["ringing", "answered", "held", "transferred", "ended"], carol: ["ringing", "answered", "transferred", "ended"] },
  ],
  [
    "31-attended-transfer-refer",
    {
      // Her consultation call (dialing … ended: merged into the customer's), then her end of the customer's call.
      alice: ["ringing", "answered", "held", "dialing", "answered", "ended", "transferred", "ended"],
      carol: ["ringing", "answered", "ended", "transferred", "ended"],
    },
  ],
  [
    "40-attended-transfer-dtmf-complete-while-ringing",
    { alice: ["ringing", "answered", "held", "transferred", "ended"], carol: ["ringing", "transferred", "answered", "ended"] },
  ],
  [
    "43-attended-transfer-dtmf-target-declines",
    { alice: ["ringing", "answered", "held", "resumed", "ended"], carol: ["ringing", "ringingStopped(declined)", "ended"] },
  ],
  ["21-mixmonitor-recorded", { alice: ["ringing", "answered", "ended"] }],
  ["22-anonymous-caller", { alice: ["ringing", "answered", "ended"] }],
  [
    "25-resync-actions",
    {
      alice: ["ringing", "answered", "ended"],
      bob: ["ringing", "answered", "ended"],
      carol: ["dialing", "answered", "ended"],
      dave: ["ringing", "answered", "ended"],
      frank: ["ringing", "ringingStopped(caller_hangup)", "ended", "missed"],
    },
  ],
  [
    "37-queue-sales-member-ringout",
    // Dave's Local member rings out (AgentRingNoAnswer on the Local ;1): timeout, not the inner CANCEL.
    { dave: ["ringing", "ringingStopped(timeout)", "ended"], eve: ["ringing", "answered", "ended"] },
  ],
  [
    "38-queue-support-ringout-then-answered",
    // Rung again after ringing out: a new ringing for each.
    {
      alice: ["ringing", "ringingStopped(timeout)", "ringing", "ringingStopped(answered_elsewhere)", "ended"],
      bob: ["ringing", "ringingStopped(timeout)", "ringing", "answered", "ended"],
    },
  ],
  [
    "39-ringgroup-external-answered",
    {
      alice: ["ringing", "ringingStopped(answered_elsewhere)", "ended"],
      bob: ["ringing", "ringingStopped(answered_elsewhere)", "ended"],
    },
  ],
  // Parking: one call; the retriever's pop as if their phone rang; the space dial is no call.
  ["32-park-ami-retrieved", { alice: ["ringing", "answered", "updated", "ended"], bob: ["ringing", "answered", "ended"] }],
  // Timed out: back to the parker, who is rung again (a new ringing) and answers.
  ["33-park-refer-timeout", { alice: ["ringing", "answered", "updated", "updated", "ringing", "answered", "ended"] }],
  // The caller gave up while parked: not missed by anyone.
  ["34-park-dtmf-caller-hangup", { alice: ["ringing", "answered", "updated", "ended"] }],
  // Pickup: the picker's pop as if their phone rang; the *8 / **1002 dial is no call of its own.
  [
    "35-pickup-group",
    { alice: ["ringing", "ringingStopped(picked_up_elsewhere)", "ended"], carol: ["ringing", "answered", "ended"] },
  ],
  [
    "36-pickup-directed",
    {
      alice: ["ringing", "ringingStopped(picked_up_elsewhere)", "ended"],
      bob: ["ringing", "ringingStopped(picked_up_elsewhere)", "ended"],
      carol: ["ringing", "ringingStopped(picked_up_elsewhere)", "ended"],
      frank: ["ringing", "answered", "ended"],
    },
  ],
  [
    "41-pickup-queue-call",
    {
      alice: ["ringing", "ringingStopped(picked_up_elsewhere)", "ended"],
      bob: ["ringing", "ringingStopped(picked_up_elsewhere)", "ended"],
      carol: ["ringing", "answered", "ended"],
    },
  ],
];

describe("recorded scenarios", () => {
  it.each(SCENARIOS)("%s", async (scenario, expectedSequences) => {
    const { events, calls, tracker } = await replay(scenario);
    checkAgainstJson(scenario, calls);
    expect(sequences(events)).toEqual(expectedSequences);
    expect(tracker.activeCalls()).toEqual([]);
  });

  it("01: the call record in full", async () => {
    const { calls } = await replay("01-inbound-answered");
    expect(calls[0]).toMatchObject({
      callId: "call-0001",
      linkedIds: ["1795305921.0"],
      direction: "inbound",
      from: { raw: "+4930123456", e164: "+4930123456", display: "+49 30 123456", name: null },
      to: { raw: "4930555000", e164: "+4930555000" },
      // The DID in E.164 like every other number, as the carrier sent it beside it.
      did: "+4930555000",
      didRaw: "4930555000",
      answeredBy: { userId: "alice", device: "PJSIP/1001" },
      outcome: "answered",
      hangupCause: { code: 16, text: "Normal Clearing" },
      endReason: "hangup",
      transfer: null,
      restored: false,
      mergedInto: null,
    });
    expect(calls[0]!.legs).toEqual([
      expect.objectContaining({ userId: "alice", device: "PJSIP/1001", outcome: "answered_by_me", state: "ended", placed: false }),
    ]);
  });

  it("an event's snapshot stays as it was when the tracker moves on (the journal keeps it)", async () => {
    const { events } = await replay("01-inbound-answered");
    const pop = events.find((e) => e.name === "callRinging" && e.userId === "alice")!;
    expect(pop.call.state).toBe("ringing");
    expect(pop.call.legs[0]!.state).toBe("ringing");
    expect(pop.call.times.answered).toBeNull();
    const ended = events.find((e) => e.name === "callEnded" && e.userId === null)!;
    expect(ended.call.state).toBe("ended");
  });

  it("10: IVR variables travel with the call, the pop already carries them", async () => {
    const { events, calls } = await replay("10-ivr-crm-variables");
    expect(calls[0]!.ivr).toEqual({ DID: "4930555003", IVR_CHOICE: "2", CRM_ACCOUNT: "ACC-1042", TICKET: "INC-77" });
    const pop = events.find((e) => e.name === "callRinging" && e.userId === "alice")!;
    expect(pop.call.ivr).toMatchObject({ CRM_ACCOUNT: "ACC-1042", TICKET: "INC-77" });
  });

  it("13: click-to-dial rings the agent first but is an outbound call, never an inbound pop", async () => {
    const { events, calls } = await replay("13-click-to-dial");
    expect(events.some((e) => e.name === "callRinging")).toBe(false);
    expect(calls[0]).toMatchObject({ direction: "outbound", to: { raw: "0309876543", e164: "+49309876543" }, outcome: "answered" });
    expect(calls[0]!.legs[0]).toMatchObject({ userId: "alice", placed: true, outcome: "placed" });
  });

  it("14: both sides of an internal call see it", async () => {
    const { calls } = await replay("14-internal-call");
    expect(calls[0]).toMatchObject({
      from: { raw: "1001", extension: "1001", userId: "alice", display: "Alice Agent" },
      to: { raw: "1003", extension: "1003", userId: "carol" },
    });
    expect(calls[0]!.legs.map((l) => [l.userId, l.placed, l.outcome])).toEqual([
      ["alice", true, "placed"],
      ["carol", false, "answered_by_me"],
    ]);
  });

  it("16: the transfer target's pop shows the original caller and who transferred", async () => {
    const { events, calls } = await replay("16-blind-transfer-refer");
    const pop = events.find((e) => e.name === "callRinging" && e.userId === "bob")!;
    expect(pop.call.from.raw).toBe("0309876543");
    expect(pop.call.transfer).toMatchObject({ kind: "blind", by: { userId: "alice" }, to: { raw: "1002", userId: "bob" } });
    expect(calls[0]!.transfer?.originalCaller.raw).toBe("0309876543");
    expect(calls[0]!.outcome).toBe("answered");
  });

  it("26: an AMI Redirect of the caller's channel is a blind transfer by the agent it was bridged to", async () => {
    const { events, calls } = await replay("26-blind-transfer-ami-redirect");
    expect(calls[0]!.transfer).toMatchObject({
      kind: "blind",
      via: "redirect",
      by: { userId: "alice", device: "PJSIP/1001" },
      to: { raw: "1002", userId: "bob", device: "PJSIP/1002" },
      originalCaller: { raw: "+4930123456" },
    });
    expect(calls[0]!.answeredBy).toMatchObject({ userId: "bob" });
    const pop = events.find((e) => e.name === "callRinging" && e.userId === "bob")!;
    expect(pop.call.transfer).toMatchObject({ kind: "blind", by: { userId: "alice" } });
  });

  it.each(["16-blind-transfer-refer", "27-blind-transfer-ami-blindtransfer"])("%s: a reported blind transfer stays as reported (by alice, not a redirect) to the end", async (scenario) => {
    const { events, calls } = await replay(scenario);
    const want = { kind: "blind", by: { userId: "alice", device: "PJSIP/1001" }, to: { raw: "1002", userId: "bob", device: "PJSIP/1002" } };
    expect(calls[0]!.transfer).toMatchObject(want);
    expect(calls[0]!.transfer).not.toHaveProperty("via");
    for (const e of events.filter((x) => x.call.transfer)) expect(e.call.transfer, e.name).toMatchObject(want);
  });

  it.each(["16-blind-transfer-refer", "26-blind-transfer-ami-redirect", "27-blind-transfer-ami-blindtransfer", "28-attended-transfer-dtmf", "30-attended-transfer-ami-atxfer", "31-attended-transfer-refer", "40-attended-transfer-dtmf-complete-while-ringing"])(
    "%s: the transferring agent's part ends when she leaves, and nothing comes after it",
    async (scenario) => {
      const { events, calls } = await replay(scenario);
      const call = calls[0]!;
      const leg = call.legs.find((l) => l.userId === "alice")!;
      expect(leg).toMatchObject({ state: "ended", outcome: "answered_by_me", transferred: true });
      expect(leg.endedAt! < call.times.ended!).toBe(true);
      const mine = events.filter((e) => e.userId === "alice" && e.call.callId === call.callId);
      const end = mine.at(-1)!;
      expect(end.name).toBe("callEnded");
      expect(mine.filter((e) => e.name === "callEnded")).toHaveLength(1);
      // Her end is hers: the call goes on, her leg says when she left.
      expect(end.call.state).not.toBe("ended");
      expect(end.call.legs.find((l) => l.userId === "alice")).toMatchObject({ state: "ended", endedAt: leg.endedAt, transferred: true });
      expect(end.at).toBeLessThan(Date.parse(call.times.ended!));
      // The store's copy (userId null) has no early end.
      expect(events.filter((e) => e.userId === null && e.name === "callEnded" && e.call.callId === call.callId)).toHaveLength(1);
    },
  );

  it.each(["28-attended-transfer-dtmf", "30-attended-transfer-ami-atxfer", "40-attended-transfer-dtmf-complete-while-ringing"])(
    "%s: atxfer names the consulted agent; her pop shows the colleague calling about the customer",
    async (scenario) => {
      const { events, calls } = await replay(scenario);
      const call = calls[0]!;
      const customer = call.from.raw;
      expect(call.transfer).toMatchObject({
        kind: "attended",
        by: { userId: "alice", device: "PJSIP/1001" },
        to: { raw: "1003", userId: "carol", device: "PJSIP/1003" },
        originalCaller: { raw: customer },
      });
      expect(call.answeredBy).toMatchObject({ userId: "carol", device: "PJSIP/1003" });
      expect(call).not.toHaveProperty("consultationFor");
      const carol = events.filter((e) => e.userId === "carol");
      expect(carol[0]!.name).toBe("callRinging");
      expect(carol[0]!.call.from).toMatchObject({ raw: "1001", userId: "alice", extension: "1001" });
      expect(carol[0]!.call.consultationFor).toMatchObject({ raw: customer });
      // Once the transfer completed, her view of the call is the customer's call.
      const after = carol.slice(carol.findIndex((e) => e.name === "callTransferred"));
      for (const e of after) {
        expect(e.call.from.raw).toBe(customer);
        expect(e.call).not.toHaveProperty("consultationFor");
      }
      // Nobody else sees the consultation view.
      for (const e of events.filter((x) => x.userId !== "carol")) expect(e.call).not.toHaveProperty("consultationFor");
    },
  );

  it.each([
    ["29-attended-transfer-dtmf-abandoned", "unanswered"],
    ["43-attended-transfer-dtmf-target-declines", "declined"],
  ])("%s: a consultation that is not completed is %s for its target, not answered elsewhere", async (scenario, outcome) => {
    const { events, calls } = await replay(scenario);
    expect(calls[0]!.transfer).toBeNull();
    expect(calls[0]!.answeredBy).toMatchObject({ userId: "alice" });
    expect(calls[0]!.legs.find((l) => l.userId === "carol")).toMatchObject({ state: "ended", outcome });
    expect(events.some((e) => e.userId === "carol" && e.name === "callResumed")).toBe(false);
    expect(events.some((e) => e.name === "callMissed")).toBe(false);
  });

  it("31: the REFER's consultation call ends merged, with its end time; alice hears no resume", async () => {
    const { events } = await replay("31-attended-transfer-refer");
    const merged = events.find((e) => e.userId === null && e.name === "callEnded" && e.call.mergedInto)!;
    expect(merged.call).toMatchObject({ state: "ended", endReason: "merged", direction: "internal", from: { raw: "1001" }, to: { raw: "1003" } });
    expect(merged.call.times.ended).not.toBeNull();
    expect(merged.call.legs.map((l) => [l.userId, l.state, l.outcome])).toEqual([
      ["alice", "ended", "placed"],
      ["carol", "ended", "answered_by_me"],
    ]);
    expect(events.some((e) => e.name === "callResumed")).toBe(false);
  });

  it("20: conference calls are answered by the room", async () => {
    const { calls } = await replay("20-confbridge-three-party");
    expect(calls.map((c) => [c.direction, c.from.raw, c.to.raw, c.conference, c.outcome])).toEqual([
      ["inbound", "+4930123456", "4930555004", "800", "answered"],
      ["inbound", "0309876543", "4930555004", "800", "answered"],
      ["internal", "1001", "800", "800", "answered"],
    ]);
  });

  it("21: the recording file is on the call", async () => {
    const { calls } = await replay("21-mixmonitor-recorded");
    expect(calls[0]!.recording).toBe(scenarioJson("21-mixmonitor-recorded").expected_cti.calls[0].recording_file);
  });

  it("22: a withheld caller is kept, not normalised, shown as Anonymous", async () => {
    const { calls } = await replay("22-anonymous-caller");
    expect(calls[0]!.from).toMatchObject({ raw: "anonymous", e164: null, display: "Anonymous" });
  });

  it("32: parked by alice (AMI Park), retrieved by bob from 701: one call, bob answered it with the caller's pop", async () => {
    const { events, calls } = await replay("32-park-ami-retrieved");
    expect(calls).toHaveLength(1);
    expect(events.filter((e) => e.call.callId !== calls[0]!.callId)).toEqual([]);
    const call = calls[0]!;
    expect(call.park).toEqual({
      by: { userId: "alice", device: "PJSIP/1001" },
      slot: "701",
      at: expect.any(String),
      retrievedBy: { userId: "bob", device: "PJSIP/1002" },
      retrievedAt: expect.any(String),
      timedOut: false,
      abandoned: false,
    });
    expect(call.park!.retrievedAt! > call.park!.at).toBe(true);
    expect(call).toMatchObject({ outcome: "answered", answeredBy: { userId: "bob", device: "PJSIP/1002" }, transfer: null });
    expect(call.linkedIds).toHaveLength(2);
    expect(call.legs.map((l) => [l.userId, l.outcome, l.placed])).toEqual([
      ["alice", "answered_by_me", false],
      ["bob", "answered_by_me", false],
    ]);
    const pop = events.find((e) => e.name === "callRinging" && e.userId === "bob")!;
    expect(pop.call.from.raw).toBe("+4930123456");
    expect(pop.call.legs.find((l) => l.userId === "bob")!.state).toBe("ringing");
    expect(events.find((e) => e.name === "callUpdated" && e.userId === "alice")!.call.park).toMatchObject({ by: { userId: "alice" }, slot: "701", retrievedBy: null });
  });

  it("33: parked by a blind transfer to 700, timed out, back to alice: parked, not transferred", async () => {
    const { events, calls } = await replay("33-park-refer-timeout");
    const call = calls[0]!;
    expect(call.transfer).toBeNull();
    expect(call.park).toMatchObject({ by: { userId: "alice", device: "PJSIP/1001" }, slot: "701", retrievedBy: null, retrievedAt: null, timedOut: true, abandoned: false });
    expect(call).toMatchObject({ outcome: "answered", answeredBy: { userId: "alice" } });
    expect(call.legs).toEqual([expect.objectContaining({ userId: "alice", outcome: "answered_by_me", state: "ended" })]);
    const back = events.filter((e) => e.name === "callRinging" && e.userId === "alice")[1]!;
    expect(back.call.park).toMatchObject({ timedOut: true });
    expect(events.some((e) => e.name === "callTransferred")).toBe(false);
  });

  it("34: the caller hung up while parked: abandoned while parked, the parker did not miss it", async () => {
    const { events, calls } = await replay("34-park-dtmf-caller-hangup");
    expect(calls[0]!.park).toMatchObject({ by: { userId: "alice" }, slot: "701", retrievedBy: null, timedOut: false, abandoned: true });
    expect(calls[0]!.outcome).toBe("answered");
    expect(calls[0]!.legs).toEqual([expect.objectContaining({ userId: "alice", outcome: "answered_by_me" })]);
    expect(events.some((e) => e.name === "callMissed")).toBe(false);
  });

  it.each([
    ["35-pickup-group", "carol", "PJSIP/1003", "0309876543"],
    ["36-pickup-directed", "frank", "PJSIP/1006", "+4930123456"],
    ["41-pickup-queue-call", "carol", "PJSIP/1003", "+4930123456"],
  ])("%s: the picker's pop is the caller, the feature-code dial is not a call", async (scenario, picker, device, caller) => {
    const { events, calls } = await replay(scenario);
    // Nothing about the *8 / **1002 call itself: no event of any kind, merged or not.
    expect(events.filter((e) => e.call.callId !== calls[0]!.callId)).toEqual([]);
    const pop = events.find((e) => e.name === "callRinging" && e.userId === picker)!;
    expect(pop.call.from.raw).toBe(caller);
    expect(pop.call.legs.find((l) => l.userId === picker)).toMatchObject({ state: "ringing", placed: false });
    expect(calls[0]).toMatchObject({ answeredBy: { userId: picker, device }, outcome: "answered", linkedIds: [calls[0]!.linkedIds[0], expect.any(String)] });
    expect(calls[0]!.legs.find((l) => l.userId === picker)).toMatchObject({ outcome: "picked_up", placed: false });
    expect(events.some((e) => e.name === "callMissed")).toBe(false);
  });

  it("35 with calls.featureCodes []: the *8 dial shows as carol's call, merged (ended, endReason merged, no legs), then the caller's pop", async () => {
    const { events } = await replayFiles([`${FIXTURES}/35-pickup-group.ami`], labConfig({ calls: { featureCodes: [] } }));
    const carol = events.filter((e) => e.userId === "carol");
    expect(carol.map((e) => e.name)).toEqual(["callDialing", "callEnded", "callRinging", "callAnswered", "callEnded"]);
    const merged = carol[1]!.call;
    expect(merged).toMatchObject({ to: { raw: "*8" }, state: "ended", endReason: "merged", mergedInto: carol[2]!.call.callId, legs: [] });
    expect(merged.times.ended).not.toBeNull();
    expect(carol[2]!.call.from.raw).toBe("0309876543");
    expect(carol[4]!.call.legs.find((l) => l.userId === "carol")).toMatchObject({ outcome: "picked_up", placed: false });
  });

  it("24: the burst of 34 concurrent calls comes out call by call", async () => {
    const { calls } = await replay("24-burst-30-concurrent");
    const json = scenarioJson("24-burst-30-concurrent");
    const expected: any[] = json.expected_outcomes.calls;
    expect(calls).toHaveLength(expected.length);
    const byFrom = new Map(calls.map((c) => [c.from.raw, c]));
    for (const exp of expected) {
      const call = byFrom.get(exp.from)!;
      expect(call, exp.from).toBeDefined();
      expect([exp.from, call.didRaw, call.outcome, call.answeredBy?.userId ?? null]).toEqual([
        exp.from,
        exp.did,
        exp.outcome,
        exp.answeredBy ? EXT_USER[exp.answeredBy] : null,
      ]);
      const legs = Object.fromEntries(call.legs.map((l) => [l.userId, l.outcome]));
      const want = Object.fromEntries(Object.entries(exp.users as Record<string, string>).map(([ext, o]) => [EXT_USER[ext], o]));
      expect(legs, exp.from).toEqual(want);
    }
  });
});
