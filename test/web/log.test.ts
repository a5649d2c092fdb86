/// <reference lib="dom" />
/**
 * The panel's call log, supervisor board and layout in headless Chromium against the real
 * daemon: stored calls (copies of recorded scenarios' final records) loaded over REST with
 * paging, their state words in English and German, the missed filter with call back and mark
 * done (seen by a second tab), the board's agents and queue counts, and the boxes at 420 px.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { finalCall, seedCalls } from "../helpers/seedCalls.js";
import { startFakeAmi } from "../helpers/fakeAmiServer.js";
import { listing, noChromium, PanelRig, texts, traceParts, waitFor } from "./panelRig.js";
import type { RunningDaemon } from "../helpers/daemon.js";
import type { Match } from "../../src/calls/model.js";

const rig = new PanelRig();
afterEach(() => rig.close());

/** Six of alice's calls on 29 Nov 2026 (UTC; the browser runs in Europe/Berlin, UTC+1), newest first in the log. */
async function seedAlice(d: RunningDaemon): Promise<void> {
  const db = d.daemon.db;
  const max: Match = { status: "single", count: 1, records: [{ name: "Max Mustermann", company: "Acme GmbH", recordId: "ACC-1042", url: "https://crm.example/accounts/ACC-1042", matchedOn: "e164" }] };
  seedCalls(db, await finalCall("07-queue-support-answered"), ["2026-11-29T08:15:00.000Z"], "queue", { match: max });
  seedCalls(db, await finalCall("03-inbound-missed-caller-abandon"), ["2026-11-29T09:00:00.000Z", "2026-11-29T10:30:00.000Z"], "missed");
  seedCalls(db, await finalCall("12-outbound-no-answer"), ["2026-11-29T11:00:00.000Z"], "noanswer");
  seedCalls(db, await finalCall("22-anonymous-caller"), ["2026-11-29T12:00:00.000Z"], "anon");
  seedCalls(db, await finalCall("11-outbound-answered"), ["2026-11-29T13:45:00.000Z"], "out");
}

const rows = (page: Page) => page.$$eval("#log-list li", (lis) => lis.map((li) => ({ id: (li as HTMLElement).dataset.callId, when: li.querySelector(".when")?.textContent, word: li.querySelector(".word")?.textContent, who: li.querySelector(".who")?.textContent, links: li.querySelectorAll("a").length, buttons: [...li.querySelectorAll("button")].map((b) => b.textContent) })));

