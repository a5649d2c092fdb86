/**
 * The Salesforce softphone's pure functions (adapters/salesforce-open-cti/logic.js), in Node:
 * the org origin Open CTI is loaded from, the pop search, the record links and the Task.
 */
import { describe, expect, it } from "vitest";

type Fn = (...args: any[]) => any;
const L = (await import(new URL("../../adapters/salesforce-open-cti/logic.js", import.meta.url).href)) as Record<string, Fn>;

const ORG = "https://acme.lightning.force.com";

/** A call.ended as alice receives it for trace 10 (IVR variables set, alice answered). */
function endedCall(over: Record<string, unknown> = {}) {
  return {
    callId: "c-10",
    direction: "inbound",
    state: "ended",
    from: { raw: "+4930123456", e164: "+4930123456", display: "+4930123456", name: null },
    to: { raw: "4930555003", e164: "+4930555003", display: "4930555003", name: null },
    queue: null,
    legs: [{ userId: "alice", device: "PJSIP/1001", state: "ended", outcome: "answered_by_me", placed: false, ringingAt: "2026-11-22T00:09:03.000Z", talkSeconds: 3.2 }],
    times: { started: "2026-11-22T00:09:00.000Z", talkSeconds: 3.2 },
    outcome: "answered",
    ivr: { CRM_ACCOUNT: "ACC-1042", TICKET: "INC-77", IVR_CHOICE: "2" },
    annotation: null,
    ...over,
  };
}

describe("pickOrigin", () => {
  it("takes sfdcIframeOrigin or an ancestor only when configured, else the first configured origin", () => {
    expect(L.pickOrigin!([ORG, "https://acme.my.salesforce.com"], ["https://acme.my.salesforce.com"])).toBe("https://acme.my.salesforce.com");
    expect(L.pickOrigin!([ORG], ["https://evil.example", null])).toBe(ORG);
    expect(L.pickOrigin!([], [ORG])).toBeNull();
  });
});

describe("popSearch", () => {
  it("searches the caller's number OR the account OR the ticket, passes them as URL parameters and pre-fills Phone", () => {
    expect(L.popSearch!(endedCall(), "alice", ["CRM_ACCOUNT", "TICKET"])).toEqual({
      searchParams: "+4930123456 OR ACC-1042 OR INC-77",
      queryParams: "callId=c-10&phone=%2B4930123456&CRM_ACCOUNT=ACC-1042&TICKET=INC-77",
      defaultFieldValues: { Phone: "+4930123456" },
    });
  });

  it("searches the called number for a call the user placed, and nothing for a withheld caller without IVR data", () => {
    const out = endedCall({ direction: "outbound", legs: [{ userId: "alice", placed: true, state: "dialing", outcome: null }], to: { raw: "0309876543", e164: "+49309876543" }, ivr: {} });
    expect(L.popSearch!(out, "alice", ["CRM_ACCOUNT"]).searchParams).toBe("+49309876543");
    expect(L.popSearch!(endedCall({ from: { raw: "anonymous", e164: null, display: "Anonymous" }, ivr: {} }), "alice", ["CRM_ACCOUNT"])).toBeNull();
  });

  it("removes what would change the search's meaning from IVR values", () => {
    expect(L.searchTerm!('ACC-1 "OR" {x} (y)*')).toBe("ACC-1 OR x y");
    expect(L.searchTerm!("+49 30+1")).toBe("+49 30 1");
  });
});

describe("record links", () => {
  it("one Contact found: WhoId; one Account: WhatId; a person account: both; several: none", () => {
    const contact = { "003xx000004TmiQ": { Id: "003xx000004TmiQ", Name: "Anna Schmidt", RecordType: "Contact" } };
    expect(L.searchLinks!(contact)).toEqual({ WhoId: "003xx000004TmiQ" });
    expect(L.searchLinks!({ "001x": { Name: "Acme", object: "Account" } })).toEqual({ WhatId: "001x" });
    expect(L.searchLinks!({ "001p": { Id: "001p", RecordType: "Account", IsPersonAccount: true, PersonContactId: "003p" } })).toEqual({ WhoId: "003p", WhatId: "001p" });
    expect(L.searchLinks!({ ...contact, "003b": { Id: "003b", RecordType: "Contact" } })).toEqual({});
    expect(L.searchLinks!({ ...contact, SCREEN_POP_DATA: {} })).toEqual({ WhoId: "003xx000004TmiQ" });
    expect(L.clickLinks!({ number: "0309876543", recordId: "00Qx", objectType: "Lead" })).toEqual({ WhoId: "00Qx" });
    expect(L.clickLinks!({ number: "1", recordId: "500x", objectType: "Case" })).toEqual({ WhatId: "500x" });
  });
});

