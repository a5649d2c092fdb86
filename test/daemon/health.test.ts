/**
 * /healthz tells the truth, over a real HTTP request to the daemon: 200 only while the AMI
 * link is logged in and the call log accepts writes; otherwise 503 naming what is wrong.
 * /livez only says the process runs.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DaemonRig, trace01Halves, waitFor } from "../helpers/daemon.js";

const rig = new DaemonRig();
afterEach(() => rig.close());

async function get(port: number, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.json() };
}

const ISO = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";

describe("/healthz and /livez", () => {
  it("answers 503 naming the store while call-log writes fail, and 200 again once they work", async () => {
    const d = await rig.start();
    expect(await get(d.port, "/healthz")).toMatchObject({ status: 200, body: { status: "ok", pbx: "connected", store: "ok" } });
    // A failing statement: every write of a call is refused, as a broken disk would.
    d.daemon.db.exec("CREATE TRIGGER refuse BEFORE INSERT ON calls BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END");
    await d.replay(trace01Halves()[0]);
    const failing = await waitFor(async () => {
      const h = await get(d.port, "/healthz");
      return h.status === 503 && h;
    }, "503");
    expect(failing.body).toMatchObject({ status: "failing", pbx: "connected", activeCalls: 1 });
    expect(failing.body.store).toMatch(new RegExp(`^write failing since ${ISO}, 1 calls pending$`));
    expect(await get(d.port, "/livez")).toMatchObject({ status: 200, body: { status: "ok" } });
    const metrics = await (await fetch(`http://127.0.0.1:${d.port}/metrics`)).text();
    expect(metrics).toContain("ctibridge_store_backlog_calls 1");
    expect(d.logs.filter((l) => l.msg === "call log write failed, will retry").map((l) => [l.level, l.calls])).toEqual([[50, 1]]);

    d.daemon.db.exec("DROP TRIGGER refuse");
    await waitFor(async () => (await get(d.port, "/healthz")).status === 200, "200 after the retry");
    expect(d.daemon.callLog.list()).toHaveLength(1);
    expect((await get(d.port, "/healthz")).body).toMatchObject({ status: "ok", pbx: "connected", store: "ok" });
  });

  it("answers 503 naming the PBX link while it is down; /livez stays 200", async () => {
    const d = await rig.start();
    await d.pbx.close();
    const down = await waitFor(async () => {
      const h = await get(d.port, "/healthz");
      return h.status === 503 && h;
    }, "503");
    expect(down.body).toMatchObject({ status: "failing", store: "ok" });
    expect(down.body.pbx).toMatch(new RegExp(`^disconnected since ${ISO}$`));
    expect(await get(d.port, "/livez")).toMatchObject({ status: 200, body: { status: "ok" } });
  });
});
