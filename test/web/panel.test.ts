/// <reference lib="dom" />
/**
 * The reference panel in headless Chromium against the real daemon and a fake PBX replaying
 * recorded traces: the agent's modes through a queue call, pops (also for a call already
 * ringing at connect, and per the user's pop timing), contact choice, IVR data, human error
 * texts that clear with the call, and the agent's own status switch.
 */
import { afterEach, describe, expect, it } from "vitest";
import { listing, noChromium, PanelRig, texts, traceParts, waitFor } from "./panelRig.js";
import { E2E_USERS } from "../helpers/daemon.js";
import { startFakeAmi } from "../helpers/fakeAmiServer.js";

const rig = new PanelRig();
afterEach(() => rig.close());

/** Trace 07 (queue support, ringall, alice answers): ringing | talking | the end. */
const queueCall = () => traceParts("07-queue-support-answered", [/^Event: Newstate\r\n[\s\S]*Channel: PJSIP\/1001-[\s\S]*ChannelStateDesc: Up/, /^Event: HangupRequest/m]);
/** The first message that ends a ring (a dial's end, a hangup request): the trace cut before it is a call still ringing. */
const RING_ENDS = /^Event: (DialEnd|HangupRequest|SoftHangupRequest|AgentRingNoAnswer)\r\n|^Event: Newstate\r\n[\s\S]*Channel: PJSIP\/10\d\d-[\s\S]*ChannelStateDesc: Up/m;
const cardText = (page: import("playwright-core").Page, sel: string) => page.$eval(sel, (e) => e.textContent || "");

async function pbxWithQueues() {
  const pbx = await startFakeAmi({ fullyBooted: true });
  pbx.setList("QueueStatus", [...listing("resync-QueueStatus", "QueueParams"), ...listing("resync-QueueStatus", "QueueMember")]);
  pbx.setList("DeviceStateList", listing("resync-DeviceStateList", "DeviceStateChange"));
  return pbx;
}

