/**
 * The "screen pop in your CRM" example of docs/sdk.md: the doc shows examples/screen-pop.js
 * verbatim, and that file runs here as a CRM page would run it (the browser's WebSocket is the
 * `ws` one), against the daemon replaying recorded calls, through the package's built file.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { stripTracePreamble } from "../../../src/sim/replay.js";
import { DaemonRig, E2E_USERS, trace01Halves, waitFor } from "../../../test/helpers/daemon.js";
import { traceBytes } from "../../../test/helpers/traces.js";

const here = dirname(fileURLToPath(import.meta.url));
const EXAMPLE = join(here, "..", "examples", "screen-pop.js");
const DOC = join(here, "..", "..", "..", "docs", "sdk.md");

const rig = new DaemonRig();
const g = globalThis as { WebSocket?: unknown };
const hadWebSocket = g.WebSocket;
let client: { close(): void } | undefined;
afterEach(async () => {
  client?.close();
  g.WebSocket = hadWebSocket;
  await rig.close();
});

describe("docs/sdk.md: screen pop in your CRM", () => {
  it("the doc shows the example file verbatim", () => {
    expect(readFileSync(DOC, "utf8")).toContain("```js\n" + readFileSync(EXAMPLE, "utf8") + "```\n");
  });

  it("opens the rendered pop URL for a ringing call, claims it for this tab, and reports a missed call", async () => {
    const d = await rig.start({ users: E2E_USERS, pop: { urlTemplate: "https://crm.example/pop?phone={e164}&call={callId}" } });
    const otherTab = d.connect("alice");
    await otherTab.ready();
    g.WebSocket = WebSocket;
    const { startScreenPop } = await import(pathToFileURL(EXAMPLE).href);
    const opened: string[] = [];
    const searched: unknown[] = [];
    const statuses: string[] = [];
    client = startScreenPop({
      url: `ws://127.0.0.1:${d.port}/ws`,
      getToken: async () => d.token("alice"),
      openRecord: (u: string) => opened.push(u),
      searchByNumber: (n: string, ivr: unknown) => searched.push([n, ivr]),
      onStatus: (s: string) => statuses.push(s),
    });
    await waitFor(() => statuses.includes("open"), "open");

    const [head] = trace01Halves();
    await d.replay(head);
    const ringing = (await otherTab.nextOf("call.ringing")).call;
    await waitFor(() => opened.length === 1, "the pop");
    expect(opened).toEqual([`https://crm.example/pop?phone=%2B4930123456&call=${encodeURIComponent(ringing.callId)}`]);
    expect(searched).toEqual([]);
    // The claim reached the user's other tab.
    expect(await otherTab.nextOf("call.claimed")).toMatchObject({ callId: ringing.callId });

    await d.replay(stripTracePreamble(traceBytes("03-inbound-missed-caller-abandon")));
    await waitFor(() => statuses.some((s) => s.startsWith("missed")), "missed");
    expect(statuses.filter((s) => s.startsWith("missed"))).toEqual(["missed call from +49891234567"]);
  });
});