describe.skipIf(noChromium)("the call log", () => {
  it("holds the stored calls after a reload, with the right state words in English and German", async () => {
    const d = await rig.start();
    await seedAlice(d);
    const page = await rig.open(d, "alice");
    await page.waitForFunction(() => document.querySelectorAll("#log-list li").length === 6);
    const en = await rows(page);
    expect(en.map((r) => r.id)).toEqual(["out-0", "anon-0", "noanswer-0", "missed-1", "missed-0", "queue-0"]);
    expect(en.map((r) => r.word)).toEqual(["Connected", "Connected", "Hung up", "Missed", "Missed", "Connected"]);
    expect(en[5]!.when).toBe("11/29/2026, 09:15 AM");
    expect(en[5]!.who).toContain("Max Mustermann");
    // the anonymous caller: no CRM link, no call back
    expect(en[1]).toMatchObject({ links: 0, buttons: [] });
    expect(en[1]!.who).toBe("Anonymous");
    expect(en[3]!.buttons).toEqual(["Call back", "Mark done"]);

    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll("#log-list li").length === 6);
    expect((await rows(page)).map((r) => r.word)).toEqual(en.map((r) => r.word));

    const de = await rig.open(d, "alice", { lang: "de" });
    await de.waitForFunction(() => document.querySelectorAll("#log-list li").length === 6);
    const deRows = await rows(de);
    expect(deRows.map((r) => r.word)).toEqual(["Verbunden", "Verbunden", "Aufgelegt", "Verpasst", "Verpasst", "Verbunden"]);
    expect(deRows[5]!.when).toBe("29.11.2026, 09:15");
    expect(deRows[0]!.when).toBe("29.11.2026, 14:45"); // 24-hour
    expect(deRows[1]!.who).toBe("Anonym");
    expect(await de.textContent("#filter-missed")).toBe("Verpasst (2)");
  });

  it("pages through the stored calls: 50 first, the older ones on request", async () => {
    const d = await rig.start();
    const base = await finalCall("07-queue-support-answered");
    seedCalls(d.daemon.db, base, Array.from({ length: 60 }, (_, i) => new Date(Date.parse("2026-11-29T08:00:00.000Z") + i * 60_000).toISOString()), "p");
    const page = await rig.open(d, "alice");
    await page.waitForFunction(() => document.querySelectorAll("#log-list li").length === 50);
    await page.click("#log-more");
    await page.waitForFunction(() => document.querySelectorAll("#log-list li").length === 60);
    expect(await page.isHidden("#log-more")).toBe(true);
    const ids = await page.$$eval("#log-list li", (lis) => lis.map((li) => (li as HTMLElement).dataset.callId));
    expect(ids[0]).toBe("p-59");
    expect(ids.at(-1)).toBe("p-0");
    expect(new Set(ids).size).toBe(60);
  });

  it("missed filter with its count; call back dials the caller; mark done reaches every tab and the store", async () => {
    const d = await rig.start();
    await seedAlice(d);
    const page = await rig.open(d, "alice");
    const other = await rig.open(d, "alice");
    await page.waitForFunction(() => document.querySelectorAll("#log-list li").length === 6);
    expect(await page.textContent("#filter-missed")).toBe("Missed (2)");
    await page.click("#filter-missed");
    expect(await texts(page, "#log-list li .word")).toEqual(["Missed", "Missed"]);

    await page.click("#log-list li[data-call-id='missed-1'] button:text('Call back')");
    const originate = await waitFor(() => d.pbx.received.find((r) => r.action.headers.Action === "Originate"), "Originate");
    expect(originate.action.headers).toMatchObject({ Channel: "PJSIP/1001", Exten: "+49891234567" });

    await page.click("#log-list li[data-call-id='missed-1'] button:text('Mark done')");
    await page.waitForFunction(() => document.querySelector("#filter-missed")?.textContent === "Missed (1)");
    await other.waitForFunction(() => document.querySelector("#filter-missed")?.textContent === "Missed (1)");
    expect(await texts(page, "#log-list li[data-call-id='missed-1'] .done")).toEqual(["✓ Done"]);
    const open: any = await (await fetch(`http://127.0.0.1:${d.port}/api/calls?missed=1&open=1`, { headers: { Authorization: `Bearer ${d.token("alice")}` } })).json();
    expect(open.calls.map((c: { callId: string }) => c.callId)).toEqual(["missed-0"]);
  });
});

describe.skipIf(noChromium)("the supervisor board", () => {
  it("shows every agent's state and the queue counts; no dial form without a phone; filters by queue", async () => {
    const pbx = await startFakeAmi({ fullyBooted: true });
    pbx.setList("QueueStatus", [...listing("resync-QueueStatus", "QueueParams"), ...listing("resync-QueueStatus", "QueueMember")]);
    pbx.setList("DeviceStateList", listing("resync-DeviceStateList", "DeviceStateChange"));
    const d = await rig.start({ pbx });
    const page = await rig.open(d, "sam");
    await page.waitForSelector("#board:not([hidden]) table.agents");
    expect(await page.isHidden("#dial")).toBe(true);
    expect(await page.$("#me-status select")).toBeNull();

    const [ringing, talking, end] = traceParts("07-queue-support-answered", [/^Event: Newstate\r\n[\s\S]*Channel: PJSIP\/1001-[\s\S]*ChannelStateDesc: Up/, /^Event: HangupRequest/m]);
    await d.replay(ringing!);
    await page.waitForFunction(() => document.querySelector("tr[data-queue='support'] td[data-k='waiting']")?.textContent === "1");
    const agent = (id: string) => page.$eval(`tr[data-agent='${id}']`, (tr) => [...tr.querySelectorAll("th, td")].map((c) => c.textContent));
    await page.waitForFunction(() => document.querySelector("tr[data-agent='alice'] .dev")?.textContent === "Ringing");
    // Both ring for the queue call: the supervisor's copy learns of each leg as it rings (call.updated after the first call.ringing).
    await page.waitForFunction(() => document.querySelector("tr[data-agent='alice'] .cur")?.textContent?.startsWith("Max Mustermann"));
    expect(await agent("alice")).toEqual(["Alice Agent", "Ringing", "Available", "support", expect.stringMatching(/^Max Mustermann \d:\d\d$/)]);
    expect(await agent("bob")).toEqual(["Bob Agent", "Ringing", "Available", "support", expect.stringMatching(/^Max Mustermann \d:\d\d$/)]);
    expect((await agent("dave")).filter((_, i) => i !== 1)).toEqual(["Dave Sales", "Available", "sales", ""]);

    await d.replay(talking!);
    await page.waitForFunction(() => document.querySelector("tr[data-agent='alice'] .cur")?.textContent?.startsWith("Max Mustermann"));
    await page.waitForFunction(() => document.querySelector("tr[data-queue='support'] td[data-k='waiting']")?.textContent === "0");
    expect((await agent("bob"))[4]).toBe("");
    await d.replay(end!);
    await page.waitForFunction(() => document.querySelector("tr[data-queue='support'] td[data-k='answered']")?.textContent === "1");
    expect(await page.textContent("tr[data-queue='support'] td[data-k='waiting']")).toBe("0");
    expect(await page.textContent("tr[data-queue='support'] td[data-k='abandoned']")).toBe("0");
    expect(await page.textContent("tr[data-queue='support'] td[data-k='members']")).toBe("2 / 2");

    // a pause with its reason (Asterisk 22 QueueMemberPause of dave's Local member)
    await d.replay(
      Buffer.from("Event: QueueMemberPause\r\nPrivilege: agent,all\r\nQueue: sales\r\nMemberName: Dave Sales\r\nInterface: Local/1004@agents/n\r\nStateInterface: PJSIP/1004\r\nMembership: static\r\nPenalty: 0\r\nCallsTaken: 0\r\nLastCall: 0\r\nLastPause: 0\r\nLoginTime: 0\r\nInCall: 0\r\nStatus: 1\r\nPaused: 1\r\nPausedReason: lunch\r\nRinginuse: 0\r\nWrapuptime: 0\r\n\r\n"),
    );
    await page.waitForFunction(() => document.querySelector("tr[data-agent='dave'] .st")?.textContent === "Paused: Lunch");
    expect(await page.textContent("tr[data-queue='sales'] td[data-k='members']")).toBe("1 / 2");

    await page.selectOption("#board-filter", "sales");
    await page.waitForFunction(() => document.querySelectorAll("table.agents tbody tr").length === 2);
    expect(await texts(page, "table.agents tbody th")).toEqual(["Dave Sales", "Eve Sales"]);
    expect(await texts(page, "table.queues tbody th")).toEqual(["sales"]);
  });
});