describe.skipIf(noChromium)("the agent's modes", () => {
  it("idle → ringing pop → talk → wrap-up → idle for the recorded queue call", async () => {
    const pbx = await pbxWithQueues();
    const d = await rig.start({ pbx, agents: { wrapUp: { mode: "until-ready", pauseInQueue: false } } });
    const page = await rig.open(d, "alice");
    const [ringing, talking, end] = queueCall();
    expect(await page.getAttribute("#mode", "data-mode")).toBe("idle");
    await page.waitForSelector(".card.mode-idle");

    await d.replay(ringing!);
    await page.waitForSelector(".card.mode-ringing.pop");
    expect(await page.getAttribute("#mode", "data-mode")).toBe("ringing");
    await page.waitForFunction(() => document.querySelector(".card.mode-ringing .name")?.textContent === "Max Mustermann");
    const pop = await cardText(page, ".card.mode-ringing");
    expect(pop).toContain("Acme GmbH");
    expect(pop).toContain("support");
    expect(pop).toContain("+49 30 555002"); // the DID, formatted
    expect(pop).not.toContain("4930555002"); // never raw (it was also an IVR variable)
    expect(await page.getAttribute(".card.mode-ringing a.crm", "href")).toBe("https://crm.example/accounts/ACC-1042");
    await page.click(".card.mode-ringing button.accept");
    await page.waitForSelector(".card.mode-ringing button.accept:disabled");

    await d.replay(talking!);
    await page.waitForSelector(".card.mode-talk");
    expect(await page.getAttribute("#mode", "data-mode")).toBe("talk");
    expect(await texts(page, ".card.mode-talk .actions button")).toEqual(["Hold", "Hang up"]);
    // the transfer picker offers the colleagues from the directory
    const options = await page.$$eval("#directory option", (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(options).toContain("Bob Agent (1002)");
    expect(options).not.toContain("Alice Agent (1001)");
    await page.fill(".card.mode-talk textarea", "wants a quote");

    await d.replay(end!);
    await page.waitForSelector(".card.mode-wrapUp");
    expect(await page.getAttribute("#mode", "data-mode")).toBe("wrapUp");
    expect(await page.$eval(".card.mode-wrapUp textarea", (e) => (e as HTMLTextAreaElement).value)).toBe("wants a quote");
    // saving the note keeps the agent in wrap-up (mode until-ready); "Ready" ends it
    await page.click(".card.mode-wrapUp .notes button[type=submit]");
    await page.waitForFunction(() => document.querySelector(".card.mode-wrapUp .notes button")?.textContent?.includes("Saved"));
    expect(await page.getAttribute("#mode", "data-mode")).toBe("wrapUp");
    await page.click(".card.mode-wrapUp button.accept");
    await page.waitForSelector(".card.mode-idle");
    expect(await page.getAttribute("#mode", "data-mode")).toBe("idle");

    const stored = await (await fetch(`http://127.0.0.1:${d.port}/api/calls?limit=5`, { headers: { Authorization: `Bearer ${d.token("alice")}` } })).json();
    expect(stored.calls[0].annotation).toMatchObject({ comment: "wants a quote" });
    expect(stored.calls[0].legs.find((l: { userId: string }) => l.userId === "alice").wrapUpSeconds).toBeGreaterThanOrEqual(0);
    expect(await texts(page, "#log-list li .word")).toEqual(["Connected"]);
  });

  it("a call already ringing when the panel connects pops", async () => {
    const d = await rig.start();
    const [ringing] = queueCall();
    await d.replay(ringing!);
    const page = await rig.open(d, "alice");
    await page.waitForSelector(".card.mode-ringing.pop");
    expect(await page.textContent("#announce")).toContain("Max Mustermann");
    await page.click(".card.mode-ringing button:text('Dismiss')");
    await page.waitForSelector(".card.mode-ringing:not(.pop)");
    expect(await page.$(".card.mode-ringing button.accept")).toBeNull();
  });

  it("pop timing `answered`: the ringing call shows without a pop, the pop comes with the answer", async () => {
    const users = E2E_USERS.map((u) => (u.id === "alice" ? { ...u, popTiming: "answered" } : u));
    const d = await rig.start({ users });
    const page = await rig.open(d, "alice");
    const [ringing, talking] = queueCall();
    await d.replay(ringing!);
    await page.waitForSelector(".card.mode-ringing");
    expect(await page.$(".card.pop")).toBeNull();
    // nor when the panel connects while it rings (hello's popTiming)
    await page.reload();
    await page.waitForSelector(".card.mode-ringing");
    expect(await page.$(".card.pop")).toBeNull();
    expect(await page.$(".card.mode-ringing button.accept")).toBeNull();
    await d.replay(talking!);
    await page.waitForSelector(".card.mode-talk.pop");
  });
});

describe.skipIf(noChromium)("contacts, IVR data, errors", () => {
  it("two matches: choose one (stored as the call's record) or create a contact", async () => {
    const d = await rig.start();
    const page = await rig.open(d, "alice");
    const [ringing] = traceParts("08-queue-support-abandoned", [RING_ENDS]);
    await d.replay(ringing!);
    await page.waitForSelector(".card.mode-ringing .match.many");
    expect(await texts(page, ".choices .who")).toEqual(["Erika Musterfrau · Beispiel AG", "Hans Beispiel · Beispiel AG"]);
    expect(await page.getAttribute(".match.many a.create", "href")).toBe("https://crm.example/contacts?phone=%2B49309876543");
    await page.click(".choices li:nth-child(2) button");
    await page.waitForFunction(() => document.querySelector(".card.mode-ringing .name")?.textContent === "Hans Beispiel");
    expect(await page.getAttribute(".card.mode-ringing a.crm", "href")).toBe("https://crm.example/accounts/ACC-2002");
    const callId = (await page.getAttribute(".card.mode-ringing", "data-call-id"))!;
    const annotations = async () => (await (await fetch(`http://127.0.0.1:${d.port}/api/calls/${callId}/annotations`, { headers: { Authorization: `Bearer ${d.token("alice")}` } })).json()).annotations;
    await waitFor(async () => (await annotations()).some((a: { recordId?: string }) => a.recordId === "ACC-2002"), "the chosen record stored");
  });

  it("no match: a create-contact link", async () => {
    const d = await rig.start();
    const page = await rig.open(d, "alice");
    const [ringing] = traceParts("03-inbound-missed-caller-abandon", [RING_ENDS]);
    await d.replay(ringing!);
    await page.waitForSelector(".card.mode-ringing .match.none a.create");
    expect(await page.getAttribute(".match.none a.create", "href")).toBe("https://crm.example/contacts?phone=%2B49891234567");
  });

  it("a click-to-dial call shows only its own IVR data, not the earlier IVR call's", async () => {
    const d = await rig.start();
    const page = await rig.open(d, "alice");
    await d.replay(traceParts("10-ivr-crm-variables", [])[0]!);
    await page.waitForFunction(() => document.querySelectorAll("#log-list li").length === 1);
    const [dialled] = traceParts("13-click-to-dial", [/^Event: Hangup\r?\n/m]);
    await d.replay(dialled!);
    await page.waitForSelector(".card.mode-talk .ivr");
    const ivr = await cardText(page, ".card.mode-talk .ivr");
    // its own variable (trace 13's Originate sets CRM_ACCOUNT=ACC-2001), labelled as call data, not as a caller's IVR input
    expect(ivr).toContain("Call dataCRM_ACCOUNTACC-2001");
    expect(ivr).not.toMatch(/INC-77|IVR_CHOICE|ACC-1042/);
  });

  it("a failed command reads as words, and its banner goes when the call ends", async () => {
    const d = await rig.start();
    const page = await rig.open(d, "alice");
    const [ringing, talking, end] = queueCall();
    await d.replay(Buffer.concat([ringing!, talking!]));
    await page.waitForSelector(".card.mode-talk");
    await page.click(".card.mode-talk .actions button:text('Hold')");
    await page.waitForSelector("#flash:not([hidden])");
    expect(await page.textContent("#flash-text")).toBe("Hold failed: this phone system cannot do that from the panel; use the phone");
    expect(await cardText(page, ".card.mode-talk .card-error")).toContain("Hold failed");
    await d.replay(end!);
    await page.waitForSelector("#flash", { state: "hidden" });
  });

  it("the agent pauses with a reason, becomes available again and logs out of her queues (queue.pause / unpause / logout)", async () => {
    const pbx = await pbxWithQueues();
    const d = await rig.start({ pbx });
    const page = await rig.open(d, "alice");
    await page.waitForSelector('.status-word[data-status="available"]');
    await page.selectOption("#me-status select", "lunch");
    await page.click("#me-status button:text('Pause')");
    const pause = await waitFor(() => pbx.received.find((r) => r.action.headers.Action === "QueuePause"), "QueuePause");
    expect(pause.action.headers).toMatchObject({ Interface: "PJSIP/1001", Paused: "true", Reason: "lunch" });
    // the PBX reports the pause (Asterisk 22 QueueMemberPause): the panel says so and offers "Available"
    const member = (paused: string, reason: string) =>
      Buffer.from(`Event: QueueMemberPause\r\nPrivilege: agent,all\r\nQueue: support\r\nMemberName: Alice Agent\r\nInterface: PJSIP/1001\r\nStateInterface: PJSIP/1001\r\nMembership: static\r\nPenalty: 0\r\nCallsTaken: 0\r\nLastCall: 0\r\nLastPause: 0\r\nLoginTime: 0\r\nInCall: 0\r\nStatus: 1\r\nPaused: ${paused}\r\nPausedReason: ${reason}\r\nRinginuse: 0\r\nWrapuptime: 0\r\n\r\n`);
    await d.replay(member("1", "lunch"));
    await page.waitForSelector('.status-word[data-status="paused"]');
    expect(await page.textContent(".status-word")).toBe("Paused: Lunch");
    await page.click("#me-status button:text('Available')");
    await waitFor(() => pbx.received.filter((r) => r.action.headers.Action === "QueuePause").length === 2, "unpause");
    expect(pbx.received.filter((r) => r.action.headers.Action === "QueuePause")[1]!.action.headers).toMatchObject({ Interface: "PJSIP/1001", Paused: "false" });
    await page.click("#me-status button:text('Log out')");
    const remove = await waitFor(() => pbx.received.find((r) => r.action.headers.Action === "QueueRemove"), "QueueRemove");
    expect(remove.action.headers).toMatchObject({ Queue: "support", Interface: "PJSIP/1001" });
  });

  it("transfer picks a colleague from the directory: the PBX gets a blind transfer to her extension", async () => {
    const d = await rig.start();
    const page = await rig.open(d, "alice");
    const [ringing, talking] = queueCall();
    await d.replay(Buffer.concat([ringing!, talking!]));
    await page.waitForSelector(".card.mode-talk");
    await page.fill(".card.mode-talk .xfer input", "Carol Agent (1003)");
    await page.click(".card.mode-talk .xfer button:text('Transfer')");
    const xfer = await waitFor(() => d.pbx.received.find((r) => r.action.headers.Action === "BlindTransfer"), "BlindTransfer");
    expect(xfer.action.headers).toMatchObject({ Exten: "1003" });
  });

  it("a refused token says so and stops retrying", async () => {
    const d = await rig.start();
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${d.port}/?token=ctb_not_a_real_token&lang=en`);
      await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("Token refused"), undefined, { timeout: 8_000 });
      expect(await page.isVisible("#connect")).toBe(true);
    } finally {
      await browser.close();
    }
  });
});
