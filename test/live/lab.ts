/**
 * The lab PBX for live tests: is its AMI there, run one of its scenarios (the lab's
 * `scripts/scenarios.py`, which drives real SIP phones and writes the scenario's `.json` with
 * `expected_outcomes`), and compare stored calls with those expected outcomes.
 *
 * The lab folder: `CTIBRIDGE_LAB` (default `/work/lab`, where the session machines keep it).
 * AMI: `CTIBRIDGE_LAB_AMI` as host:port (default 127.0.0.1:5038), user `ctibridge`, secret
 * `CTIBRIDGE_LAB_SECRET` (default the lab's `ctilab-secret`).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import type { StoredCall } from "../../src/store/callLog.js";
import { EXT_USER } from "../helpers/labConfig.js";

export const LAB_DIR = process.env.CTIBRIDGE_LAB ?? "/work/lab";
const [amiHost, amiPort] = (process.env.CTIBRIDGE_LAB_AMI ?? "127.0.0.1:5038").split(":");
export const LAB_AMI = { host: amiHost!, port: Number(amiPort ?? 5038), username: "ctibridge", secret: process.env.CTIBRIDGE_LAB_SECRET ?? "ctilab-secret" };
const SCENARIOS_PY = join(LAB_DIR, "scripts", "scenarios.py");

/** Why the live tests cannot run here, or null when an AMI answers and the lab's scripts exist. */
export async function labUnavailable(): Promise<string | null> {
  const banner = await new Promise<string | null>((resolve) => {
    const s = connect({ host: LAB_AMI.host, port: LAB_AMI.port });
    const done = (v: string | null) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(2000, () => done(null));
    s.once("error", () => done(null));
    s.once("data", (d) => done(d.toString("utf8")));
  });
  if (banner === null || !banner.startsWith("Asterisk Call Manager")) {
    return `no lab AMI answers on ${LAB_AMI.host}:${LAB_AMI.port} (start the lab PBX: LAB/lab-up.sh)`;
  }
  if (!existsSync(SCENARIOS_PY)) return `no lab scenario runner at ${SCENARIOS_PY} (set CTIBRIDGE_LAB to the lab folder)`;
  return null;
}

/**
 * Run one lab scenario to its end (all channels gone, AMI logoff) and return its `.json`.
 * Bounded: killed after `limitMs`.
 */
export async function runScenario(name: string, limitMs = 150_000): Promise<any> {
  const out = mkdtempSync(join(tmpdir(), "ctib-live-"));
  const child = spawn("python3", [SCENARIOS_PY, "run", name, "--out", out], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const timer = setTimeout(() => child.kill("SIGTERM"), limitMs);
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  clearTimeout(timer);
  try {
    if (code !== 0) throw new Error(`scenario ${name} failed (exit ${code}):\n${output}`);
    return JSON.parse(readFileSync(join(out, `${name}.json`), "utf8"));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** The first word of an expected outcome string (`answered_elsewhere (by 1002)`). */
const word = (s: string) => s.split(/[\s(,]/)[0]!;

/**
 * The stored calls say what the scenario's `expected_outcomes` say: per call direction,
 * outcome, caller, queue, who answered, the transfer (kind, by, to) when the `.json` names one;
 * per user the leg outcome. The replay tests (test/calls/scenarios.test.ts) read the `.json`
 * the same way, without the transfer.
 */
export function expectOutcomes(json: any, stored: StoredCall[]): void {
  let calls = stored.filter((c) => !c.mergedInto).sort((a, b) => a.times.started.localeCompare(b.times.started));
  const expected: any[] = json.expected_outcomes.calls;
  expect(calls, "stored calls").toHaveLength(expected.length);
  // Calls that start together (the 34-call burst, 24) start in any order live: when every
  // expected call names its own caller, a stored call is paired with it by its caller.
  const froms = expected.map((e) => (e.from ? word(e.from) : null));
  if (expected.length > 1 && froms.every((f) => f !== null) && new Set(froms).size === froms.length) {
    const byFrom = new Map(calls.map((c) => [c.from.raw, c]));
    calls = froms.map((f) => byFrom.get(f!)!);
    expect(calls.every(Boolean), `stored callers ${[...byFrom.keys()].join(", ")}`).toBe(true);
  }
  expected.forEach((exp, i) => {
    const call = calls[i]!;
    expect(call.state).toBe("ended");
    if (exp.did) expect(call.did, `did of ${exp.from}`).toBe(exp.did);
    // Per-call leg outcomes (24): the users named, and no other leg.
    if (exp.users) {
      const want = Object.fromEntries(Object.entries<string>(exp.users).map(([ext, o]) => [EXT_USER[ext], word(o)]));
      expect(Object.fromEntries(call.legs.map((l) => [l.userId, l.outcome])), `legs of ${exp.from}`).toEqual(want);
    }
    expect(call.direction).toBe(exp.direction);
    expect(call.outcome).toBe(word(exp.outcome));
    if (exp.from) expect(call.from.raw).toBe(word(exp.from));
    if (exp.to) expect(call.to.raw).toBe(exp.to);
    if (exp.queue) expect(call.queue).toBe(exp.queue);
    // An object (`{ external: "0301234567" }`, scenario 39) names a party the call model has
    // no field for yet: not compared here.
    if ("answeredBy" in exp && (exp.answeredBy === null || typeof exp.answeredBy === "string")) {
      const ext = exp.answeredBy ? String(exp.answeredBy).split(" ").pop()! : null;
      expect(call.answeredBy?.userId ?? null).toBe(ext ? EXT_USER[ext] : null);
    }
    if (exp.transfer === null) expect(call.transfer, "transfer").toBeNull();
    if (exp.transfer) {
      expect(call.transfer, "transfer").toMatchObject({
        kind: exp.transfer.kind,
        by: { userId: EXT_USER[exp.transfer.by] },
        to: { userId: EXT_USER[exp.transfer.to] ?? null },
      });
    }
  });
  const legs = new Map(calls.flatMap((c) => c.legs.map((l) => [l.userId!, l.outcome] as const)));
  for (const [ext, outcome] of Object.entries<string>(json.expected_outcomes.users ?? {})) {
    if (outcome.includes("only if") && !legs.has(EXT_USER[ext]!)) continue;
    // A scenario without calls (42) describes the agent's state, not a leg.
    if (outcome.startsWith("not in a call")) {
      expect(legs.has(EXT_USER[ext]!), `user ${ext} has no leg`).toBe(false);
      continue;
    }
    expect(legs.get(EXT_USER[ext]!), `user ${ext}`).toBe(word(outcome));
  }
}
