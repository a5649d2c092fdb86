/**
 * The CallStore contract: one scripted run over every recorded trace (each call-level snapshot
 * the tracker emits, saved as the daemon's writer saves it), then every read the daemon, REST,
 * the CLI, wrap-ups, retention and the restore make, written down as a transcript. Both stores
 * must give the same transcript; SQLite's is today's behaviour, so PostgreSQL must equal it.
 */
import type { Call } from "../../src/calls/model.js";
import { iso } from "../../src/calls/outcomes.js";
import { toCallSnapshot } from "../../src/publish/protocol.js";
import { replayFiles } from "../../src/replay.js";
import type { CallStore, StoredCall } from "../../src/store/index.js";
import { labConfig } from "./labConfig.js";
import { FIXTURES, traceFiles } from "./traces.js";

export interface Snap {
  call: Call;
  at: string;
}

/** Every trace's call-level snapshots in order, ids prefixed by the trace (replays number calls from 1 each). */
export async function traceSnapshots(): Promise<Snap[]> {
  const out: Snap[] = [];
  const cfg = labConfig();
  for (const [k, file] of traceFiles().entries()) {
    const prefix = file.replace(/\.ami$/, "");
    const paths = [`${FIXTURES}/${file}`];
    const { events } = await replayFiles(paths, cfg);
    // The captures carry no clock (replay starts them at 1970): trace k plays 7 h after trace k-1 from 2026-03-01.
    const shift = Date.parse("2026-03-01T00:00:00.000Z") + k * 7 * 3_600_000;
    for (const ev of events) {
      if (ev.userId !== null) continue;
      const call = shiftTimes(structuredClone(ev.call), shift);
      call.callId = `${prefix}/${call.callId}`;
      if (call.mergedInto) call.mergedInto = `${prefix}/${call.mergedInto}`;
      call.linkedIds = call.linkedIds.map((l) => `${prefix}/${l}`);
      out.push({ call, at: iso(ev.at + shift) });
    }
    // A copy of each trace's first call still in progress, never ended: the open-call (restore) map.
    const live = events.find((e) => e.userId === null && e.call.state !== "ended" && !e.call.mergedInto);
    if (live) {
      const call = shiftTimes(structuredClone(live.call), shift);
      call.callId = `${prefix}~open/${call.callId}`;
      call.linkedIds = call.linkedIds.map((l) => `${prefix}~open/${l}`);
      out.push({ call, at: iso(live.at + shift) });
    }
  }
  return out;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** Every ISO time in a value, moved by `ms`. */
function shiftTimes<T>(v: T, ms: number): T {
  if (typeof v === "string") return (ISO.test(v) ? new Date(Date.parse(v) + ms).toISOString() : v) as T;
  if (Array.isArray(v)) return v.map((x) => shiftTimes(x, ms)) as T;
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shiftTimes(x, ms)])) as T;
  return v;
}

