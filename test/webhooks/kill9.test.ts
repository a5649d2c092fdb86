/**
 * kill -9 in the middle of a webhook delivery, through real processes: the compiled CLI runs
 * `ctibridge start` against a fake PBX; the receiver (this process, 127.0.0.1) answers the
 * first requests and holds one unanswered when the daemon gets SIGKILL. A new daemon on the
 * same database sends the held event again and everything still open: every event arrives at
 * least once, the ids de-duplicate to exactly the outbox's events, each call's in order.
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
import { waitFor } from "../helpers/daemon.js";
import { labDaemonYaml } from "../helpers/labConfig.js";
import { traceBytes } from "../helpers/traces.js";
import { WebhookReceiver } from "../helpers/webhookReceiver.js";
import { verifySignature } from "../../src/webhooks/signature.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const BUILD = join(ROOT, ".fuzz", `whkill9-${process.pid}`);
const SECRET = "whsec-kill9-0123456789abcdef";

interface Child {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<void>;
}

function startDaemon(configPath: string): Child {
  const proc = spawn(process.execPath, [join(BUILD, "src", "main.js"), "start", "--config", configPath], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "", CTIBRIDGE_WEBHOOK_SECRET_CRM: SECRET },
  });
  const lines: Record<string, unknown>[] = [];
  collectLogLines(proc, lines);
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  return { proc, lines, exited };
}

interface Row {
  id: number;
  event_id: string;
  kind: string;
  call_id: string;
  state: string;
  attempts: number;
}
function outbox(dbPath: string): Row[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT id, event_id, kind, call_id, state, attempts FROM outbox ORDER BY id").all() as Row[];
  } finally {
    db.close();
  }
}

const children: Child[] = [];
let pbx: AmiServer;
const rx = new WebhookReceiver();

beforeAll(async () => {
  mkdirSync(BUILD, { recursive: true });
  execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json"), "--outDir", BUILD], { cwd: ROOT, stdio: "pipe" });
  pbx = await startFakeAmi({ fullyBooted: true });
  await rx.listen(0);
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
  await Promise.all(children.map((c) => c.exited));
  await pbx?.close();
  rx.release();
  await rx.close();
  execFileSync("rm", ["-rf", BUILD]);
});

describe("webhooks across kill -9", () => {
  it("the request in flight at the kill is sent again, open events resume; ids de-duplicate to exactly the outbox's events, in order per call", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctib-whkill9-"));
    const dbPath = join(dir, "ctibridge.db");
    const configPath = join(dir, "ctibridge.yaml");
    writeFileSync(configPath, labDaemonYaml(pbx.port, dbPath, ["webhooks:", `  - { name: crm, url: "${rx.url}", events: [call.ringing, call.answered, call.ended, call.missed], minDelayMs: 20, maxDelayMs: 50, timeoutMs: 600000, concurrency: 1 }`]));

    // The fourth request is held: the daemon is killed while it waits for the answer.
    rx.answer = (n) => (n === 3 ? "hang" : 200);
    const first = startDaemon(configPath);
    children.push(first);
    await waitFor(() => first.lines.some((l) => l.msg === "pbx resynced") && pbx.connections.some((c) => c.loggedIn), "first daemon resynced", 2000);
    for (const t of ["01-inbound-answered", "06-ringgroup-answered", "03-inbound-missed-caller-abandon"]) await pbx.replay(traceBytes(t), { raw: true });
    // Every event is in the outbox (three calls ended, the rows settled) and one request hangs.
    let last = "";
    const before = await waitFor(() => {
      const r = outbox(dbPath);
      const text = JSON.stringify(r.map((x) => [x.id, x.kind]));
      const settled = text === last && r.filter((x) => x.kind === "call.ended").length === 3 && rx.received.length === 4;
      last = text;
      return settled ? r : null;
    }, "events written, one request held", 1000);
    first.proc.kill("SIGKILL");
    await first.exited;
    expect(first.proc.signalCode).toBe("SIGKILL");
    const held = rx.received[3]!.json.id;
    expect(before.filter((r) => r.state === "delivered").map((r) => r.event_id)).toEqual(rx.received.slice(0, 3).map((r) => r.json.id));
    expect(before.find((r) => r.event_id === held)).toMatchObject({ state: "pending", attempts: 0 });
    expect(before.filter((r) => r.state === "pending").length).toBeGreaterThan(1);

    rx.answer = () => 200;
    const second = startDaemon(configPath);
    children.push(second);
    const after = await waitFor(() => {
      const r = outbox(dbPath);
      return r.length === before.length && r.every((x) => x.state === "delivered") ? r : null;
    }, "every event delivered after the restart", 1000);
    second.proc.kill("SIGTERM");
    await second.exited;

    // At least once: the held event twice (once unanswered), every other event once.
    const ids = rx.received.map((r) => r.json.id);
    expect(ids.filter((id) => id === held)).toHaveLength(2);
    expect(new Set(ids)).toEqual(new Set(after.map((r) => r.event_id)));
    expect(ids.length).toBe(after.length + 1);
    // De-duplicated by id, each call's events arrived in the order they happened.
    const seen = new Set<string>();
    const firstArrivals = rx.received.filter((r) => !seen.has(r.json.id) && seen.add(r.json.id));
    const perCall = (xs: { call: string; type: string }[]) => {
      const m: Record<string, string[]> = {};
      for (const x of xs) (m[x.call] ??= []).push(x.type);
      return m;
    };
    expect(perCall(firstArrivals.map((r) => ({ call: r.json.call.callId, type: r.json.type })))).toEqual(perCall(after.map((r) => ({ call: r.call_id, type: r.kind }))));
    expect(Object.values(perCall(after.map((r) => ({ call: r.call_id, type: r.kind })))).map((ts) => ts.join(" ")).sort()).toEqual([
      "call.ringing call.answered call.ended",
      "call.ringing call.ringing call.ringing call.answered call.ended",
      "call.ringing call.ended call.missed",
    ].sort());
    for (const r of rx.received) expect(verifySignature(SECRET, r.body, r.headers["x-ctibridge-signature"] as string, Math.floor(Date.now() / 1000)).ok).toBe(true);
    // What the operator sees: the restart resumed the open events (log lines of the second daemon).
    expect(second.lines.some((l) => l.msg === "ctibridge started")).toBe(true);
  }, 60_000);
});
