/**
 * The panel's pure modules (web/model.js, web/i18n.js), imported as the browser imports them:
 * the state words of the call log, the agent's mode and status, formatted DIDs, the IVR context,
 * human error texts and the locale's formats.
 */
import { describe, expect, it } from "vitest";

const M: any = await import(new URL("../../web/model.js", import.meta.url).href);
const I: any = await import(new URL("../../web/i18n.js", import.meta.url).href);
const en = I.makeI18n("en", "en-US");
const de = I.makeI18n("de", "de-DE");

const party = (raw: string, extra: object = {}) => ({ raw, e164: null, display: raw, name: null, extension: null, userId: null, ...extra });
const leg = (userId: string, outcome: string | null, state = "ended", extra: object = {}) => ({ userId, device: `PJSIP/${userId}`, state, outcome, ...extra });
function call(o: Record<string, unknown> = {}) {
  return {
    callId: "c1",
    direction: "inbound",
    state: "ended",
    from: party("+4930123456", { e164: "+4930123456", display: "+49 30 123456" }),
    to: party("4930555002", { e164: "+4930555002", display: "+49 30 555002" }),
    did: "4930555002",
    queue: null,
    legs: [],
    answeredBy: null,
    times: { started: "2026-11-30T09:00:00.000Z", ringing: "2026-11-30T09:00:01.000Z", answered: null, ended: null, talkSeconds: null },
    outcome: null,
    ivr: {},
    match: { status: "none", count: 0, records: [] },
    ...o,
  };
}

describe("call log state words", () => {
  const answeredTimes = { started: "2026-11-30T09:00:00.000Z", answered: "2026-11-30T09:00:03.000Z", ended: "2026-11-30T09:01:03.000Z", talkSeconds: 60 };
  const rows: [string, Record<string, unknown>, string, string, string][] = [
    ["ringing now", { state: "ringing", legs: [leg("alice", null, "ringing")] }, "ringing", "Ringing", "Klingelt"],
    ["dialling now", { direction: "outbound", state: "dialing", legs: [leg("alice", "placed", "dialing")] }, "dialing", "Dialing", "Wählt"],
    ["talking now", { state: "connected", legs: [leg("alice", null, "connected")] }, "connected", "Connected", "Verbunden"],
    ["missed", { outcome: "abandoned", legs: [leg("alice", "missed")] }, "missed", "Missed", "Verpasst"],
    ["answered and ended", { outcome: "answered", legs: [leg("alice", "answered_by_me")], times: answeredTimes }, "connected", "Connected", "Verbunden"],
    ["outbound not answered", { direction: "outbound", outcome: "unanswered", legs: [leg("alice", "placed")] }, "hungUp", "Hung up", "Aufgelegt"],
    ["answered elsewhere", { outcome: "answered", answeredBy: { userId: "bob" }, legs: [leg("alice", "answered_elsewhere")] }, "hungUp", "Hung up", "Aufgelegt"],
    ["transferred on: her part ended, the call goes on", { state: "connected", legs: [leg("alice", "answered_by_me", "ended", { transferred: true })], times: answeredTimes }, "connected", "Connected", "Verbunden"],
    ["rang, a colleague talks now", { state: "connected", answeredBy: { userId: "bob" }, legs: [leg("alice", "answered_elsewhere")] }, "hungUp", "Hung up", "Aufgelegt"],
  ];
  it.each(rows)("%s", (_name, o, word, enWord, deWord) => {
    const w = M.stateWord(call(o), "alice", "agent");
    expect(w).toBe(word);
    expect(en.t(`word.${w}`)).toBe(enWord);
    expect(de.t(`word.${w}`)).toBe(deWord);
  });

  it("a supervisor without a leg: missed when nobody answered", () => {
    expect(M.stateWord(call({ outcome: "abandoned", legs: [leg("bob", "missed")] }), "sam", "supervisor")).toBe("missed");
    expect(M.stateWord(call({ outcome: "answered", answeredBy: { userId: "alice" }, legs: [leg("bob", "missed"), leg("alice", "answered_by_me")] }), "sam", "supervisor")).toBe("connected");
  });

  it("open missed until the leg is done", () => {
    expect(M.isOpenMissed(call({ legs: [leg("alice", "missed")] }), "alice", "agent")).toBe(true);
    expect(M.isOpenMissed(call({ legs: [leg("alice", "missed", "ended", { done: true })] }), "alice", "agent")).toBe(false);
  });

  it("duration: talk seconds once answered, else the ring time", () => {
    expect(M.durationSeconds(call({ times: answeredTimes }), 0)).toBe(60);
    expect(M.durationSeconds(call({ times: { started: "2026-11-30T09:00:00.000Z", ringing: "2026-11-30T09:00:01.000Z", ended: "2026-11-30T09:00:21.000Z" } }), 0)).toBe(20);
    expect(M.clock(3725)).toBe("1:02:05");
  });
});