describe("taskFor", () => {
  it("an answered inbound call: a completed call Task with duration, outcome, date and the callId", () => {
    expect(L.taskFor!(endedCall(), "alice", { links: { WhoId: "003x" }, ivrNames: ["CRM_ACCOUNT", "TICKET"] })).toEqual({
      entityApiName: "Task",
      Subject: "Inbound call from +4930123456",
      TaskSubtype: "Call",
      Status: "Completed",
      CallType: "Inbound",
      CallDurationInSeconds: 3,
      CallDisposition: "answered",
      ActivityDate: L.localDate!("2026-11-22T00:09:00.000Z"),
      CallObject: "c-10",
      Description: "ctibridge call c-10\nFrom: +4930123456\nTo: +4930555003\nCRM_ACCOUNT: ACC-1042\nTICKET: INC-77\nOutcome: answered (answered_by_me)",
      WhoId: "003x",
    });
  });

  it("the agent's disposition wins over the outcome; a custom callId field is used", () => {
    const t = L.taskFor!(endedCall({ annotation: { disposition: "sale", comment: "wants a quote" } }), "alice", { callIdField: "Ctibridge_Call_Id__c" });
    expect(t).toMatchObject({ CallDisposition: "sale", Ctibridge_Call_Id__c: "c-10" });
    expect(t.CallObject).toBeUndefined();
    expect(t.Description).toContain("Comment: wants a quote");
  });

  it("no Task for a call that rang and was not taken, or one without a leg of the user", () => {
    expect(L.taskFor!(endedCall({ legs: [{ userId: "alice", outcome: "missed", state: "ended" }] }), "alice")).toBeNull();
    expect(L.taskFor!(endedCall({ legs: [{ userId: "alice", outcome: "answered_elsewhere", state: "ended" }] }), "alice")).toBeNull();
    expect(L.taskFor!(endedCall(), "bob")).toBeNull();
  });

  it("a placed call that was not answered is still logged, as outbound with its outcome", () => {
    const t = L.taskFor!(
      endedCall({ direction: "outbound", outcome: "unanswered", to: { raw: "0309876543", e164: "+49309876543", name: "Acme Corp" }, legs: [{ userId: "alice", placed: true, outcome: "placed", state: "ended", talkSeconds: null }], times: { started: "2026-11-22T00:09:00.000Z", talkSeconds: null } }),
      "alice",
    );
    expect(t).toMatchObject({ Subject: "Outbound call to Acme Corp (+49309876543)", CallType: "Outbound", CallDurationInSeconds: 0, CallDisposition: "unanswered" });
  });
});

describe("dialable", () => {
  it("takes Salesforce's formatted numbers, refuses what ctibridge would refuse", () => {
    expect(L.dialable!("(030) 987-6543")).toBe("0309876543");
    expect(L.dialable!("+49 30 9876543")).toBe("+49309876543");
    expect(L.dialable!("call me")).toBeNull();
  });
});

describe("tokenFrom", () => {
  it("takes a bare JWT, a JSON string from Apex, or { token } from the endpoint; an empty answer is a clear error", () => {
    expect(L.tokenFrom!(" eyJ.a.b ")).toBe("eyJ.a.b");
    expect(L.tokenFrom!('{"token":"eyJ.c.d"}')).toBe("eyJ.c.d");
    expect(L.tokenFrom!('"eyJ.e.f"')).toBe("eyJ.e.f");
    expect(L.tokenFrom!({ token: "eyJ.g.h" })).toBe("eyJ.g.h");
    for (const empty of ["", "  ", "{}", { token: "" }, null]) {
      expect(() => L.tokenFrom!(empty), JSON.stringify(empty)).toThrow("no ctibridge token for this user (is the Salesforce user mapped to a ctibridge user?)");
    }
  });
});
