import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

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
