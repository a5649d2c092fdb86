/// <reference lib="dom" />
/**
 * The README's screenshots of the panel's modes, made from recorded traces against the real
 * daemon (not a test: skipped unless CTIBRIDGE_SCREENSHOTS=1). `npm run screenshots` writes
 * docs/images/panel-*.png.
 */
import { mkdirSync } from "node:fs";
import { afterAll, describe, it } from "vitest";
import type { Page } from "playwright-core";
import type { Call, Match } from "../../src/calls/model.js";
import { finalCall, seedCalls } from "../helpers/seedCalls.js";
import { startFakeAmi } from "../helpers/fakeAmiServer.js";
import type { RunningDaemon } from "../helpers/daemon.js";
import { listing, noChromium, PanelRig, traceParts } from "./panelRig.js";

const OUT = new URL("../../docs/images/", import.meta.url).pathname;
const rig = new PanelRig();
afterAll(() => rig.close());

const RINGING = /^Event: (DialEnd|HangupRequest|SoftHangupRequest|AgentRingNoAnswer)\r\n|^Event: Newstate\r\n[\s\S]*Channel: PJSIP\/10\d\d-[\s\S]*ChannelStateDesc: Up/m;
const ALICE_UP = /^Event: Newstate\r\n[\s\S]*Channel: PJSIP\/1001-[\s\S]*ChannelStateDesc: Up/;

async function pbx() {
  const p = await startFakeAmi({ fullyBooted: true });
  p.setList("QueueStatus", [...listing("resync-QueueStatus", "QueueParams"), ...listing("resync-QueueStatus", "QueueMember")]);
  p.setList("DeviceStateList", listing("resync-DeviceStateList", "DeviceStateChange"));
  return p;
}

/** The traces' calls last milliseconds (replayed at full speed): give them a human length. */
function lasting(call: Call, ringS: number, talkS: number | null): Call {
  const t0 = Date.parse(call.times.started);
  const iso = (s: number) => new Date(t0 + s * 1000).toISOString();
  const answered = talkS === null ? null : iso(1 + ringS);
  return { ...call, times: { ...call.times, ringing: iso(1), answered, ended: iso(1 + ringS + (talkS ?? 0)), waitSeconds: ringS, talkSeconds: talkS } };
}

/** A morning of calls in the log (today, so the dates look current). */
async function seed(d: RunningDaemon): Promise<void> {
  const day = new Date(Date.now() - 3 * 3600_000);
  const at = (min: number) => new Date(day.getTime() + min * 60_000).toISOString();
  const rec = (name: string, company: string, recordId: string): Match => ({ status: "single", count: 1, records: [{ name, company, recordId, url: `https://crm.example/accounts/${recordId}`, matchedOn: "e164" }] });
  const db = d.daemon.db;
  seedCalls(db, lasting(await finalCall("07-queue-support-answered"), 9, 272), [at(12)], "a", { match: rec("Max Mustermann", "Acme GmbH", "ACC-1042") });
  seedCalls(db, lasting(await finalCall("03-inbound-missed-caller-abandon"), 14, null), [at(47)], "b", { match: rec("Bayern Logistik", "Bayern Logistik KG", "ACC-3003") });
  seedCalls(db, lasting(await finalCall("11-outbound-answered"), 6, 95), [at(63)], "c");
  seedCalls(db, lasting(await finalCall("22-anonymous-caller"), 4, 41), [at(80)], "d");
  seedCalls(db, lasting(await finalCall("12-outbound-no-answer"), 25, null), [at(95)], "e");
  seedCalls(db, lasting(await finalCall("04-inbound-missed-dial-timeout"), 20, null), [at(121)], "f");
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${OUT}${name}.png`, fullPage: true });
const settle = (page: Page) => page.waitForTimeout(300);

describe.skipIf(noChromium || !process.env.CTIBRIDGE_SCREENSHOTS)("screenshots", () => {
  it("writes docs/images/panel-*.png", async () => {
    mkdirSync(OUT, { recursive: true });
    // idle, ringing (IVR call), talk, wrap-up: agent alice
    {
      const d = await rig.start({ pbx: await pbx(), agents: { wrapUp: { mode: "until-ready" } } });
      await seed(d);
      const page = await rig.open(d, "alice", { width: 1280, height: 760 });
      await page.waitForSelector("#log-list li");
      await settle(page);
      await shot(page, "panel-idle");
      const [ivrRinging] = traceParts("10-ivr-crm-variables", [RINGING]);
      await d.replay(ivrRinging!);
      await page.waitForSelector(".card.mode-ringing.pop .ivr");
      await settle(page);
      await shot(page, "panel-ringing");
      const de = await rig.open(d, "alice", { width: 1280, height: 760, lang: "de" });
      await de.waitForSelector(".card.mode-ringing.pop .ivr");
      await settle(de);
      await shot(de, "panel-ringing-de");
    }
    {
      const d = await rig.start({ pbx: await pbx(), agents: { wrapUp: { mode: "until-ready" } } });
      await seed(d);
      const page = await rig.open(d, "alice", { width: 1280, height: 760 });
      const [ringing, talking, end] = traceParts("07-queue-support-answered", [ALICE_UP, /^Event: HangupRequest/m]);
      await d.replay(Buffer.concat([ringing!, talking!]));
      await page.waitForSelector(".card.mode-talk");
      await page.fill(".card.mode-talk textarea", "Wants a quote for 20 licences");
      await page.selectOption(".card.mode-talk select", "sale");
      await page.fill(".card.mode-talk .xfer input", "Bob");
      await settle(page);
      await shot(page, "panel-talk");
      await d.replay(end!);
      await page.waitForSelector(".card.mode-wrapUp");
      await settle(page);
      await shot(page, "panel-wrapup");
    }
    // two matching contacts; the German call log with the missed filter; 420 px
    {
      const d = await rig.start({ pbx: await pbx() });
      await seed(d);
      const page = await rig.open(d, "alice", { width: 1280, height: 760 });
      const [ringing] = traceParts("08-queue-support-abandoned", [RINGING]);
      await d.replay(ringing!);
      await page.waitForSelector(".card.mode-ringing .match.many");
      await settle(page);
      await shot(page, "panel-matches");
      const de = await rig.open(d, "alice", { width: 1280, height: 760, lang: "de" });
      await de.waitForSelector("#log-list li");
      await de.click("#filter-missed");
      await settle(de);
      await shot(de, "panel-log-de");
      const narrow = await rig.open(d, "alice", { width: 420, height: 900 });
      await narrow.waitForSelector("#log-list li");
      await settle(narrow);
      await shot(narrow, "panel-narrow");
    }
    // the supervisor board while a queue call rings
    {
      const d = await rig.start({ pbx: await pbx() });
      await seed(d);
      const page = await rig.open(d, "sam", { width: 1280, height: 760 });
      const [ringing] = traceParts("07-queue-support-answered", [ALICE_UP]);
      await d.replay(ringing!);
      await page.waitForFunction(() => document.querySelector("tr[data-queue='support'] td[data-k='waiting']")?.textContent === "1");
      await settle(page);
      await shot(page, "panel-board");
    }
  }, 120_000);
});
