/**
 * The browser build in a real browser: headless Chromium opens a page of the daemon, imports
 * /sdk/ctibridge-client.js as served by the daemon, connects with the browser's own WebSocket
 * (token in the subprotocol list), and receives the pop of a replayed ringing call.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { DaemonRig, E2E_USERS, trace01Halves } from "../../../test/helpers/daemon.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const rig = new DaemonRig();
let browser: Browser | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
  await rig.close();
});

describe("the browser build", () => {
  it.skipIf(!hasChromium)(
    hasChromium ? "loads from the daemon in Chromium and receives a pop for a ringing call" : `SKIPPED: ${CHROMIUM} is missing (apt-get install chromium): the browser build was not run in a browser`,
    async () => {
      const d = await rig.start({ users: E2E_USERS });
      const raw = d.connect("alice");
      await raw.ready();
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      // Any page of the daemon's origin; the module import is same-origin from there.
      await page.goto(`http://127.0.0.1:${d.port}/livez`);
      // A string, not a function: the test runner rewrites import() in functions it compiles.
      const status = await page.evaluate(`(async () => {
        const { connect } = await import("/sdk/ctibridge-client.js");
        window.pops = [];
        window.client = connect({ url: ${JSON.stringify(`ws://127.0.0.1:${d.port}/ws`)}, token: ${JSON.stringify(d.token("alice"))}, instance: "chromium" });
        window.client.on("pop", (p) => window.pops.push({ callId: p.call.callId, type: p.message.type, seq: p.message.seq, from: p.call.from.raw }));
        for (let i = 0; i < 200 && window.client.status !== "open"; i++) await new Promise((r) => setTimeout(r, 25));
        return { status: window.client.status, user: window.client.user && window.client.user.id };
      })()`);
      expect(status).toEqual({ status: "open", user: "alice" });

      const [head] = trace01Halves();
      await d.replay(head);
      await raw.sync();
      const ringing = raw.messages.find((m) => m.type === "call.ringing");
      await page.waitForFunction(() => (globalThis as any).pops.length > 0, undefined, { timeout: 10_000 });
      const pops = await page.evaluate(() => (globalThis as any).pops);
      expect(pops).toEqual([{ callId: ringing.call.callId, type: "call.ringing", seq: ringing.seq, from: "+4930123456" }]);
      const calls = await page.evaluate(async () => {
        const c = (globalThis as any).client;
        await c.ping();
        return [...c.calls.values()].map((x: any) => [x.callId, x.state]);
      });
      expect(calls).toEqual([[ringing.call.callId, "connected"]]);
      expect(pageErrors).toEqual([]);

      // A token a subprotocol cannot carry: Chromium's constructor error quotes it; the SDK's does not.
      const refused = await page.evaluate(`(async () => {
        const { connect } = await import("/sdk/ctibridge-client.js");
        const errors = [];
        const c = connect({ url: ${JSON.stringify(`ws://127.0.0.1:${d.port}/ws`)}, token: "bad token-secret-4711" });
        c.on("error", (e) => errors.push(e.code + ": " + e.message));
        for (let i = 0; i < 200 && c.status !== "closed"; i++) await new Promise((r) => setTimeout(r, 25));
        return { status: c.status, errors };
      })()`);
      expect(refused).toMatchObject({ status: "closed", errors: [expect.stringMatching(/^unauthorized: cannot open the WebSocket: .*\[token\]/)] });
      expect(JSON.stringify(refused)).not.toContain("secret-4711");
    },
    60_000,
  );
});
