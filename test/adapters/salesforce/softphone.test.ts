/**
 * The Salesforce Open CTI softphone page in headless Chromium against a real daemon and the fake
 * PBX replaying recorded traces. Salesforce is not reachable here: the org's `opencti_min.js` URL
 * is answered by a stand-in (openctiStandin.js) that records every call the page makes, checked
 * against the Open CTI Developer Guide's argument shapes, and answers like the guide says. The
 * exact sequences are asserted and written to test-output/salesforce-opencti-sequence.json.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { SignJWT } from "jose";
import type { Browser, BrowserContext, Frame, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { header, type AmiMessage } from "../../../src/ami/codec.js";
import { stripTracePreamble } from "../../../src/sim/replay.js";
import type { TestClient } from "../../helpers/cti.js";
import { DaemonRig, waitFor, type RunningDaemon } from "../../helpers/daemon.js";
import { LAB_USERS } from "../../helpers/labConfig.js";
import { traceBytes } from "../../helpers/traces.js";

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`skipping the Salesforce softphone browser tests: ${CHROMIUM} is missing (Debian package "chromium")`);

const ORG = "https://acme.lightning.force.com";
const SECRET = "sfdc-browser-test-secret-0123456789";
const OUTPUT = join(process.cwd(), "test-output", "salesforce-opencti-sequence.json");
const STANDIN = readFileSync(new URL("./openctiStandin.js", import.meta.url), "utf8");
/** The Contact the org finds for the caller of trace 10 (searchAndScreenPop's Lightning answer shape). */
const ANNA = { "003xx000004TmiQAAS": { Id: "003xx000004TmiQAAS", LastModifiedDate: "2026-11-20T10:00:00.000Z", Name: "Anna Schmidt", RecordType: "Contact" } };

const recorded: Record<string, unknown> = {};
let browser: Browser | undefined;
let context: BrowserContext | undefined;
let tokenServer: Server | undefined;
const rig = new DaemonRig();

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // LocalNetworkAccessChecks off: the org page here is "public" and the daemon is on loopback,
    // which Chromium 142+ refuses to frame without an enterprise policy (see the adapter README).
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-features=LocalNetworkAccessChecks"],
  });
});

afterEach(async () => {
  await context?.close();
  context = undefined;
  await new Promise<void>((done) => (tokenServer ? tokenServer.close(() => done()) : done()));
  tokenServer = undefined;
  await rig.close();
});

afterAll(async () => {
  await browser?.close();
  if (Object.keys(recorded).length > 0) {
    mkdirSync(join(OUTPUT, ".."), { recursive: true });
    writeFileSync(OUTPUT, JSON.stringify(recorded, null, 2) + "\n");
  }
});

async function jwtFor(userId: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: "agent" }).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setIssuedAt(now).setExpirationTime(now + 300).sign(new TextEncoder().encode(SECRET));
}

