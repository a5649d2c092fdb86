/**
 * The reference panel in headless Chromium against the real daemon: a DaemonRig (fake PBX on
 * 127.0.0.1 port 0 replaying recorded traces), the demo's contacts, a pop URL template, and a
 * Chromium page per user. Skips (with the reason) when /usr/bin/chromium is not installed.
 */
import { trace25Listing as listing } from "../helpers/listing.js";
import { existsSync } from "node:fs";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { Call } from "../../src/calls/model.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { CallLog } from "../../src/store/callLog.js";
import { DaemonRig, E2E_USERS, waitFor, type DaemonOptions, type RunningDaemon } from "../helpers/daemon.js";
import { traceBytes } from "../helpers/traces.js";

export const CHROMIUM = "/usr/bin/chromium";
export const noChromium = existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (apt-get install chromium): the panel's browser tests are skipped`;
if (noChromium) console.warn(noChromium);

export const CONTACTS = `name,company,numbers,record_id,url
Max Mustermann,Acme GmbH,+49 30 123456,ACC-1042,https://crm.example/accounts/ACC-1042
Erika Musterfrau,Beispiel AG,030 9876543,ACC-2001,https://crm.example/accounts/ACC-2001
Hans Beispiel,Beispiel AG,030 9876543,ACC-2002,https://crm.example/accounts/ACC-2002
`;

/** A recorded trace cut before the first message matching each pattern (in order). */
export function traceParts(name: string, cuts: RegExp[]): Buffer[] {
  const msgs = stripTracePreamble(traceBytes(name))
    .toString("utf8")
    .split("\r\n\r\n")
    .filter((m) => m.trim() !== "");
  const parts: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    const at = msgs.findIndex((m, i) => i >= from && cut.test(m));
    if (at < 0) throw new Error(`${name}: no message matches ${cut}`);
    parts.push(Buffer.from(msgs.slice(from, at).map((m) => m + "\r\n\r\n").join(""), "utf8"));
    from = at;
  }
  parts.push(Buffer.from(msgs.slice(from).map((m) => m + "\r\n\r\n").join(""), "utf8"));
  return parts;
}


export class PanelRig {
  readonly daemons = new DaemonRig();
  private browser: Browser | null = null;
  private readonly contexts: BrowserContext[] = [];

  async start(o: DaemonOptions = {}): Promise<RunningDaemon> {
    const d = await this.daemons.start({ users: E2E_USERS, pop: { urlTemplate: "https://crm.example/contacts?phone={e164}" }, ...o });
    d.daemon.contacts.importCsv(CONTACTS);
    return d;
  }

  /** A page of the panel for `userId` at `width` px, language `lang`, connected (its status says so). */
  async open(d: RunningDaemon, userId: string, o: { width?: number; height?: number; lang?: "en" | "de" } = {}): Promise<Page> {
    if (!this.browser) {
      const { chromium } = await import("playwright-core");
      this.browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      });
    }
    const lang = o.lang ?? "en";
    const ctx = await this.browser.newContext({ viewport: { width: o.width ?? 1400, height: o.height ?? 900 }, locale: lang === "de" ? "de-DE" : "en-US", timezoneId: "Europe/Berlin" });
    this.contexts.push(ctx);
    const page = await ctx.newPage();
    page.setDefaultTimeout(8_000);
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    (page as Page & { errors: string[] }).errors = errors;
    await page.goto(`http://127.0.0.1:${d.port}/?token=${encodeURIComponent(d.token(userId))}&lang=${lang}`);
    await page.waitForSelector('#status[data-kind="ok"]', { timeout: 10_000 }).catch((e) => {
      throw new Error(`panel did not connect: ${errors.join(" | ")} ${e}`);
    });
    await page.waitForSelector("#me-name:not(:empty)", { state: "attached", timeout: 5_000 });
    return page;
  }

  async close(): Promise<void> {
    for (const c of this.contexts.splice(0)) await c.close().catch(() => undefined);
    if (this.browser) await this.browser.close().catch(() => undefined);
    this.browser = null;
    await this.daemons.close();
  }
}

/** Stored calls for the log tests (saved straight into the daemon's store). */
export function store(d: RunningDaemon, calls: Call[]): void {
  const log = new CallLog(d.daemon.db);
  for (const c of calls) log.save(c, c.times.ended ?? c.times.started);
}

/** The texts of the elements matching `selector`. */
export const texts = (page: Page, selector: string): Promise<string[]> => page.$$eval(selector, (els) => els.map((e) => (e.textContent || "").trim()));

export { waitFor };

export { listing };
