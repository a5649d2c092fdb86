/**
 * kill -9 mid-call, through real processes: the real CLI (`ctibridge start`, compiled) runs
 * as a child against a fake PBX on 127.0.0.1 port 0; one call is answered and one rings in a
 * ring group when the daemon gets SIGKILL. A new daemon on the same database reconnects, the
 * PBX lists its channels, then finishes both calls. Every call keeps its callId and its
 * original ringing/answered times (call and legs); none is lost, none duplicated.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectLogLines } from "../helpers/builtCli.js";
import { AmiServer, startFakeAmi } from "../helpers/fakeAmiServer.js";
import { trace01Halves, waitFor } from "../helpers/daemon.js";
import { EXT_USER, labDaemonYaml } from "../helpers/labConfig.js";
import { scenarioJson, traceBytes } from "../helpers/traces.js";
import { stripTracePreamble } from "../../src/sim/replay.js";
import { listingAfter } from "../helpers/listing.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** Compiled inside the project (ignored by git) so the child resolves node_modules. */
const BUILD = join(ROOT, ".fuzz", `kill9-${process.pid}`);

/** Trace 06 (ring group 1001/1002/1003) cut just before bob answers: all three phones ring. */
function trace06Halves(): [Buffer, Buffer] {
  const msgs = stripTracePreamble(traceBytes("06-ringgroup-answered")).toString("utf8").split("\r\n\r\n").filter((m) => m.trim() !== "");
  const cut = msgs.findIndex((m) => m.startsWith("Event: Newstate") && m.includes("Channel: PJSIP/1002-0000000e\r\nChannelState: 6"));
  const join2 = (ms: string[]) => Buffer.from(ms.map((m) => m + "\r\n\r\n").join(""), "utf8");
  return [join2(msgs.slice(0, cut)), join2(msgs.slice(cut))];
}

interface Child {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<void>;
}

function startDaemon(configPath: string): Child {
  const proc = spawn(process.execPath, [join(BUILD, "src", "main.js"), "start", "--config", configPath], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "" } });
  const lines: Record<string, unknown>[] = [];
  collectLogLines(proc, lines);
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  return { proc, lines, exited };
}

const resynced = (c: Child) => c.lines.filter((l) => l.msg === "pbx resynced").length;

interface CallRow {
  call_id: string;
  from_raw: string;
  state: string;
  outcome: string | null;
  end_reason: string | null;
  started_at: string;
  ringing_at: string | null;
  answered_at: string | null;
  restored: number;
}
interface LegRow {
  call_id: string;
  user_id: string;
  outcome: string | null;
  ringing_at: string | null;
  answered_at: string | null;
}

function read(dbPath: string) {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const calls = db.prepare("SELECT * FROM calls ORDER BY started_at").all() as CallRow[];
    const legs = db.prepare("SELECT * FROM legs ORDER BY call_id, user_id").all() as LegRow[];
    const open = db.prepare("SELECT linked_id, call_id FROM open_calls ORDER BY linked_id").all() as { linked_id: string; call_id: string }[];
    return { calls, legs, open };
  } finally {
    db.close();
  }
}

const children: Child[] = [];
const pbxes: AmiServer[] = [];

/**
 * Daemon 1 sees `heads`, then gets SIGKILL once `stored(db)` holds; the PBX then lists the
 * channels still up and daemon 2 (same database) sees `rests`, until every call has ended.
 */
async function killAndRestart(heads: Buffer[], rests: Buffer[], stored: (r: ReturnType<typeof read>) => boolean) {
  const pbx = await startFakeAmi({ fullyBooted: true });
  pbxes.push(pbx);
  const dir = mkdtempSync(join(tmpdir(), "ctib-kill9-"));
  const dbPath = join(dir, "ctibridge.db");
  const configPath = join(dir, "ctibridge.yaml");
  writeFileSync(configPath, labDaemonYaml(pbx.port, dbPath));
  const first = startDaemon(configPath);
  children.push(first);
  await waitFor(() => resynced(first) > 0 && pbx.connections.some((c) => c.loggedIn), "first daemon resynced", 2000);
  for (const h of heads) await pbx.replay(h, { raw: true });
  // The calls are in the store (the write-behind runs on the next turn) and it has settled (five equal reads).
  let last = "";
  let same = 0;
  const before = await waitFor(() => {
    const r = read(dbPath);
    const text = JSON.stringify(r);
    same = text === last ? same + 1 : 0;
    last = text;
    return stored(r) && same >= 5 ? r : null;
  }, "calls stored before the kill");
  first.proc.kill("SIGKILL");
  await first.exited;
  expect(first.proc.signalCode).toBe("SIGKILL");

  pbx.setList("CoreShowChannels", heads.flatMap((h) => listingAfter(h)));
  const second = startDaemon(configPath);
  children.push(second);
  await waitFor(() => resynced(second) > 0 && pbx.connections.some((c) => c.loggedIn), "second daemon resynced", 2000);
  for (const r of rests) await pbx.replay(r, { raw: true });
  const after = await waitFor(() => {
    const r = read(dbPath);
    return r.calls.length >= before.calls.length && r.calls.every((c) => c.state === "ended") && r.open.length === 0 ? r : null;
  }, "every call ended", 2000);
  second.proc.kill("SIGTERM");
  await second.exited;
  return { before, after };
}

