import { describe, expect, it } from "vitest";
import { AmiDecoder, type AmiMessage } from "../../src/ami/codec.js";
import { renumberedCopies, renumberTrace, UNIQUEID_STRIDE } from "../../src/sim/renumber.js";
import { scenarioJson, traceBytes, traceFiles } from "../helpers/traces.js";

const decode = (b: Buffer): AmiMessage[] => new AmiDecoder({ now: () => 0 }).push(b);

/** Header values that are ids: uniqueids, channel names (also inside lists), UUIDs. */
const ID_KEY = /(uniqueid|linkedid)$/i;
const UNIQUEID = /^\d+\.\d+$/;
const CHANNEL = /[A-Za-z][A-Za-z0-9_]*\/[^\s,;/]*?-[0-9a-f]{8}(?![0-9A-Za-z])/g;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

function idsOf(value: string, key: string): string[] {
  if (ID_KEY.test(key) && UNIQUEID.test(value)) return [value];
  return [...(value.match(CHANNEL) ?? []), ...(value.match(UUID) ?? [])];
}

function values(m: AmiMessage): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(m.headers)) for (const s of typeof v === "string" ? [v] : v) out.push([k, s]);
  for (const [k, v] of Object.entries(m.chanVariables ?? {})) out.push([`ChanVariable:${k}`, v]);
  return out;
}

/** Pairs each original id with its renumbered counterpart, header by header. */
function idMapping(orig: AmiMessage[], copy: AmiMessage[]): Map<string, Set<string>> {
  const map = new Map<string, Set<string>>();
  orig.forEach((m, i) => {
    const a = values(m);
    const b = values(copy[i]!);
    a.forEach(([key, v], j) => {
      const from = idsOf(v, key);
      const to = idsOf(b[j]![1], key);
      expect(to.length).toBe(from.length);
      from.forEach((id, n) => {
        const set = map.get(id) ?? new Set<string>();
        set.add(to[n]!);
        map.set(id, set);
      });
    });
  });
  return map;
}

/** Replace every id with a placeholder so the rest of the message can be compared. */
function withoutIds(m: AmiMessage): [string, string][] {
  return values(m).map(([k, v]) => [
    k,
    ID_KEY.test(k) && UNIQUEID.test(v) ? "<uid>" : v.replace(CHANNEL, "<chan>").replace(UUID, "<uuid>").replace(/\d{9,11}\.\d+/g, "<uid>"),
  ]);
}

