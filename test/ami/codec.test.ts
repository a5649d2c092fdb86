import { describe, expect, it } from "vitest";
import { AmiCodecError, AmiDecoder, encodeAction, header, headerAll } from "../../src/ami/codec.js";
import { scenarioJson, traceBytes, traceFiles } from "../helpers/traces.js";

const BANNER = "Asterisk Call Manager/11.0.0\r\n";
const now = () => 1_000;

function decodeAll(chunks: (string | Buffer)[], expectBanner = true) {
  const d = new AmiDecoder({ expectBanner, now });
  return chunks.flatMap((c) => d.push(typeof c === "string" ? Buffer.from(c, "utf8") : c));
}

/** Count messages independently of the codec: blocks of non-empty lines after the banner line. */
function countByBlankLines(bytes: Buffer): number {
  const lines = bytes.toString("latin1").split(/\r?\n/).slice(1);
  let n = 0;
  let inMsg = false;
  for (const l of lines) {
    if (l === "") inMsg = false;
    else if (!inMsg) {
      inMsg = true;
      n++;
    }
  }
  return n;
}

describe("AmiDecoder", () => {
  it("parses the banner for the version and does not emit it", () => {
    const d = new AmiDecoder({ now });
    const msgs = d.push(Buffer.from(BANNER + "Response: Success\r\nMessage: Authentication accepted\r\n\r\n"));
    expect(d.bannerVersion).toBe("11.0.0");
    expect(msgs.map((m) => [m.headers, m.receivedAt])).toEqual([[{ Response: "Success", Message: "Authentication accepted" }, 1_000]]);
  });

  it("joins a message split across two writes", () => {
    const msgs = decodeAll([BANNER + "Event: Newchannel\r\nChan", "nel: PJSIP/1001-0000002a\r\n\r\n"]);
    expect(msgs.map((m) => m.headers)).toEqual([{ Event: "Newchannel", Channel: "PJSIP/1001-0000002a" }]);
  });

  it("survives a multi-byte character split across reads", () => {
    const whole = Buffer.from(BANNER + "Event: Newchannel\r\nCallerIDName: Jürgen Müller 😀\r\n\r\n", "utf8");
    const cut = whole.indexOf(Buffer.from("😀")) + 2; // inside the 4-byte emoji
    const msgs = decodeAll([whole.subarray(0, cut), whole.subarray(cut)]);
    expect(header(msgs[0]!, "CallerIDName")).toBe("Jürgen Müller 😀");
    const ü = whole.indexOf(Buffer.from("ü")) + 1; // between the two bytes of ü
    expect(header(decodeAll([whole.subarray(0, ü), whole.subarray(ü)])[0]!, "CallerIDName")).toBe("Jürgen Müller 😀");
  });

  it("emits several messages from one write, in order", () => {
    const msgs = decodeAll([BANNER + "Event: A\r\n\r\nEvent: B\r\n\r\nEvent: C\r\n\r\nEvent: D"]);
    expect(msgs.map((m) => header(m, "Event"))).toEqual(["A", "B", "C"]);
  });

  it("accepts bare LF line endings", () => {
    const msgs = decodeAll(["Asterisk Call Manager/5.0.1\nEvent: Hangup\nCause: 16\n\nEvent: X\n\n"]);
    expect(msgs.map((m) => m.headers)).toEqual([{ Event: "Hangup", Cause: "16" }, { Event: "X" }]);
  });

  it("keeps repeated headers as arrays in order, strips one space, keeps strings", () => {
    const msgs = decodeAll([
      BANNER,
      "Response: Success\r\nOutput: line one\r\nOutput:  indented\r\nOutput: \r\nCallerIDNum: 004930123\r\nEmpty:\r\nURL: http://x:8/y\r\n\r\n",
    ]);
    expect(msgs[0]!.headers).toEqual({
      Response: "Success",
      Output: ["line one", " indented", ""],
      CallerIDNum: "004930123",
      Empty: "",
      URL: "http://x:8/y",
    });
    expect(headerAll(msgs[0]!, "Output")).toHaveLength(3);
  });

  it("turns ChanVariable and DestChanVariable (and the old ChanVariable(chan) form) into maps", () => {
    const msgs = decodeAll([
      BANNER,
      "Event: DialBegin\r\nChanVariable: CRM_ACCOUNT=ACC-1042\r\nChanVariable: EMPTY=\r\nDestChanVariable: TICKET=INC=77\r\n\r\n",
      "Event: Old\r\nChanVariable(SIP/1001-0001): FOO=bar\r\n\r\n",
    ]);
    expect(msgs[0]!.headers).toEqual({ Event: "DialBegin" });
    expect(msgs[0]!.chanVariables).toEqual({ CRM_ACCOUNT: "ACC-1042", EMPTY: "" });
    expect(msgs[0]!.destChanVariables).toEqual({ TICKET: "INC=77" });
    expect(msgs[1]!.chanVariables).toEqual({ FOO: "bar" });
  });

  it("refuses an unfinished message past the cap and recovers nothing of it", () => {
    const d = new AmiDecoder({ maxMessageBytes: 2048, now });
    d.push(Buffer.from(BANNER + "Event: Big\r\n"));
    expect(() => {
      for (let i = 0; i < 100; i++) d.push(Buffer.from(`Variable${i}: ${"x".repeat(40)}\r\n`));
    }).toThrowError(AmiCodecError);
    expect(d.pendingBytes).toBe(0);
  });

  it("handles every byte arriving alone", () => {
    const text = BANNER + "Event: A\r\nB: c\r\n\r\nEvent: D\r\n\r\n";
    const msgs = decodeAll([...Buffer.from(text)].map((b) => Buffer.from([b])));
    expect(msgs.map((m) => m.headers)).toEqual([{ Event: "A", B: "c" }, { Event: "D" }]);
  });
});