beforeAll(() => {
  mkdirSync(BUILD, { recursive: true });
  execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json"), "--outDir", BUILD], { cwd: ROOT, stdio: "pipe" });
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
  await Promise.all(children.map((c) => c.exited));
  for (const p of pbxes) await p.close();
  execFileSync("rm", ["-rf", BUILD]);
});

describe("kill -9 mid-call, restart on the same database", () => {
  it("keeps every call in progress with its callId and original ringing/answered times; none lost, none duplicated", async () => {
    const [answeredHead, answeredRest] = trace01Halves();
    const [ringingHead, ringingRest] = trace06Halves();
    const { before, after } = await killAndRestart([answeredHead, ringingHead], [answeredRest, ringingRest], (r) => {
      const ringing = r.calls.find((c) => c.state === "ringing");
      return !!ringing && r.calls.some((c) => c.state === "connected") && r.legs.filter((l) => l.call_id === ringing.call_id && l.ringing_at).length === 3;
    });
    // None lost, none duplicated: the same two rows, same ids, same original times.
    const strip = (c: CallRow) => ({ callId: c.call_id, started: c.started_at, ringing: c.ringing_at, answered: c.answered_at });
    const [answered, ringing] = [before.calls.find((c) => c.state === "connected")!, before.calls.find((c) => c.state === "ringing")!];
    expect(after.calls.map(strip).sort((a, b) => a.callId.localeCompare(b.callId))).toEqual(
      [
        strip(answered),
        { ...strip(ringing), answered: after.calls.find((c) => c.call_id === ringing.call_id)!.answered_at },
      ].sort((a, b) => a.callId.localeCompare(b.callId)),
    );
    expect(after.calls.map((c) => [c.call_id, c.outcome, c.end_reason, c.restored])).toEqual(
      expect.arrayContaining([
        [answered.call_id, "answered", "hangup", 1],
        [ringing.call_id, "answered", "hangup", 1],
      ]),
    );
    // The ring group was answered after the restart: later than every ring.
    expect(after.calls.find((c) => c.call_id === ringing.call_id)!.answered_at! > ringing.ringing_at!).toBe(true);
    // Legs: the same users, with the times they had before the kill.
    const legTimes = (legs: LegRow[]) => legs.map((l) => [l.call_id, l.user_id, l.ringing_at, l.answered_at]);
    const legsBefore = legTimes(before.legs);
    const legsAfter = after.legs.map((l) => {
      const was = before.legs.find((b) => b.call_id === l.call_id && b.user_id === l.user_id);
      // bob answered after the restart: his answer time is new, his ringing time is the old one.
      return [l.call_id, l.user_id, l.ringing_at, was?.answered_at === null && l.user_id === "bob" ? null : l.answered_at];
    });
    expect(legsAfter).toEqual(legsBefore);
    expect(after.legs.map((l) => [l.user_id, l.outcome]).sort()).toEqual(
      [
        ["alice", "answered_by_me"],
        ["alice", "answered_elsewhere"],
        ["bob", "answered_by_me"],
        ["carol", "answered_elsewhere"],
      ].sort(),
    );
  }, 60_000);

  it("a burst of 34 concurrent calls killed half-way: every call stored once with its expected outcome and leg outcomes, open calls keep their ids and times", async () => {
    const msgs = stripTracePreamble(traceBytes("24-burst-30-concurrent")).toString("utf8").split("\r\n\r\n").filter((m) => m.trim() !== "");
    const join2 = (ms: string[]) => Buffer.from(ms.map((m) => m + "\r\n\r\n").join(""), "utf8");
    const cut = Math.floor(msgs.length / 2);
    const [head, rest] = [join2(msgs.slice(0, cut)), join2(msgs.slice(cut))];
    // The kill waits for the head's last state (27 calls up, 1 ended): "five equal reads" alone
    // can settle early when the daemon is descheduled for a while on a busy machine.
    const { before, after } = await killAndRestart([head], [rest], (r) => new Set(r.open.map((o) => o.call_id)).size === 27 && r.calls.filter((c) => c.state === "ended").length === 1);
    // 27 of the 34 calls are up at the kill (1 has ended, 6 have not started).
    expect(new Set(before.open.map((o) => o.call_id)).size).toBe(27);
    // None duplicated, none lost: one row per call of the scenario, each with its expected outcome.
    const expected: { from: string; outcome: string; users: Record<string, string> }[] = scenarioJson("24-burst-30-concurrent").expected_outcomes.calls;
    expect(after.calls).toHaveLength(expected.length);
    const byFrom = new Map(after.calls.map((c) => [c.from_raw, c]));
    expect(byFrom.size).toBe(expected.length);
    for (const e of expected) {
      const call = byFrom.get(e.from)!;
      const legs = Object.fromEntries(after.legs.filter((l) => l.call_id === call.call_id).map((l) => [l.user_id, l.outcome]));
      const want = Object.fromEntries(Object.entries(e.users).map(([ext, o]) => [EXT_USER[ext], o]));
      expect([e.from, call.outcome, legs], e.from).toEqual([e.from, e.outcome, want]);
    }
    // Calls open at the kill: same callId, same started/ringing/answered times where they had them.
    for (const was of before.calls.filter((c) => c.state !== "ended")) {
      const now = after.calls.find((c) => c.call_id === was.call_id)!;
      expect(now, was.call_id).toBeDefined();
      expect([now.started_at, now.ringing_at ?? null, was.answered_at ? now.answered_at : null, now.restored]).toEqual([was.started_at, was.ringing_at ?? now.ringing_at, was.answered_at, 1]);
    }
  }, 60_000);
});
