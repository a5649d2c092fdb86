import { describe, expect, it } from "vitest";
import { AmiDecoder } from "../../src/ami/codec.js";
import { skipUnneeded, toPbxEvent } from "../../src/ami/events.js";
import { traceBytes } from "../helpers/traces.js";

const want = (name: string) => name.replace(/^_+/, "") === "TICKET";

function decode(text: string) {
  const d = new AmiDecoder({ expectBanner: false, skipEvent: skipUnneeded(want) });
  return { msgs: d.push(Buffer.from(text)), skipped: d.skipped };
}

describe("skipUnneeded", () => {
  it("drops unused events, unwanted VarSets and non-VoiceMail Newexten before decoding", () => {
    const { msgs, skipped } = decode(
      [
        "Event: RTCPSent\r\nChannel: PJSIP/1001-1\r\n\r\n",
        "Event: VarSet\r\nChannel: PJSIP/1001-1\r\nUniqueid: 1.1\r\nVariable: RTPAUDIOQOS\r\nValue: x\r\n\r\n",
        "Event: VarSet\r\nChannel: PJSIP/1001-1\r\nUniqueid: 1.1\r\nVariable: __TICKET\r\nValue: INC-77\r\n\r\n",
        "Event: Newexten\r\nChannel: PJSIP/1001-1\r\nUniqueid: 1.1\r\nApplication: Dial\r\nAppData: x\r\n\r\n",
        "Event: Newexten\r\nChannel: PJSIP/1001-1\r\nUniqueid: 1.1\r\nApplication: VoiceMail\r\nAppData: 1001@default\r\n\r\n",
        "Response: Success\r\nActionID: 1\r\n\r\n",
        "Event: Hangup\r\nChannel: PJSIP/1001-1\r\nUniqueid: 1.1\r\nCause: 16\r\n\r\n",
      ].join(""),
    );
    expect(skipped).toBe(3);
    expect(msgs.map((m) => m.event ?? m.get("Response"))).toEqual(["VarSet", "Newexten", "Success", "Hangup"]);
    expect(toPbxEvent(msgs[0]!, want)).toMatchObject({ type: "varSet", name: "__TICKET", value: "INC-77" });
    expect(toPbxEvent(msgs[1]!, want)).toMatchObject({ type: "voicemail" });
  });

  it("keeps every event the tracker acts on in a recorded trace", () => {
    const bytes = traceBytes("10-ivr-crm-variables");
    const all = new AmiDecoder().push(bytes);
    const kept = new AmiDecoder({ skipEvent: skipUnneeded((n) => ["CRM_ACCOUNT", "TICKET"].includes(n.replace(/^_+/, ""))) }).push(bytes);
    const typesOf = (msgs: typeof all) =>
      msgs.map((m) => toPbxEvent(m, (n) => ["CRM_ACCOUNT", "TICKET"].includes(n.replace(/^_+/, "")))?.type).filter(Boolean);
    expect(typesOf(kept)).toEqual(typesOf(all));
    expect(kept.length).toBeLessThan(all.length / 2);
  });
});

describe("parking events (res_parking, Asterisk 22)", () => {
  const parked = (trace: string) =>
    new AmiDecoder()
      .push(traceBytes(trace))
      .map((m) => toPbxEvent(m, () => false))
      .filter((e) => e && ["parked", "parkRetrieved", "parkTimedOut", "parkGaveUp"].includes(e.type));

  it("32: ParkedCall and UnParkedCall name the parkee, the parker's phone, the space and the retriever", () => {
    expect(parked("32-park-ami-retrieved")).toEqual([
      expect.objectContaining({ type: "parked", parkee: expect.objectContaining({ name: "PJSIP/carrier-00000013", channelId: "1796004145.25" }), parkerDial: "PJSIP/1001", slot: "701", retriever: null }),
      expect.objectContaining({ type: "parkRetrieved", slot: "701", retriever: expect.objectContaining({ name: "PJSIP/1002-00000015", channelId: "1796004153.27" }) }),
    ]);
  });

  it("33 and 34: ParkedCallTimeOut and ParkedCallGiveUp", () => {
    expect(parked("33-park-refer-timeout").map((e) => e!.type)).toEqual(["parked", "parkTimedOut"]);
    expect(parked("34-park-dtmf-caller-hangup").map((e) => e!.type)).toEqual(["parked", "parkGaveUp"]);
  });
});