describe("encodeAction", () => {
  it("writes ordered headers, one Variable line per variable", () => {
    const bytes = encodeAction("Originate", [
      ["ActionID", "7"],
      ["Channel", "PJSIP/1001"],
      ["Variable", ["A=1", "B=2"]],
      ["Priority", 1],
    ]);
    expect(bytes.toString()).toBe(
      "Action: Originate\r\nActionID: 7\r\nChannel: PJSIP/1001\r\nVariable: A=1\r\nVariable: B=2\r\nPriority: 1\r\n\r\n",
    );
  });

  it.each([
    ["CR", "123\rAction: Command"],
    ["LF", "123\nAction: Command"],
    ["CRLF", "123\r\nAction: Command\r\nCommand: core stop now"],
    ["NUL", "12\u00003"],
  ])("refuses %s in a value", (_name, value) => {
    expect(() => encodeAction("Originate", [["Exten", value]])).toThrowError(/refused/);
    try {
      encodeAction("Originate", [["Exten", value]]);
    } catch (err) {
      expect((err as AmiCodecError).code).toBe("AMI_INJECTION");
    }
  });

  it("refuses CR/LF in keys, variables and the action name", () => {
    expect(() => encodeAction("Ping\r\nAction: Command")).toThrowError(AmiCodecError);
    expect(() => encodeAction("Ping", [["X\nY", "1"]])).toThrowError(AmiCodecError);
    expect(() => encodeAction("Originate", [["Variable", ["A=1", "B=2\r\n"]]])).toThrowError(AmiCodecError);
    expect(() => encodeAction("Ping", [["Bad:Key", "1"]])).toThrowError(AmiCodecError);
  });
});

describe("recorded traces", () => {
  it.each(traceFiles())("%s decodes to the recorded number of messages", (file) => {
    const bytes = traceBytes(file);
    const expected = countByBlankLines(bytes);
    expect(expected).toBe(scenarioJson(file).files[file].ami_messages);
    for (const chunk of [bytes.length, 1460, 97, 13]) {
      const d = new AmiDecoder({ now });
      let n = 0;
      for (let i = 0; i < bytes.length; i += chunk) n += d.push(bytes.subarray(i, i + chunk)).length;
      expect(n).toBe(expected);
      expect(d.pendingBytes).toBe(0);
      expect(d.bannerVersion).toBe("11.0.0");
    }
  });
});
