import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { stripTracePreamble } from "../../src/sim/replay.js";

const beside = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "ami");
/** The traces; from the working directory when this file runs compiled elsewhere (`npm run fuzz`). */
export const FIXTURES = existsSync(beside) ? beside : join(process.cwd(), "test", "fixtures", "ami");

/** The recorded `.ami` traces shipped in test/fixtures/ami, sorted by name. */
export function traceFiles(): string[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith(".ami"))
    .sort();
}

export function traceBytes(name: string): Buffer {
  return readFileSync(join(FIXTURES, name.endsWith(".ami") ? name : `${name}.ami`));
}

/** The scenario description (`NN-name.json`) that belongs to a trace. */
export function scenarioJson(name: string): any {
  const base = name.replace(/\.ami$/, "").replace(/-(originator|after-restart)$/, "");
  return JSON.parse(readFileSync(join(FIXTURES, `${base}.json`), "utf8"));
}

/**
 * A trace (its preamble stripped) cut into the part a test replays first and the rest: `cutAt`
 * gets the AMI messages and returns the index of the first message of the rest.
 */
export function traceHalves(name: string, cutAt: (msgs: string[]) => number): [Buffer, Buffer] {
  const msgs = stripTracePreamble(traceBytes(name)).toString("utf8").split("\r\n\r\n").filter((m) => m.trim() !== "");
  const cut = cutAt(msgs);
  if (cut < 0) throw new Error(`${name}: no cut`);
  const join2 = (ms: string[]) => Buffer.from(ms.map((m) => m + "\r\n\r\n").join(""), "utf8");
  return [join2(msgs.slice(0, cut)), join2(msgs.slice(cut))];
}

/** Before the first agent phone (PJSIP/100x) answers: the call still rings. */
export const beforeFirstAnswer = (msgs: string[]) => msgs.findIndex((m) => m.startsWith("Event: Newstate") && /\r\nChannel: PJSIP\/100\d-/.test(m) && m.includes("\r\nChannelState: 6"));
