/** The CLI in-process, with a fake `io` (no process.exit, output captured). */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cliRun.js";
import { replayFiles } from "../../src/replay.js";
import { CallLog } from "../../src/store/callLog.js";
import { openDb } from "../../src/store/db.js";
import { LAB_USERS, labConfig } from "../helpers/labConfig.js";
import { FIXTURES, scenarioJson, traceFiles } from "../helpers/traces.js";

const run = runCli;

function tmp(name: string, text: string): string {
  const p = join(mkdtempSync(join(tmpdir(), "ctib-cli-")), name);
  writeFileSync(p, text);
  return p;
}

const LAB_YAML = `
users:
${LAB_USERS.map((u) => `  - { id: ${u.id}, name: "${u.name}", devices: [${u.devices.join(", ")}] }`).join("\n")}
trunks: [PJSIP/carrier]
log: { level: silent }
`;

describe("ctibridge check-config", () => {
  it("prints every problem with its path and exits 1", async () => {
    const r = await run(["check-config", "--config", tmp("bad.yaml", "ami:\n  port: 0\n  mode: live\nserver:\n  port: x\n")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("ami.port: expected an integer 1..65535");
    expect(r.err).toContain("server.port: expected an integer 0..65535");
  });

  it("prints the effective config with secrets redacted", async () => {
    const r = await run(["check-config", "--config", tmp("ok.yaml", "ami: { mode: live }\n")], { CTIBRIDGE_AMI_SECRET: "hunter2" });
    expect(r.code).toBe(0);
    expect(r.out).toContain('"secret": "[redacted]"');
    expect(r.out).not.toContain("hunter2");
  });

  it("start refuses a broken config before opening anything", async () => {
    const r = await run(["start", "--config", tmp("bad.yaml", "ami: { port: 70000 }\n")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("ami.port");
  });
});

describe("ctibridge start without a PBX configured (issue 9)", () => {
  it("refuses to start without a config file, names the way out and exits 2: never a silent simulator", async () => {
    const r = await run(["start"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("no config file: pass --config FILE (see config/ctibridge.example.yaml), or run `ctibridge demo`");
  });

  it("refuses an empty config file (nothing says where the PBX is) with exit 2", async () => {
    for (const text of ["", "users: []\nlog: { level: silent }\n"]) {
      const f = tmp("empty.yaml", text);
      const r = await run(["start", "--config", f], { CTIBRIDGE_AMI_SECRET: "s" });
      expect(r.code, text).toBe(2);
      expect(r.err).toContain(`${f} has no ami section`);
      expect(r.err).toContain("ami.mode: simulator");
    }
  });

  it("defaults ami.mode to live: check-config of a file with only users asks for the AMI secret", async () => {
    const r = await run(["check-config", "--config", tmp("users.yaml", LAB_YAML)]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("ami.secret: required in live mode");
  });

  it("admin commands need no AMI secret (they never talk to the PBX)", async () => {
    const dbPath = join(mkdtempSync(join(tmpdir(), "ctib-cli-")), "c.db");
    const cfg = tmp("live.yaml", `ami: { mode: live, secretFile: /nonexistent/ami.secret }\nstore: { path: ${dbPath} }\nlog: { level: silent }\n`);
    const r = await run(["users", "add", "zoe", "Zoe", "--device", "PJSIP/1009", "--config", cfg]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
  });
});

describe("ctibridge decode", () => {
  it.each(traceFiles())("%s: one JSON line per message", async (f) => {
    const r = await run(["decode", join(FIXTURES, f)]);
    const lines = r.out.trim().split("\n");
    expect(lines).toHaveLength(scenarioJson(f).files[f].ami_messages);
    expect(() => lines.map((l) => JSON.parse(l))).not.toThrow();
  });

  it("exits 1 with a clear error on an unreadable file", async () => {
    const r = await run(["decode", "/nonexistent.ami"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot decode \/nonexistent\.ami: .*ENOENT/);
  });
});

describe("ctibridge replay", () => {
  it("prints one JSON line per call, deterministically", async () => {
    const cfg = tmp("lab.yaml", LAB_YAML);
    const a = await run(["replay", join(FIXTURES, "06-ringgroup-answered.ami"), "--config", cfg]);
    const b = await run(["replay", join(FIXTURES, "06-ringgroup-answered.ami"), "--config", cfg]);
    expect(a.out).toBe(b.out);
    const calls = a.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      callId: "call-0001",
      direction: "inbound",
      from: { raw: "+4930123456", e164: "+4930123456" },
      outcome: "answered",
      answeredBy: { userId: "bob", device: "PJSIP/1002" },
      legs: [
        { userId: "alice", outcome: "answered_elsewhere" },
        { userId: "bob", outcome: "answered_by_me" },
        { userId: "carol", outcome: "answered_elsewhere" },
      ],
    });
  });

  it("replays several files as consecutive connections and prints events with --events", async () => {
    const cfg = tmp("lab.yaml", LAB_YAML);
    const r = await run(["replay", join(FIXTURES, "01-inbound-answered.ami"), join(FIXTURES, "03-inbound-missed-caller-abandon.ami"), "--events", "--config", cfg]);
    const events = r.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(events.map((e) => `${e.userId}:${e.event}`)).toEqual([
      "alice:callRinging",
      "alice:callAnswered",
      "alice:callEnded",
      "alice:callRinging",
      "alice:callRingingStopped",
      "alice:callEnded",
      "alice:callMissed",
    ]);
  });
});

describe("ctibridge calls --missed", () => {
  it("lists exactly the calls missed under the configured policy", async () => {
    const dbPath = join(mkdtempSync(join(tmpdir(), "ctib-cli-")), "c.db");
    const db = openDb(dbPath);
    const log = new CallLog(db);
    const traces = ["03-inbound-missed-caller-abandon", "06-ringgroup-answered", "08-queue-support-abandoned", "25-resync-actions"];
    const { events } = await replayFiles(traces.map((t) => `${FIXTURES}/${t}.ami`), labConfig());
    for (const e of events) if (e.userId === null) log.save(e.call, new Date(e.at).toISOString());
    db.close();
    const cfg = tmp("c.yaml", `${LAB_YAML}store: { path: ${dbPath} }\n`);
    const all = await run(["calls", "--missed", "--json", "--config", cfg]);
    const missed = all.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(missed.map((c) => c.from.raw).sort()).toEqual(["0049891234567", "0049891234567", "0309876543"]);
    const alice = await run(["calls", "--missed", "--user", "alice", "--json", "--config", cfg]);
    expect(alice.out.trim().split("\n").map((l) => JSON.parse(l).from.raw).sort()).toEqual(["0049891234567", "0309876543"]);
    const frank = await run(["calls", "--missed", "--user", "frank", "--config", cfg]);
    expect(frank.out).toMatch(/0049891234567 .* frank:missed/);
  });

  it("shows a possibly missed leg (its call's end was not seen) as such", async () => {
    const dbPath = join(mkdtempSync(join(tmpdir(), "ctib-cli-")), "p.db");
    const db = openDb(dbPath);
    const { events } = await replayFiles([`${FIXTURES}/03-inbound-missed-caller-abandon.ami`], labConfig());
    const call = events.filter((e) => e.userId === null).at(-1)!.call;
    new CallLog(db).save({ ...call, outcome: null, endReason: "unknown_end", legs: call.legs.map((l) => ({ ...l, missedUncertain: true as const })) }, call.times.ended!);
    db.close();
    const cfg = tmp("p.yaml", `${LAB_YAML}store: { path: ${dbPath} }\n`);
    expect((await run(["calls", "--missed", "--config", cfg])).out).toMatch(/0049891234567 .* ended +alice:missed\(possibly\) /);
  });
});

describe("ctibridge users, tokens, contacts", () => {
  it("manages users and devices in SQLite", async () => {
    const dbPath = join(mkdtempSync(join(tmpdir(), "ctib-cli-")), "u.db");
    const cfg = tmp("u.yaml", `store: { path: ${dbPath} }\nlog: { level: silent }\n`);
    expect((await run(["users", "add", "zoe", "Zoe Z", "--device", "PJSIP/2001", "PJSIP/2002", "--config", cfg])).code).toBe(0);
    expect((await run(["users", "list", "--config", cfg])).out).toBe("zoe\tZoe Z\tagent\tPJSIP/2001,PJSIP/2002\n");
    await run(["users", "set-devices", "zoe", "PJSIP/3001", "--config", cfg]);
    expect((await run(["users", "list", "--config", cfg])).out).toBe("zoe\tZoe Z\tagent\tPJSIP/3001\n");
    expect((await run(["users", "remove", "zoe", "--config", cfg])).code).toBe(0);
    expect((await run(["users", "remove", "zoe", "--config", cfg])).code).toBe(1);
  });

  it("creates an API key only for a known user, lists it without the secret, revokes it", async () => {
    const dbPath = join(mkdtempSync(join(tmpdir(), "ctib-cli-")), "t.db");
    const cfg = tmp("t.yaml", `${LAB_YAML}store: { path: ${dbPath} }\n`);
    const nobody = await run(["tokens", "create", "nobody", "--config", cfg]);
    expect(nobody.code).toBe(1);
    expect(nobody.err).toContain("no user nobody");
    // A key never gives more rights than the user's role: alice is an agent.
    const wider = await run(["tokens", "create", "alice", "--role", "supervisor", "--config", cfg]);
    expect(wider.code).toBe(1);
    expect(wider.err).toContain("alice is an agent: a key cannot give more rights than the user's role");
    const created = await run(["tokens", "create", "alice", "--config", cfg]);
    const token = created.out.trim();
    expect(token).toMatch(/^ctb_[0-9a-f]{12}_/);
    const listed = (await run(["tokens", "list", "--config", cfg])).out;
    expect(listed).toContain('"userId":"alice"');
    expect(listed).not.toContain(token.slice(token.indexOf("_", 4) + 1));
    const id = JSON.parse(listed.trim()).id as string;
    expect((await run(["tokens", "revoke", id, "--config", cfg])).code).toBe(0);
    expect(JSON.parse((await run(["tokens", "list", "--config", cfg])).out.trim()).revokedAt).not.toBeNull();
  });

  it("imports contacts from CSV and reports bad lines by number", async () => {
    const dbPath = join(mkdtempSync(join(tmpdir(), "ctib-cli-")), "c.db");
    const cfg = tmp("c.yaml", `store: { path: ${dbPath} }\nlog: { level: silent }\n`);
    const csv = tmp("c.csv", "name,company,numbers,record_id\nMax,Acme,+49 30 123456,A1\n,NoName,030 1,A2\nErika,Beispiel,030 9876543;0171 2345678,A3\n");
    const r = await run(["contacts", "import", csv, "--config", cfg]);
    expect(r.out).toBe("imported 2 contacts\n");
    expect(r.err).toMatch(/c\.csv:3: /);
    expect(r.code).toBe(1);
    const list = (await run(["contacts", "list", "--config", cfg])).out.trim().split("\n").map((l) => JSON.parse(l));
    expect(list.map((c) => c.name).sort()).toEqual(["Erika", "Max"]);
  });
});

describe("ctibridge and its database file", () => {
  it("refuses a file that is not a SQLite database in one line, exit 1, no stack", async () => {
    const dbPath = tmp("ctibridge.db", "this is a text file, not a database\n".repeat(40));
    const cfg = tmp("c.yaml", `${LAB_YAML}store: { path: ${dbPath} }\nami: { mode: live, secret: s }\n`);
    for (const args of [["calls"], ["users", "list"], ["start"]]) {
      const r = await run([...args, "--config", cfg]);
      expect(r.code).toBe(1);
      expect(r.err).toBe(`ctibridge: store: ${dbPath} is not a SQLite database\n`);
      expect(r.out).toBe("");
    }
    // The file is left as it was: nothing is overwritten or truncated.
    expect(readFileSync(dbPath, "utf8")).toBe("this is a text file, not a database\n".repeat(40));
  });

  it("creates the database and its WAL and SHM files with mode 0600 (they hold phone numbers)", async () => {
    const dbPath = join(mkdtempSync(join(tmpdir(), "ctib-cli-")), "state", "ctibridge.db");
    const cfg = tmp("u.yaml", `store: { path: ${dbPath} }\nlog: { level: silent }\n`);
    expect((await run(["users", "add", "zoe", "Zoe Z", "--device", "PJSIP/2001", "--config", cfg])).code).toBe(0);
    expect(statSync(dbPath).mode & 0o777).toBe(0o600);
    // The WAL and SHM exist while a connection is open (the CLI's close removed them).
    const db = openDb(dbPath);
    db.prepare("INSERT INTO users (id, name) VALUES ('x', 'X')").run();
    for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) expect([f, statSync(f).mode & 0o777]).toEqual([f, 0o600]);
    db.close();
  });
});
