/** Stored calls at chosen start times: copies of a recorded scenario's final record. */
import type { Call } from "../../src/calls/model.js";
import { replayFiles } from "../../src/replay.js";
import { CallLog } from "../../src/store/callLog.js";
import type { Db } from "../../src/store/db.js";
import { labConfig } from "./labConfig.js";
import { FIXTURES } from "./traces.js";

export async function finalCall(trace: string): Promise<Call> {
  const { events } = await replayFiles([`${FIXTURES}/${trace}.ami`], labConfig());
  return events.filter((e) => e.userId === null && e.call.state === "ended").at(-1)!.call;
}

/** Save a copy of `base` per start time, ids `${prefix}-${i}`, times shifted to start there; one annotation each. */
export function seedCalls(db: Db, base: Call, starts: string[], prefix = "c", over: Partial<Call> = {}): string[] {
  const log = new CallLog(db);
  const t0 = Date.parse(base.times.started);
  const shift = (t: string | null, d: number) => (t === null ? null : new Date(Date.parse(t) + d).toISOString());
  const ann = db.prepare("INSERT INTO call_annotations (call_id, by_user, at, patch) VALUES (?, 'alice', ?, '{\"note\":\"x\"}')");
  return starts.map((s, i) => {
    const d = Date.parse(s) - t0;
    const call: Call = {
      ...structuredClone(base),
      ...over,
      callId: `${prefix}-${i}`,
      linkedIds: [`${prefix}-linked-${i}`],
      times: { ...base.times, started: s, ringing: shift(base.times.ringing, d), answered: shift(base.times.answered, d), ended: shift(base.times.ended, d) },
    };
    log.save(call, call.times.ended ?? s);
    ann.run(call.callId, s);
    return call.callId;
  });
}