describe("renumberTrace", () => {
  for (const file of traceFiles()) {
    it(`${file}: copies decode alike, ids are fresh and consistent`, () => {
      const bytes = traceBytes(file);
      const orig = decode(bytes);
      const c1 = decode(renumberTrace(bytes, 1));
      const c2 = decode(renumberTrace(bytes, 2));
      expect(c1.length).toBe(orig.length);
      expect(c2.length).toBe(orig.length);

      const m1 = idMapping(orig, c1);
      const m2 = idMapping(orig, c2);
      // Every trace with a call has ids to renumber (42, a PBX restart without calls, has none;
      // nor has a connection opened after a restart, which sees no channel: 42, 45).
      const withCalls = scenarioJson(file).expected_outcomes?.calls?.length !== 0 && !file.endsWith("-after-restart.ami");
      expect(m1.size > 0, "ids renumbered").toBe(withCalls);
      const new1 = new Set<string>();
      const new2 = new Set<string>();
      for (const [id, to] of m1) {
        // Consistent: one original id always becomes the same new id within a copy.
        expect([...to], id).toHaveLength(1);
        new1.add([...to][0]!);
        expect([...to][0]).not.toBe(id);
      }
      for (const to of m2.values()) {
        expect(to.size).toBe(1);
        new2.add([...to][0]!);
      }
      // Injective within a copy, and copies never share an id.
      expect(new1.size).toBe(m1.size);
      for (const id of new2) expect(new1.has(id), id).toBe(false);
      for (const id of new1) expect(m1.has(id), `${id} is an original id`).toBe(false);

      // Everything that is not an id is untouched.
      expect(c1.map(withoutIds)).toEqual(orig.map(withoutIds));
    });
  }

  it("copy 0 without options is byte-identical", () => {
    for (const file of traceFiles()) {
      const bytes = traceBytes(file);
      expect(renumberTrace(bytes, 0).equals(bytes), file).toBe(true);
    }
  });

  it("keeps ids shared between two connections of one copy coherent", () => {
    const ids = (ms: AmiMessage[]) => new Set(ms.map((m) => m.headers.Uniqueid).filter((v) => typeof v === "string"));
    const sharedIds = (x: Buffer, y: Buffer) => [...ids(decode(x))].filter((id) => ids(decode(y)).has(id));
    const [a, b] = [traceBytes("13-click-to-dial"), traceBytes("13-click-to-dial-originator")];
    const before = sharedIds(a, b);
    const after = sharedIds(renumberTrace(a, 5), renumberTrace(b, 5));
    expect(before.length).toBeGreaterThan(0);
    expect(after).toEqual(before.map((id) => id.replace(/\.(\d+)$/, (_, n: string) => `.${Number(n) + 5 * UNIQUEID_STRIDE}`)));
  });

  it("strips the banner and the Login response, and can drop every response", () => {
    const bytes = traceBytes("01-inbound-answered");
    const orig = decode(bytes);
    const stripped = renumberTrace(bytes, 1, { stripPreamble: true });
    expect(stripped.toString("latin1").startsWith("Event: FullyBooted\r\n")).toBe(true);
    const msgs = new AmiDecoder({ expectBanner: false, now: () => 0 }).push(stripped);
    expect(msgs.length).toBe(orig.length - 1);
    const events = decode(renumberTrace(bytes, 1, { dropResponses: true }));
    expect(events.every((m) => m.headers.Event !== undefined)).toBe(true);
    expect(events.length).toBe(orig.filter((m) => m.headers.Response === undefined).length);
  });

  it("shifts times and uniqueid epochs, and keeps UTF-8 bytes intact", () => {
    const bytes = Buffer.from(
      "Event: Newchannel\r\nEventTV: 2026-11-22T23:59:59.578+0000\r\nCallerIDName: Jürgen Müller\r\n" +
        "Uniqueid: 1795305921.7\r\nValue: /rec/x-1795305921.7.wav\r\nLoginTime: 1795305916\r\nLastCall: 0\r\n" +
        "Timestamp: 1795305921.000500\r\nStartTime: 2026-11-22 23:59:59\r\nAnswerTime: \r\n\r\n",
      "utf8",
    );
    const out = renumberTrace(bytes, 2, { timeShiftMs: 1_500 }).toString("utf8");
    expect(out).toBe(
      "Event: Newchannel\r\nEventTV: 2026-11-23T00:00:01.078+0000\r\nCallerIDName: Jürgen Müller\r\n" +
        "Uniqueid: 1795305922.20000007\r\nValue: /rec/x-1795305922.20000007.wav\r\nLoginTime: 1795305917\r\nLastCall: 0\r\n" +
        "Timestamp: 1795305922.500500\r\nStartTime: 2026-11-23 00:00:00\r\nAnswerTime: \r\n\r\n",
    );
  });

  it("streams copies of several traces with distinct ids per copy", () => {
    const traces = [traceBytes("01-inbound-answered"), traceBytes("14-internal-call")];
    const chunks = [...renumberedCopies(traces, { firstCopy: 3, copies: 2, stripPreamble: true })];
    expect(chunks).toHaveLength(4);
    expect(chunks[2]!.equals(renumberTrace(traces[0]!, 4, { stripPreamble: true }))).toBe(true);
    expect(chunks[0]!.toString("latin1")).toContain("PJSIP/carrier-00300000");
  });
});

describe("stripPreamble with dropResponses", () => {
  it("keeps every event of the trace (regression: a shared regex's lastIndex cut the first events)", async () => {
    const { renumberTrace } = await import("../../src/sim/renumber.js");
    const { AmiDecoder } = await import("../../src/ami/codec.js");
    const { readFileSync } = await import("node:fs");
    const { FIXTURES } = await import("../helpers/traces.js");
    const bytes = readFileSync(`${FIXTURES}/01-inbound-answered.ami`);
    const out = renumberTrace(bytes, 1, { stripPreamble: true, dropResponses: true });
    const msgs = new AmiDecoder({ expectBanner: false }).push(out);
    expect(msgs.every((m) => m.event !== undefined)).toBe(true);
    expect(msgs).toHaveLength(100);
    expect(msgs[0]!.event).toBe("FullyBooted");
  });
});