/** A browser context in UTC whose requests to the org are answered here: Open CTI by the stand-in, a Lightning page framing the softphone. */
async function orgContext(setup: Record<string, unknown>, adapterUrl: string): Promise<BrowserContext> {
  const ctx = await browser!.newContext({ timezoneId: "UTC" });
  await ctx.route(`${ORG}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === "/support/api/62.0/lightning/opencti_min.js") {
      return route.fulfill({ status: 200, contentType: "text/javascript", body: `const SETUP = ${JSON.stringify(setup)};\n${STANDIN}` });
    }
    if (path === "/lightning/page/home") {
      return route.fulfill({ status: 200, contentType: "text/html", body: `<!doctype html><title>Lightning</title><iframe id="softphone" width="300" height="360" src="${adapterUrl}"></iframe>` });
    }
    return route.fulfill({ status: 404, body: "" });
  });
  context = ctx;
  return ctx;
}

function adapterUrl(d: RunningDaemon): string {
  return `http://127.0.0.1:${d.port}/adapters/salesforce/?sfdcIframeOrigin=${encodeURIComponent(ORG)}&mode=Lightning`;
}

type Call = { method?: string; fired?: string; args?: Record<string, unknown>; payload?: unknown; invalid?: string };
/** The page's globals as the stand-in leaves them (this file has no DOM types). */
type StandinGlobal = { __opencti?: { calls: Call[]; clickToDial(p: unknown): void } };
const callsIn = (where: Page | Frame) => where.evaluate(() => (globalThis as unknown as StandinGlobal).__opencti?.calls ?? []);

async function connectedPage(where: Page | Frame): Promise<void> {
  await waitFor(async () => (await where.textContent("#status")) === "Connected" && (await callsIn(where)).some((c) => c.method === "enableClickToDial"), "the softphone connected", 1000);
}

/** The recorded click-to-dial (trace 13) as the PBX's answer to this Originate: its ChannelId and ActionID. */
function clickToDialTrace(originate: AmiMessage): Buffer {
  let text = stripTracePreamble(traceBytes("13-click-to-dial")).toString("utf8");
  const root = /^Uniqueid: (\S+)$/m.exec(text)![1]!;
  text = text.split(root).join(header(originate, "ChannelId")!);
  return Buffer.from(text.replace(/^ActionID: c2d-4711$/m, `ActionID: ${header(originate, "ActionID")!}`), "utf8");
}

async function endedFor(client: TestClient) {
  return client.nextOf("call.ended");
}

/** The daemon's clock (AMI arrival times): the traces carry no Timestamp headers. */
const clock = { ms: Date.now() };

/**
 * Replay a trace in phases: each stop is the first message `before` accepts (after the previous
 * stop); there the daemon's clock moves on `seconds` and `then` runs (the page is looked at).
 */
async function replayInPhases(d: RunningDaemon, bytes: Buffer, stops: Array<{ before: (message: string) => boolean; seconds?: number; then?: () => Promise<void> }>): Promise<void> {
  const msgs = bytes.toString("utf8").split("\r\n\r\n").filter((m) => m.trim() !== "");
  const join = (ms: string[]) => Buffer.from(ms.map((m) => m + "\r\n\r\n").join(""), "utf8");
  let from = 0;
  for (const stop of stops) {
    const cut = msgs.findIndex((m, i) => i >= from && stop.before(m));
    if (cut < 0) throw new Error(`no stop ${stop.before.toString()} in the trace`);
    await d.replay(join(msgs.slice(from, cut)));
    clock.ms += (stop.seconds ?? 0) * 1000;
    await stop.then?.();
    from = cut;
  }
  await d.replay(join(msgs.slice(from)));
}

/** Replay a trace with `talkSeconds` on the daemon's clock between the answer and the hang-up (its first HangupRequest). */
function replayTalking(d: RunningDaemon, bytes: Buffer, talkSeconds: number): Promise<void> {
  return replayInPhases(d, bytes, [{ before: (m) => m.startsWith("Event: HangupRequest"), seconds: talkSeconds }]);
}

describe.skipIf(!HAVE_CHROMIUM)("Salesforce Open CTI softphone in Chromium", () => {
  it("inbound ringing → answered → ended (trace 10): panel shown, caller and IVR data searched, a Task saved with the matched Contact", async () => {
    const d = await rig.start({
      users: LAB_USERS,
      ami: { pingIntervalMs: 600_000 },
      now: () => clock.ms,
      auth: { jwtSecret: SECRET },
      salesforce: { enabled: true, orgOrigins: [ORG], tokenApex: "CtibridgeToken.issue" },
    });
    const ctx = await orgContext({ search: { "+4930123456 OR ACC-1042 OR INC-77": ANNA }, apex: { "CtibridgeToken.issue": JSON.stringify({ token: await jwtFor("alice") }) } }, adapterUrl(d));
    const page = await ctx.newPage();
    await page.goto(`${ORG}/lightning/page/home`);
    const frame = await waitFor(() => page.frames().find((f) => f.url().includes("/adapters/salesforce/")), "the softphone frame");
    await connectedPage(frame);
    expect(await frame.textContent("#user")).toBe("Alice Agent");
    // A second session of alice sees the same frames: the expected Task is built from its call.ended.
    const alice = d.connect("alice");
    await alice.ready();

    let hangup: AmiMessage | null = null;
    d.pbx.handle("Hangup", (action) => {
      hangup = action;
      return [["Response", "Success"], ["Message", "Channel Hungup"]];
    });
    await replayInPhases(d, stripTracePreamble(traceBytes("10-ivr-crm-variables")), [
      {
        // Ringing: the panel shows the caller and says where to answer (stop before 1001 goes Up).
        before: (m) => m.startsWith("Event: Newstate") && /^Channel: PJSIP\/1001-/m.test(m) && /^ChannelStateDesc: Up/m.test(m),
        then: async () => {
          await frame.waitForSelector("#call-hint", { state: "visible" });
          expect(await frame.textContent("#call-party")).toBe("+49 30 123456");
          expect(await frame.textContent("#call-state")).toBe("inbound · ringing");
        },
      },
      {
        // Talking: the hint is gone; Hang up sends one Hangup to the PBX (the trace then plays the recorded hang-up).
        before: (m) => m.startsWith("Event: HangupRequest"),
        seconds: 42,
        then: async () => {
          await frame.waitForSelector("#call-hint", { state: "hidden" });
          expect(await frame.textContent("#call-state")).toBe("inbound · connected");
          await frame.click("#hangup");
          await waitFor(() => hangup, "the Hangup at the PBX");
        },
      },
    ]);
    expect(d.pbx.received.filter((r) => header(r.action, "Action") === "Hangup")).toHaveLength(1);
    expect(header(hangup!, "Channel")).toBe("PJSIP/1001-00000020");
    const ended = await endedFor(alice);
    const calls = await waitFor(async () => {
      const c = await callsIn(frame);
      return c.some((x) => x.method === "refreshView") && c;
    }, "saveLog and refreshView");

    const callId = ended.call.callId as string;
    const leg = (ended.call.legs as Array<{ userId: string; talkSeconds: number }>).find((l) => l.userId === "alice")!;
    expect(calls).toEqual([
      { method: "onClickToDial", args: { listener: "function" } },
      { method: "runApex", args: { apexClass: "CtibridgeToken", methodName: "issue", methodParams: "", callback: "function" } },
      { method: "enableClickToDial", args: { callback: "function" } },
      { method: "setSoftphonePanelVisibility", args: { visible: true, callback: "function" } },
      {
        method: "searchAndScreenPop",
        args: {
          searchParams: "+4930123456 OR ACC-1042 OR INC-77",
          queryParams: `callId=${callId}&phone=%2B4930123456&CRM_ACCOUNT=ACC-1042&TICKET=INC-77`,
          defaultFieldValues: { Phone: "+4930123456" },
          callType: "inbound",
          deferred: false,
          callback: "function",
        },
      },
      {
        method: "saveLog",
        args: {
          value: {
            entityApiName: "Task",
            Subject: "Inbound call from +4930123456",
            TaskSubtype: "Call",
            Status: "Completed",
            CallType: "Inbound",
            CallDurationInSeconds: 42,
            CallDisposition: "answered",
            ActivityDate: (ended.call.times.started as string).slice(0, 10),
            CallObject: callId,
            Description: `ctibridge call ${callId}\nFrom: +4930123456\nTo: +4930555003\nCRM_ACCOUNT: ACC-1042\nTICKET: INC-77\nOutcome: answered (answered_by_me)`,
            WhoId: "003xx000004TmiQAAS",
          },
          callback: "function",
        },
      },
      { method: "refreshView", args: { callback: "function" } },
    ]);
    expect(leg.talkSeconds).toBe(42);
    expect(await frame.isHidden("#call")).toBe(true);
    recorded.inbound = { trace: "10-ivr-crm-variables", framedBy: ORG, token: "runApex CtibridgeToken.issue", calls };
  });

  it("click-to-dial (trace 13): the clicked number is dialled (one Originate at the PBX), the Task links the record; a lost link disables click-to-dial", async () => {
    // The CRM back end's token endpoint: its own session cookie says who the user is.
    let pageOrigin = "";
    tokenServer = createServer((req, res) => {
      const origin = req.headers.origin;
      const cors = origin === pageOrigin ? { "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", Vary: "Origin" } : {};
      if (req.url !== "/token" || !/(?:^|; )crm_session=s-alice(?:;|$)/.test(req.headers.cookie ?? "")) {
        res.writeHead(401, cors).end();
        return;
      }
      void jwtFor("alice").then((token) => res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-store", ...cors }).end(JSON.stringify({ token })));
    });
    await new Promise<void>((done) => tokenServer!.listen(0, "127.0.0.1", done));
    const tokenPort = (tokenServer.address() as AddressInfo).port;
    const d2 = await rig.start({
      users: LAB_USERS,
      ami: { pingIntervalMs: 600_000 },
      now: () => clock.ms,
      auth: { jwtSecret: SECRET },
      salesforce: { enabled: true, orgOrigins: [ORG], tokenUrl: `http://127.0.0.1:${tokenPort}/token` },
    });
    pageOrigin = `http://127.0.0.1:${d2.port}`;
    let originate: AmiMessage | null = null;
    d2.pbx.handle("Originate", (action) => {
      originate = action;
      return [["Response", "Success"], ["Message", "Originate successfully queued"]];
    });

    const ctx = await orgContext({}, adapterUrl(d2));
    await ctx.addCookies([{ name: "crm_session", value: "s-alice", url: `http://127.0.0.1:${tokenPort}` }]);
    const page = await ctx.newPage();
    await page.goto(adapterUrl(d2));
    await connectedPage(page);
    const alice = d2.connect("alice");
    await alice.ready();

    const payload = { number: "(030) 987-6543", recordId: "003xx000004TmiQAAS", recordName: "Anna Schmidt", objectType: "Contact" };
    await page.evaluate((p) => (globalThis as unknown as StandinGlobal).__opencti!.clickToDial(p), payload);
    const action = await waitFor(() => originate, "the Originate at the PBX");
    expect(d2.pbx.received.filter((r) => header(r.action, "Action") === "Originate")).toHaveLength(1);
    expect({ channel: header(action, "Channel"), exten: header(action, "Exten"), context: header(action, "Context") }).toEqual({ channel: "PJSIP/1001", exten: "0309876543", context: "from-internal" });

    await replayTalking(d2, clickToDialTrace(action), 17);
    const ended = await endedFor(alice);
    const calls = await waitFor(async () => {
      const c = await callsIn(page);
      return c.some((x) => x.method === "refreshView") && c;
    }, "saveLog and refreshView");
    const callId = ended.call.callId as string;
    const leg = (ended.call.legs as Array<{ userId: string; talkSeconds: number | null }>).find((l) => l.userId === "alice")!;
    const saved = calls.find((c) => c.method === "saveLog")!;
    expect(calls.filter((c) => c.method !== "saveLog")).toEqual([
      { method: "onClickToDial", args: { listener: "function" } },
      { method: "enableClickToDial", args: { callback: "function" } },
      { fired: "onClickToDial", payload },
      { method: "setSoftphonePanelVisibility", args: { visible: true, callback: "function" } },
      { method: "refreshView", args: { callback: "function" } },
    ]);
    expect(calls.map((c) => c.method ?? c.fired).slice(-2)).toEqual(["saveLog", "refreshView"]);
    expect(saved.args).toEqual({
      value: {
        entityApiName: "Task",
        Subject: "Outbound call to +49309876543",
        TaskSubtype: "Call",
        Status: "Completed",
        CallType: "Outbound",
        CallDurationInSeconds: 17,
        CallDisposition: "answered",
        ActivityDate: (ended.call.times.started as string).slice(0, 10),
        CallObject: callId,
        Description: `ctibridge call ${callId}\nFrom: 1001\nTo: +49309876543\nCRM_ACCOUNT: ACC-2001\nOutcome: answered (placed)`,
        WhoId: "003xx000004TmiQAAS",
      },
      callback: "function",
    });

    // The link to ctibridge is lost: click-to-dial is switched off.
    await rig.stop(d2.daemon);
    const after = await waitFor(async () => {
      const c = await callsIn(page);
      return c.at(-1)?.method === "disableClickToDial" && c;
    }, "disableClickToDial");
    expect(after.at(-1)).toEqual({ method: "disableClickToDial", args: { callback: "function" } });
    recorded.clickToDial = { trace: "13-click-to-dial", token: "GET token endpoint with the CRM session cookie", originate: { Channel: "PJSIP/1001", Exten: "0309876543", Context: "from-internal" }, calls: after };
  });

  it("a site outside salesforce.orgOrigins cannot frame the page (CSP frame-ancestors), a foreign sfdcIframeOrigin is not trusted; the dial field dials", async () => {
    const d = await rig.start({ users: LAB_USERS, ami: { pingIntervalMs: 600_000 }, auth: { jwtSecret: SECRET }, salesforce: { enabled: true, orgOrigins: [ORG], tokenApex: "CtibridgeToken.issue" } });
    const ctx = await orgContext({ apex: { "CtibridgeToken.issue": await jwtFor("alice") } }, adapterUrl(d));
    const requested: string[] = [];
    await ctx.route("https://evil.example/**", (route) => {
      requested.push(route.request().url());
      return route.fulfill({ status: 200, contentType: "text/html", body: `<!doctype html><iframe src="${adapterUrl(d)}"></iframe>` });
    });
    const page = await ctx.newPage();
    await page.goto("https://evil.example/home");
    await waitFor(() => page.frames().some((f) => f.url() === "chrome-error://chromewebdata/"), "the blocked frame");
    expect(page.frames().map((f) => f.url())).toEqual(["https://evil.example/home", "chrome-error://chromewebdata/"]);

    // Loaded directly with a foreign origin in the parameter: Open CTI still comes from the configured org.
    const direct = await ctx.newPage();
    await direct.goto(`http://127.0.0.1:${d.port}/adapters/salesforce/?sfdcIframeOrigin=${encodeURIComponent("https://evil.example")}&mode=Lightning`);
    await connectedPage(direct);
    expect(requested).toEqual(["https://evil.example/home"]);

    // The panel's own dial field: a typed number is dialled like a clicked one.
    d.pbx.handle("Originate", () => [["Response", "Success"], ["Message", "Originate successfully queued"]]);
    await direct.fill("#dial-to", "+49 30 1234567");
    await direct.click("#dial-call");
    const orig = await waitFor(() => d.pbx.received.find((r) => header(r.action, "Action") === "Originate")?.action, "the Originate at the PBX");
    expect({ channel: header(orig, "Channel"), exten: header(orig, "Exten") }).toEqual({ channel: "PJSIP/1001", exten: "+49301234567" });
  });

  it("a Salesforce user the token source does not know: the panel says so, click-to-dial stays off", async () => {
    const d = await rig.start({ users: LAB_USERS, ami: { pingIntervalMs: 600_000 }, auth: { jwtSecret: SECRET }, salesforce: { enabled: true, orgOrigins: [ORG], tokenApex: "CtibridgeToken.issue" } });
    const ctx = await orgContext({ apex: { "CtibridgeToken.issue": "" } }, adapterUrl(d));
    const page = await ctx.newPage();
    await page.goto(adapterUrl(d));
    await waitFor(async () => (await page.textContent("#error")) === "getToken failed: Error: no ctibridge token for this user (is the Salesforce user mapped to a ctibridge user?)", "the error shown");
    expect(await page.textContent("#status")).not.toBe("Connected");
    expect((await callsIn(page)).map((c) => c.method)).not.toContain("enableClickToDial");
    expect(await page.isDisabled("#dial-call")).toBe(true);
  });

  it("a click-to-dial the PBX fails at once: the failed call's Task still links the clicked record (its end comes before the dial's result)", async () => {
    const d = await rig.start({
      users: LAB_USERS,
      ami: { pingIntervalMs: 600_000 },
      now: () => clock.ms,
      auth: { jwtSecret: SECRET },
      salesforce: { enabled: true, orgOrigins: [ORG], tokenApex: "CtibridgeToken.issue" },
    });
    d.pbx.handle("Originate", () => [["Response", "Success"], ["Message", "Originate successfully queued"]]);
    const ctx = await orgContext({ apex: { "CtibridgeToken.issue": await jwtFor("alice") } }, adapterUrl(d));
    const page = await ctx.newPage();
    await page.goto(adapterUrl(d));
    await connectedPage(page);
    const alice = d.connect("alice");
    await alice.ready();

    const payload = { number: "030 987 6543", recordId: "00Qxx0000012345", recordName: "Lena Lead", objectType: "Lead" };
    await page.evaluate((p) => (globalThis as unknown as StandinGlobal).__opencti!.clickToDial(p), payload);
    const orig = await waitFor(() => d.pbx.received.find((r) => header(r.action, "Action") === "Originate")?.action, "the Originate at the PBX");
    // The phone did not answer: Asterisk's OriginateResponse Failure (reason 3) ends the call.
    d.pbx.broadcast([
      ["Event", "OriginateResponse"],
      ["Privilege", "call,all"],
      ["ActionID", header(orig, "ActionID")!],
      ["Response", "Failure"],
      ["Channel", "PJSIP/1001"],
      ["Context", "from-internal"],
      ["Exten", "0309876543"],
      ["Reason", "3"],
      ["Uniqueid", header(orig, "ChannelId")!],
      ["CallerIDNum", "0309876543"],
      ["CallerIDName", "0309876543"],
    ]);
    const ended = await endedFor(alice);
    const calls = await waitFor(async () => {
      const c = await callsIn(page);
      return c.some((x) => x.method === "refreshView") && c;
    }, "saveLog and refreshView");
    const callId = ended.call.callId as string;
    expect(calls.slice(-2)).toEqual([
      {
        method: "saveLog",
        args: {
          value: {
            entityApiName: "Task",
            Subject: "Outbound call to +49309876543",
            TaskSubtype: "Call",
            Status: "Completed",
            CallType: "Outbound",
            CallDurationInSeconds: 0,
            CallDisposition: "failed",
            ActivityDate: (ended.call.times.started as string).slice(0, 10),
            CallObject: callId,
            Description: `ctibridge call ${callId}\nFrom: 1001\nTo: +49309876543\nOutcome: failed (placed)`,
            WhoId: "00Qxx0000012345",
          },
          callback: "function",
        },
      },
      { method: "refreshView", args: { callback: "function" } },
    ]);
    await waitFor(async () => (await page.textContent("#error"))?.includes("dial 0309876543: "), "the failed dial shown");
    recorded.clickToDialFailed = { calls };
  });
});
