import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { captureAmi, decodeToLines } from "../../src/ami/capture.js";
import { FIXTURES, scenarioJson, traceBytes, traceFiles } from "../helpers/traces.js";
import { clientOptions, memoryLogger, startFakeAmi, traceBody, type AmiServer } from "../helpers/fakeAmiServer.js";

const dir = mkdtempSync(join(tmpdir(), "ctib-capture-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let server: AmiServer | undefined;
afterEach(async () => server?.close());

describe("decodeToLines", () => {
  it.each(traceFiles())("%s gives the recorded number of messages", async (name) => {
    const lines: string[] = [];
    const n = await decodeToLines(join(FIXTURES, name), (l) => lines.push(l));
    expect(n).toBe(scenarioJson(name).files[name].ami_messages);
    expect(lines).toHaveLength(n);
    expect(lines.every((l) => !l.includes("\n"))).toBe(true);
  });

  it("keeps repeated headers as arrays and channel variables as maps, banner excluded", async () => {
    const path = join(dir, "synthetic.ami");
    const text =
      "Asterisk Call Manager/11.0.0\r\n" +
      "Response: Success\r\nOutput: a\r\nOutput: b\r\n\r\n" +
      "Event: Newchannel\r\nChannel: PJSIP/1001-1\r\nChanVariable: CRM_ACCOUNT=ACC-1042\r\nDestChanVariable: TICKET=INC-77\r\nCallerIDNum: 0049301234\r\n\r\n";
    await import("node:fs/promises").then((fs) => fs.writeFile(path, text));
    const lines: string[] = [];
    await decodeToLines(path, (l) => lines.push(l));
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { Response: "Success", Output: ["a", "b"] },
      { Event: "Newchannel", Channel: "PJSIP/1001-1", CallerIDNum: "0049301234", ChanVariable: { CRM_ACCOUNT: "ACC-1042" }, DestChanVariable: { TICKET: "INC-77" } },
    ]);
  });

  it("rejects on an unreadable file", async () => {
    await expect(decodeToLines(join(dir, "missing.ami"), () => undefined)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("captureAmi", () => {
  it("records every byte, banner included, until aborted, then logs off", async () => {
    const body = traceBody(traceBytes("10-ivr-crm-variables"));
    server = await startFakeAmi({ afterLogin: body });
    const ac = new AbortController();
    // Abort as soon as the login response (and the trace bytes written with it) arrived.
    const { log, lines } = memoryLogger("debug", (l) => l.msg === "ami capture started" && ac.abort());
    const out = join(dir, "capture.ami");
    const result = await captureAmi({ ami: clientOptions(server.port, log), out, signal: ac.signal, log });
    const bytes = readFileSync(out);
    expect(result.bytes).toBe(bytes.length);
    expect(bytes.subarray(0, 30).toString()).toBe("Asterisk Call Manager/11.0.0\r\n");
    expect(bytes.includes(body)).toBe(true);
    expect(bytes.toString().endsWith("Response: Goodbye\r\nActionID: capture-logoff\r\nMessage: Thanks for all the fish.\r\n\r\n")).toBe(true);
    const actions = server.received.map((r) => r.action.headers.Action);
    expect(actions).toEqual(["Login", "Logoff"]);
    const n = await decodeToLines(out, () => undefined);
    expect(n).toBe(1 + (scenarioJson("10-ivr-crm-variables").files["10-ivr-crm-variables.ami"].ami_messages - 1) + 1);
    expect(JSON.stringify(lines)).not.toContain("s3cret-value");
  });

  it("stops after the duration", async () => {
    server = await startFakeAmi();
    const { log } = memoryLogger();
    const out = join(dir, "short.ami");
    const r = await captureAmi({ ami: clientOptions(server.port, log), out, durationS: 0.05, log });
    expect(r.bytes).toBeGreaterThan(30);
    expect(server.received.map((x) => x.action.headers.Action)).toEqual(["Login", "Logoff"]);
  });

  it("fails clearly on wrong credentials", async () => {
    server = await startFakeAmi({ acceptLogin: false });
    const { log, lines } = memoryLogger();
    await expect(captureAmi({ ami: clientOptions(server.port, log), out: join(dir, "refused.ami"), durationS: 5, log })).rejects.toThrow(/login failed for ctibridge/);
    expect(lines.filter((l) => l.msg === "ami login failed")).toHaveLength(1);
  });
});