describe.skipIf(noChromium)("layout", () => {
  it("420 px: every log row whole (no clipped or overflowing box); 1400 px: the columns use the width", async () => {
    const d = await rig.start();
    await seedAlice(d);
    const narrow = await rig.open(d, "alice", { width: 420, height: 800 });
    await narrow.waitForFunction(() => document.querySelectorAll("#log-list li").length === 6);
    const boxes = await narrow.evaluate(() => {
      const out: string[] = [];
      const vw = document.documentElement.clientWidth;
      if (document.documentElement.scrollWidth > vw) out.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${vw}`);
      for (const li of document.querySelectorAll<HTMLElement>("#log-list li")) {
        const r = li.getBoundingClientRect();
        if (r.right > vw + 0.5 || r.left < -0.5) out.push(`${li.dataset.callId} row outside the viewport`);
        if (li.scrollWidth > li.clientWidth || li.scrollHeight > li.clientHeight) out.push(`${li.dataset.callId} row overflows`);
        for (const el of li.querySelectorAll<HTMLElement>("*")) {
          const b = el.getBoundingClientRect();
          if (b.width === 0 && b.height === 0) continue;
          if (b.left < r.left - 0.5 || b.right > r.right + 0.5 || b.top < r.top - 0.5 || b.bottom > r.bottom + 0.5) out.push(`${li.dataset.callId} ${el.className || el.tagName} sticks out`);
        }
        // clipped by a scrolling ancestor?
        for (let p = li.parentElement; p; p = p.parentElement) {
          const s = getComputedStyle(p);
          if (s.overflowY !== "visible" || s.overflowX !== "visible") {
            const c = p.getBoundingClientRect();
            if (r.top < c.top - 0.5 || r.bottom > c.bottom + 0.5) out.push(`${li.dataset.callId} cut by ${p.id || p.tagName}`);
          }
        }
      }
      return out;
    });
    expect(boxes).toEqual([]);

    const wide = await rig.open(d, "alice", { width: 1400 });
    const [now, log] = await wide.evaluate(() => ["now", "log"].map((id) => document.getElementById(id)!.getBoundingClientRect().toJSON()));
    expect(now.width + log.width).toBeGreaterThan(1400 * 0.9);
    expect(now.width).toBeGreaterThan(1400 * 0.3);
    expect(now.top).toBe(log.top);
  });
});
