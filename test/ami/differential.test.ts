/**
 * Differential test: every recorded trace decoded by our codec and by `asterisk-manager`
 * 0.2.0 (the npm client most bridges start from). Its parser is not exported, so it runs
 * for real against the loopback fake server, which replays the trace after the login.
 *
 * Where they differ, asterisk-manager is the one that is wrong, and the test says how:
 * - keys are lower-cased (`CallerIDNum` → `calleridnum`): the wire's case is lost;
 * - every `Variable:` header becomes an object `{ name: value }` split at `=`, so the
 *   VarSet event's `Variable: __CRM_ACCOUNT` turns into `{ __CRM_ACCOUNT: "" }` and the
 *   header's string value is gone (2,786 headers across the traces);
 * - a header written `Key:value` (no space after the colon; Asterisk itself always writes
 *   one, other AMI servers need not) is not split at all: the whole line becomes the key;
 * - a stray empty line between messages becomes an empty item `{}`: Asterisk 22's answer to
 *   the `Park` action ends its `Message` with a bare LF and then sends one CRLF too many
 *   (trace 32); ours skips it, so empty items are left out of the comparison and counted.
 * Everything else (5,513 messages, about 104,000 headers) agrees value for value.
 */
import { createRequire } from "node:module";
import { afterAll, describe, expect, it } from "vitest";
import { AmiDecoder, type AmiMessage, type HeaderValue } from "../../src/ami/codec.js";
import { traceBytes, traceFiles } from "../helpers/traces.js";
import { startFakeAmi, traceBody } from "../helpers/fakeAmiServer.js";

type AmItem = Record<string, unknown>;
const Manager = createRequire(import.meta.url)("asterisk-manager") as (
  port: number, host: string, user: string, secret: string, events: boolean,
) => { on(name: string, fn: (item: AmItem) => void): void; disconnect(): void };

const SENTINEL = "Event: DifferentialSentinel\r\n\r\n";

/** What asterisk-manager makes of a trace (after its own login response). */
async function viaAsteriskManager(trace: Buffer): Promise<AmItem[]> {
  const server = await startFakeAmi({ afterLogin: Buffer.concat([traceBody(trace), Buffer.from(SENTINEL)]) });
  try {
    const items: AmItem[] = [];
    const ami = Manager(server.port, "127.0.0.1", "ctibridge", "x", true);
    await new Promise<void>((resolve) =>
      ami.on("rawevent", (item) => {
        if (item.event === "DifferentialSentinel") resolve();
        else items.push(item);
      }),
    );
    ami.disconnect();
    return items;
  } finally {
    await server.close();
  }
}

const stats = { messages: 0, headers: 0, variableMangled: 0, emptyItems: 0 };
afterAll(() => console.info("differential", stats));

describe("differential: our codec vs asterisk-manager 0.2.0", () => {
  it.each(traceFiles())("%s", async (name) => {
    const trace = traceBytes(name);
    const ours = new AmiDecoder({ now: () => 0 }).push(trace);
    const all = await viaAsteriskManager(trace);
    const theirs = all.filter((item) => Object.keys(item).length > 0);
    stats.emptyItems += all.length - theirs.length;
    // Both see the login response first (theirs answers their own Login), then the body.
    expect(theirs.length).toBe(ours.length);
    for (let i = 1; i < ours.length; i++) compare(ours[i]!, theirs[i]!, `${name}#${i}`);
    stats.messages += ours.length - 1;
  });
});

describe("differential: the mangled cases, checked against the wire", () => {
  it("VarSet keeps the variable name as the header's string in ours only", async () => {
    const trace = traceBytes("10-ivr-crm-variables");
    const ours = new AmiDecoder({ now: () => 0 }).push(trace);
    const theirs = await viaAsteriskManager(trace);
    const i = ours.findIndex((m) => m.headers.Event === "VarSet" && m.headers.Variable === "__CRM_ACCOUNT");
    expect(i).toBeGreaterThan(0);
    expect(ours[i]!.headers).toMatchObject({ Variable: "__CRM_ACCOUNT", Value: "ACC-1042" });
    expect(trace.includes(Buffer.from("Variable: __CRM_ACCOUNT\r\nValue: ACC-1042\r\n"))).toBe(true);
    expect(theirs[i]).toMatchObject({ event: "VarSet", variable: { __CRM_ACCOUNT: "" }, value: "ACC-1042" });
  });

  it("the stray empty line after Asterisk's Park response: an empty item in theirs only", async () => {
    const trace = traceBytes("32-park-ami-retrieved");
    expect(trace.includes(Buffer.from("Message: Park successful\n\r\n\r\n"))).toBe(true);
    const ours = new AmiDecoder({ now: () => 0 }).push(trace);
    const theirs = await viaAsteriskManager(trace);
    const i = ours.findIndex((m) => m.headers.ActionID === "park-1");
    expect(ours[i]!.headers).toEqual({ Response: "Success", ActionID: "park-1", Message: "Park successful" });
    expect(ours[i + 1]!.headers.Event).toBe("VarSet");
    expect(theirs.slice(i, i + 3).map((item) => item.event ?? item.response ?? "{}")).toEqual(["Success", "{}", "VarSet"]);
    expect(theirs.length).toBe(ours.length + 1);
  });

  it("a header without a space after the colon", async () => {
    const text = "Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n\r\nEvent: Synthetic\r\nUniqueid:1700000000.42\r\nVariable: A=b=c\r\n\r\n";
    const [, ours] = new AmiDecoder({ now: () => 0 }).push(Buffer.from(text));
    const [, theirs] = await viaAsteriskManager(Buffer.from(text));
    expect(ours!.headers).toEqual({ Event: "Synthetic", Uniqueid: "1700000000.42", Variable: "A=b=c" });
    expect(theirs).toEqual({ event: "Synthetic", "uniqueid:1700000000.42": "", variable: { A: "b=c" } });
  });
});

function compare(ours: AmiMessage, theirs: AmItem, where: string): void {
  for (const [key, value] of Object.entries(ours.headers)) {
    stats.headers++;
    const lower = key.toLowerCase();
    const got = theirs[lower];
    if (lower === "variable") {
      // Mangled: a name→value object instead of the header's string.
      stats.variableMangled++;
      const values = typeof value === "string" ? [value] : value;
      expect(Object.keys(got as object), where).toEqual(values.map((v) => v.split("=")[0]));
      continue;
    }
    expect(got, `${where} ${key}`).toEqual(value satisfies HeaderValue);
  }
  if (ours.chanVariables) expect(theirs.chanvariable, where).toEqual(ours.chanVariables);
  // Nothing of theirs is missing from ours (keys compared case-insensitively).
  const oursLower = new Set(Object.keys(ours.headers).map((k) => k.toLowerCase()));
  if (ours.chanVariables) oursLower.add("chanvariable");
  if (ours.destChanVariables) oursLower.add("destchanvariable");
  expect(Object.keys(theirs).filter((k) => !oursLower.has(k)), where).toEqual([]);
}
