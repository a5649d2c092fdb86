/**
 * Property test of the AMI codec and the call tracker over mutated recorded traces (seeded:
 * the same cases on every run). The long run is `npm run fuzz` (test/fuzz/long.fuzz.ts).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { replayFiles } from "../../src/replay.js";
import { ALL_TRACES, caseArb, checkCall, CLEAN, KNOWN_ENGINE_GAPS, playCase, referenceEvents, runCase, TRACES, type Case } from "./harness.js";
import { labConfig } from "../helpers/labConfig.js";
import { FIXTURES, scenarioJson } from "../helpers/traces.js";

export const SEED = 20_261_130;

describe("AMI fault suite", () => {
  it("the invariants hold on every recorded trace as recorded, chunked at random", () => {
    for (let t = 0; t < TRACES.length; t++) {
      const maxChunk = [7, 1500, 65536][t % 3]!;
      expect(() => runCase({ trace: t, start: 0, length: 1e9, ops: [], chunkSeed: t, maxChunk, skip: t % 2 === 0, banner: true, clean: t % CLEAN.length, resyncs: [] })).not.toThrow();
    }
  });

  /** The calls a replay of `t` ends, and what a daemon restart at cut k/16 makes of them (first difference, or null). */
  const restartDiff = (t: number): string | null => {
    const ended = (c: Case) => playCase(c).filter((e) => e.userId === null && e.name === "callEnded" && !e.call.mergedInto).map((e) => e.call.linkedIds[0]!);
    const base: Case = { trace: t, start: 0, length: 1e9, ops: [], chunkSeed: t, maxChunk: 65536, skip: true, banner: false, clean: 0, resyncs: [] };
    const want = ended(base).sort().join(",");
    const n = ALL_TRACES[t]!.messages.length;
    for (let k = 1; k < 8; k++) {
      const got = ended({ ...base, resyncs: [{ after: Math.floor((n * k) / 16), restart: k % 2 === 0, keep: -1 >>> 0 }] }).sort().join(",");
      if (got !== want) return `${ALL_TRACES[t]!.name} cut ${k}/16: ${got} instead of ${want}`;
    }
    return null;
  };

  it("a daemon restart at any point of any recorded trace loses no call and duplicates none", () => {
    for (let t = 0; t < TRACES.length; t++) expect(restartDiff(t)).toBeNull();
  });

  it("the clean replays produce the calls their scenario describes", () => {
    CLEAN.forEach((name, i) => {
      const ended = referenceEvents(i).filter((e) => e.name === "callEnded" && e.userId === null && !e.call.mergedInto);
      const expected: { outcome: string }[] = scenarioJson(name).expected_outcomes.calls;
      expect(ended.map((e) => e.call.outcome), name).toEqual(expected.map((c) => c.outcome.split(/[\s(,]/)[0]));
    });
  });

  it("20,000+ mutated messages: no exception escapes, no state is half-applied, later calls are tracked right", () => {
    let messages = 0;
    let cases = 0;
    fc.assert(
      fc.property(caseArb, (c) => {
        messages += runCase(c).messages;
        cases++;
      }),
      { seed: SEED, numRuns: 400 },
    );
    expect(messages).toBeGreaterThanOrEqual(20_000);
    console.log(`fuzz: ${cases} cases, ${messages} mutated messages, seed ${SEED}`);
  });

  // Recorded traces today's tracker gets wrong (issue 8): kept out of the cases above. Each
  // must still break the invariant it is listed for; once the engine handles it, this fails:
  // take the trace off KNOWN_ENGINE_GAPS (test/fuzz/harness.ts) so the suite covers it.
  it.each(Object.entries(KNOWN_ENGINE_GAPS))("known engine gap, still open: %s", async (name, gap) => {
    if (gap.fails === "restart") {
      expect(restartDiff(ALL_TRACES.findIndex((t) => t.name === name)), gap.reason).not.toBeNull();
      return;
    }
    const { events } = await replayFiles([`${FIXTURES}/${name}`], labConfig());
    expect(() => {
      for (const e of events) checkCall(e.call, false);
    }, gap.reason).toThrow();
  });
});
