/**
 * SIGHUP (issue 9): everything that can change safely at run time is applied, and one log line
 * says what was applied and what needs a restart.
 */
import { afterEach, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config.js";
import { Directory } from "../../src/directory/users.js";
import { openDb } from "../../src/store/db.js";
import { DaemonRig, E2E_USERS, trace01Halves, waitFor } from "../helpers/daemon.js";

const rig = new DaemonRig();
afterEach(() => rig.close());

describe("daemon.reload", () => {
  it("applies users, contacts, pop, control and log level at once, and names what needs a restart", async () => {
    const d = await rig.start({ users: E2E_USERS, pop: { urlTemplate: "https://old.example/?n={e164}" }, ami: { pingIntervalMs: 600_000 } });
    const next = configSchema.parse({
      ...d.config,
      ami: { ...d.config.ami, port: 1, username: "other" },
      server: { ...d.config.server, port: 1 },
      store: { path: "/elsewhere/c.db" },
      users: [...E2E_USERS, { id: "zoe", name: "Zoe", devices: ["PJSIP/1009"] }],
      contacts: { ...d.config.contacts, cacheSeconds: 5 },
      pop: { urlTemplate: "https://new.example/?n={e164}", timing: "answered" },
      control: { ...d.config.control, dialContext: "from-crm", limits: { ...d.config.control.limits, originatePerMinute: 1 } },
      log: { level: "debug" },
    });
    const r = d.daemon.reload(next);
    expect(r).toEqual({
      applied: ["users", "contacts.cacheSeconds", "pop.urlTemplate", "pop.timing", "control.dialContext", "control.limits.originatePerMinute", "log.level"],
      restartNeeded: ["ami.port", "ami.username", "store.path", "server.port"],
    });
    expect(d.logs.filter((l) => l.msg === "configuration reloaded")).toEqual([
      expect.objectContaining({ level: 30, applied: r.applied, restartNeeded: r.restartNeeded, users: 8 }),
    ]);

    // users: zoe exists; pop: the new template; control: the new dial context and budget; log: debug lines now.
    expect(d.daemon.directory.getUser("zoe")).toBeTruthy();
    const alice = d.connect("alice");
    await alice.ready();
    await d.replay(trace01Halves()[0]);
    const ringing = await alice.nextOf("call.ringing");
    expect(ringing.call.popUrl).toBe("https://new.example/?n=%2B4930123456");
    expect(d.logs.some((l) => l.msg === "ami event" && l.callId === ringing.call.callId)).toBe(true);
    alice.send({ type: "command", id: "d1", action: "dial", args: { to: "0301234567" } });
    alice.send({ type: "command", id: "d2", action: "dial", args: { to: "0301234567" } });
    const results = [await alice.nextOf("command.result", 20_000), await alice.nextOf("command.result", 20_000)];
    expect(results.find((m) => m.id === "d2")).toMatchObject({ ok: false, error: { code: "rate_limited" } });
    const originate = await waitFor(() => d.pbx.received.find((x) => x.action.get("Action") === "Originate"), "the Originate");
    expect(originate.action.get("Context")).toBe("from-crm");
  });

  it("applies agents.wrapUp (the next wrap-up follows it); agents.timezone needs a restart", async () => {
    const d = await rig.start({ users: E2E_USERS });
    const next = configSchema.parse({ ...d.config, agents: { ...d.config.agents, wrapUp: { ...d.config.agents.wrapUp, mode: "until-ready" }, timezone: "Europe/Berlin" } });
    expect(d.daemon.reload(next)).toEqual({ applied: ["agents.wrapUp.mode"], restartNeeded: ["agents.timezone"] });
    const alice = d.connect("alice");
    await alice.ready();
    await d.replay(trace01Halves()[0]);
    await d.replay(trace01Halves()[1]);
    await alice.nextOf("call.ended");
    // Trace 01 is a direct call: wrap-up applies to queue calls unless agents.wrapUp.calls is all.
    expect(d.daemon.wrapUps.stateOf("alice")).toBeNull();
    d.daemon.reload(configSchema.parse({ ...next, agents: { ...next.agents, wrapUp: { ...next.agents.wrapUp, calls: "all" } } }));
    const again = trace01Halves().map((b) => Buffer.from(b.toString("latin1").replaceAll("1795305921", "1795309999"), "latin1"));
    await d.replay(again[0]!);
    await d.replay(again[1]!);
    await waitFor(() => d.daemon.wrapUps.stateOf("alice"), "wrap-up");
    expect(d.daemon.wrapUps.stateOf("alice")).toMatchObject({ until: null });
  });

  it("keeps running on the old settings when nothing reloadable changed, and says so", async () => {
    const d = await rig.start();
    const r = d.daemon.reload(configSchema.parse({ ...d.config, server: { ...d.config.server, host: "0.0.0.0" } }));
    expect(r).toEqual({ applied: [], restartNeeded: ["server.host"] });
  });

  it("needs no SIGHUP for a user added by another process (`ctibridge users add`): the directory notices through data_version", async () => {
    const d = await rig.start({ users: E2E_USERS.filter((u) => u.id !== "alice") });
    const cli = openDb(d.dbPath);
    new Directory({ db: cli }).addUser({ id: "alina", name: "Alina", role: "agent", devices: ["PJSIP/1001"] });
    cli.close();
    const alina = d.connect("alina");
    await alina.ready();
    await d.replay(trace01Halves()[0]);
    const ringing = await alina.nextOf("call.ringing");
    expect(ringing.call.legs).toEqual([expect.objectContaining({ userId: "alina", device: "PJSIP/1001" })]);
  });
});