const POP = "https://crm.example.com/pop?number={e164}&call={callId}";
const sortBy = <T>(xs: T[], key: (x: T) => string) => [...xs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
const rest = (calls: StoredCall[]) => calls.map((c) => toCallSnapshot(c, POP));

/** Users with legs in the stored calls. */
function usersOf(calls: StoredCall[]): string[] {
  return [...new Set(calls.flatMap((c) => c.legs.map((l) => l.userId).filter((u): u is string => u !== null)))].sort();
}

export type Transcript = Record<string, unknown>;

/**
 * Run the contract on an empty store. `saves` decides how snapshots are handed over (in order,
 * each twice, …); the snapshot version is the event time and the snapshot's index.
 */
export async function runContract(store: CallStore, snaps: Snap[], saves: (save: (i: number) => Promise<void>) => Promise<void> = inOrder(snaps.length)): Promise<Transcript> {
  const t: Transcript = {};
  const done: unknown[] = [];
  await saves(async (i) => {
    const s = snaps[i]!;
    const marks = await store.save(s.call, { at: s.at, seq: i });
    if (marks.length > 0) done.push(sortBy(marks, (m) => `${m.callId} ${m.userId}`));
  });
  t.calledBack = done;
  const all = await store.list({ limit: 10_000 });
  t.all = all;
  t.rest = rest(all);
  t.count = all.length;
  // History pages as REST serves them: 7 at a time with the cursor of the last one.
  const pages: string[][] = [];
  let before: { startedAt: string; callId: string | null } | undefined;
  for (let n = 0; n < 50; n++) {
    const page = await store.list({ limit: 7, ...(before ? { before } : {}) });
    if (page.length === 0) break;
    pages.push(page.map((c) => c.callId));
    const last = page.at(-1)!;
    before = { startedAt: last.times.started, callId: last.callId };
  }
  t.pages = pages;
  t.beforeTimeOnly = (await store.list({ before: { startedAt: all[Math.floor(all.length / 2)]!.times.started, callId: null }, limit: 10_000 })).map((c) => c.callId);
  t.since = (await store.list({ since: all[Math.floor(all.length / 3)]!.times.started.slice(0, 10), limit: 10_000 })).map((c) => c.callId);
  const users = usersOf(all);
  t.users = users;
  for (const u of users) {
    t[`user:${u}`] = (await store.list({ userId: u, limit: 10_000 })).map((c) => c.callId);
    t[`missed:${u}`] = rest(await store.list({ userId: u, missed: true, limit: 10_000 }));
    t[`open:${u}`] = (await store.list({ userId: u, missed: true, openOnly: true, limit: 10_000 })).map((c) => c.callId);
  }
  t.missedAll = (await store.list({ missed: true, limit: 10_000 })).map((c) => c.callId);
  t.queueStats = [...(await store.queueStats("1970-01-01T00:00:00.000Z")).entries()].sort();
  t.openIds = [...(await store.openCallIds()).entries()].sort();
  t.openSnapshots = sortBy([...(await store.openCallSnapshots()).entries()], (e) => e[0]);
  t.openCalls = sortBy(await store.openCalls(), (c) => c.callId);
  const inOrderIds: string[] = [];
  for await (const c of store.inOrder({ pageSize: 5 })) inOrderIds.push(c.callId);
  t.inOrder = inOrderIds;

  // Missed legs marked done, by one user and for everyone; annotations.
  const missed = all.filter((c) => c.legs.some((l) => l.outcome === "missed" && !l.done && l.userId !== null));
  const ops: unknown[] = [];
  if (missed[0]) {
    const leg = missed[0].legs.find((l) => l.outcome === "missed" && !l.done && l.userId !== null)!;
    ops.push(["markDone", await store.markDone(missed[0].callId, leg.userId!, "2030-01-01T00:00:00.000Z")]);
    ops.push(["markDone again", await store.markDone(missed[0].callId, leg.userId!, "2030-01-01T00:00:01.000Z")]);
    ops.push(["markDone nobody", await store.markDone(missed[0].callId, "nobody", "2030-01-01T00:00:00.000Z")]);
  }
  for (const c of missed.slice(1, 4)) ops.push(["markOpenDone all", await store.markOpenDone(c.callId, null, "2030-01-02T00:00:00.000Z")]);
  if (missed[4]) ops.push(["markOpenDone some", await store.markOpenDone(missed[4].callId, ["alice", "bob", "nobody"], "2030-01-03T00:00:00.000Z")]);
  ops.push(["markOpenDone none", await store.markOpenDone(all[0]!.callId, [], "2030-01-03T00:00:00.000Z")]);
  const target = all[1]!.callId;
  ops.push(["annotate", await store.annotate(target, { by: "alice", at: "2030-01-04T00:00:00.000Z", comment: "call back", disposition: "sale" }, { comment: "call back", disposition: "sale", by: "alice", at: "2030-01-04T00:00:00.000Z" })]);
  ops.push(["annotate clears", await store.annotate(target, { by: "bob", at: "2030-01-04T00:00:01.000Z", comment: null }, { disposition: "sale", by: "bob", at: "2030-01-04T00:00:01.000Z" })]);
  ops.push(["annotate unknown call", await store.annotate("no-such-call", { by: "bob", at: "2030-01-04T00:00:02.000Z", comment: "x" }, { comment: "x", by: "bob", at: "2030-01-04T00:00:02.000Z" })]);
  ops.push(["annotations", await store.annotations(target)]);
  ops.push(["annotations unknown", await store.annotations("no-such-call")]);
  ops.push(["get", await store.get(target)]);
  ops.push(["get missing", await store.get("no-such-call")]);
  for (const c of missed.slice(0, 5)) ops.push(["after done", await store.get(c.callId)]);

  // Wrap-ups: the agent's answered leg shows the seconds once ended.
  const answered = all.find((c) => c.legs.some((l) => l.userId !== null && l.outcome === "answered_by_me"))!;
  const agent = answered.legs.find((l) => l.userId !== null && l.outcome === "answered_by_me")!.userId!;
  await store.wrapUpStart({ callId: answered.callId, userId: agent, since: "2030-01-05T00:00:00.000Z", until: "2030-01-05T00:00:30.000Z", paused: [["support", "PJSIP/1001"]] });
  await store.wrapUpStart({ callId: "other-call", userId: "bob", since: "2030-01-05T00:00:00.000Z", until: null, paused: [] });
  ops.push(["wrapUps running", sortBy(await store.wrapUpsRunning(), (w) => `${w.callId} ${w.userId}`)]);
  ops.push(["wrapUp exists", await store.wrapUpExists(answered.callId, agent), await store.wrapUpExists(answered.callId, "nobody")]);
  await store.wrapUpSetPaused(answered.callId, agent, []);
  await store.wrapUpEnd(answered.callId, agent, "2030-01-05T00:00:12.500Z", 12.5, "ready");
  await store.wrapUpEnd(answered.callId, agent, "2030-01-05T00:00:20.000Z", 20, "timeout");
  ops.push(["wrapUps running after end", sortBy(await store.wrapUpsRunning(), (w) => `${w.callId} ${w.userId}`)]);
  ops.push(["get with wrap-up", await store.get(answered.callId)]);
  await store.probe("2030-01-06T00:00:00.000Z");
  t.ops = ops;

  // Retention: the oldest ended calls go first, in batches; forget deletes by id.
  const cutoff = all[Math.floor(all.length / 2)]!.times.started;
  const pruned: number[] = [];
  for (let n = 0; n < 20; n++) {
    const k = await store.pruneOldCalls(cutoff, 4);
    pruned.push(k);
    if (k === 0) break;
  }
  t.pruned = pruned;
  t.deleted = await store.deleteCalls([all[0]!.callId, "no-such-call"]);
  t.afterRetention = (await store.list({ limit: 10_000 })).map((c) => c.callId);
  t.annotationsAfterDelete = await store.annotations(all[0]!.callId);
  return t;
}

export function inOrder(n: number) {
  return async (save: (i: number) => Promise<void>) => {
    for (let i = 0; i < n; i++) await save(i);
  };
}