describe("pop details", () => {
  it("the DID formatted, never raw; the DID variable not repeated as IVR data", () => {
    const c = call({ ivr: { DID: "4930555002", TICKET: "INC-77" } });
    expect(M.didText(c)).toBe("+49 30 555002");
    expect(M.didText(call({ to: party("200"), did: "4930555002" }))).toBe("+4930555002");
    // As the server sends it since protocol fixes: did in E.164, didRaw as given.
    expect(M.didText(call({ did: "+4930555002", didRaw: "4930555002" }))).toBe(M.didText(c));
    expect(M.didText(call({ to: party("200"), did: "+4930555002", didRaw: "4930555002" }))).toBe("+4930555002");
    expect(M.ivrEntries(c)).toEqual([["TICKET", "INC-77"]]);
  });

  it("anonymous callers: no call-back number, a word instead of 'anonymous'", () => {
    const anon = call({ from: party("anonymous", { display: "Anonymous" }) });
    expect(M.isAnonymous(anon.from)).toBe(true);
    expect(M.callbackNumber(anon, "alice")).toBeNull();
    expect(M.numberText(anon.from, de.t)).toBe("Anonym");
    expect(M.callbackNumber(call(), "alice")).toBe("+4930123456");
  });

  it("several matches: no name until one is chosen", () => {
    const records = [
      { name: "Erika Musterfrau", company: "Beispiel AG", recordId: "ACC-2001", url: null },
      { name: "Hans Beispiel", company: "Beispiel AG", recordId: "ACC-2002", url: null },
    ];
    const c = call({ match: { status: "multiple", count: 2, records } });
    expect(M.partyName(c, "alice", en.t)).toBe("+49 30 123456");
    expect(M.partyName(c, "alice", en.t, "ACC-2002")).toBe("Hans Beispiel");
  });
});

describe("agent mode and status", () => {
  it("ringing beats talk beats dialing; wrap-up only without a call", () => {
    const talk = call({ callId: "t", state: "connected", legs: [leg("alice", null, "connected")] });
    const ring = call({ callId: "r", state: "ringing", legs: [leg("alice", null, "ringing")] });
    expect(M.agentMode([talk, ring], "alice", false).mode).toBe("ringing");
    expect(M.agentMode([talk], "alice", true).mode).toBe("talk");
    expect(M.agentMode([], "alice", true).mode).toBe("wrapUp");
    expect(M.agentMode([], "alice", false).mode).toBe("idle");
  });

  it("status from agent.state", () => {
    expect(M.agentStatus({ deviceState: "not_inuse", queues: [{ queue: "support", loggedIn: true, paused: false }] }).status).toBe("available");
    expect(M.agentStatus({ deviceState: "not_inuse", queues: [{ queue: "support", paused: true, reason: "lunch" }] })).toMatchObject({ status: "paused", reason: "lunch" });
    expect(M.agentStatus({ deviceState: "not_inuse", queues: [] }).status).toBe("loggedOut");
    expect(M.agentStatus({ deviceState: "not_inuse", queues: [], wrapUp: { callId: "c" } }).status).toBe("wrapUp");
  });
});

describe("words and formats", () => {
  it("a failed command in words, never the PBX's own text", () => {
    expect(M.errorText("hold", { code: "pbx_rejected", message: "Invalid/unknown command" }, en.t)).toBe("Hold failed: the phone system refused it (busy, unreachable or unknown number)");
    expect(M.errorText("hangup", { code: "weird", message: "Invalid/unknown command" }, de.t)).toBe("Auflegen fehlgeschlagen: etwas ist schiefgegangen");
  });

  it("German is 24-hour, English follows its locale; the language from the setting, else the browser", () => {
    expect(de.dateTime("2026-11-30T14:05:00.000Z")).toMatch(/30\.11\.2026.*\d{2}:05/);
    expect(de.time("2026-11-30T14:05:09.000Z")).not.toMatch(/AM|PM/);
    expect(en.dateTime("2026-11-30T14:05:00.000Z")).toMatch(/11\/30\/2026.*(AM|PM)/);
    expect(de.number(1234)).toBe("1.234");
    expect(I.pickLanguage("", ["de-AT", "en"])).toBe("de");
    expect(I.pickLanguage("en", ["de-DE"])).toBe("en");
    expect(I.pickLanguage(null, ["fr-FR"])).toBe("en");
  });

  it("every English key has a German word", () => {
    const missing = Object.keys(I.DICTS.en).filter((k) => !(k in I.DICTS.de) && k !== "app.title");
    expect(missing).toEqual([]);
  });
});

describe("the call log's calls (web/calllog.js)", async () => {
  const { CallLog } = await import(new URL("../../web/calllog.js", import.meta.url).href);
  const stored = call({ callId: "x", legs: [leg("alice", "missed", "ended", { done: true })] });

  it("a stored copy never replaces a live call or a newer ended one; a live copy keeps the store's done mark", () => {
    const log = new CallLog();
    log.upsert(call({ callId: "x", state: "ringing", legs: [leg("alice", null, "ringing")] }), { live: true });
    log.upsert(stored, { stored: true, live: true });
    expect(log.get("x").state).toBe("ringing");
    log.upsert(stored, { stored: true });
    expect(log.get("x").legs[0].done).toBe(true);
    log.upsert(call({ callId: "x", legs: [leg("alice", "missed")] }));
    expect(log.get("x").legs[0].done).toBe(true);
  });

  it("done marks one user's missed leg (or all without a user); newest first", () => {
    const log = new CallLog();
    log.upsert(call({ callId: "a", times: { started: "2026-11-30T08:00:00.000Z" }, legs: [leg("alice", "missed"), leg("bob", "missed")] }));
    log.upsert(call({ callId: "b", times: { started: "2026-11-30T09:00:00.000Z" }, legs: [leg("alice", "missed")] }));
    expect(log.markDone("a", "alice")).toBe(true);
    expect(log.get("a").legs.map((l: { done?: boolean }) => !!l.done)).toEqual([true, false]);
    expect(log.markDone("nope", "alice")).toBe(false);
    expect(log.sorted().map((c: { callId: string }) => c.callId)).toEqual(["b", "a"]);
  });
});
