/**
 * config/ctibridge.example.yaml names every setting of the schema (src/config.ts) with its
 * default and a comment. A setting with no default may appear commented out (`# secret: "…"`);
 * a value that differs from the default must be marked `[example]` on its line.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { parse as parseYaml } from "yaml";
import { configSchema } from "../../src/config.js";

const EXAMPLE = join(import.meta.dirname, "../../config/ctibridge.example.yaml");

/** Every leaf setting of the schema as a dotted path; arrays (users, trunks, …) are leaves. */
function leafPaths(schema: z.ZodType, prefix = ""): string[] {
  let s = schema as unknown as { _zod: { def: { type: string; innerType?: unknown; shape?: Record<string, z.ZodType> } } };
  while (s._zod.def.type === "default" || s._zod.def.type === "optional") s = s._zod.def.innerType as typeof s;
  if (s._zod.def.type !== "object") return [prefix];
  return Object.entries(s._zod.def.shape!).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

function get(obj: unknown, path: string): unknown {
  let v = obj;
  for (const p of path.split(".")) v = typeof v === "object" && v !== null ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

const text = readFileSync(EXAMPLE, "utf8");
const keys = new Set(leafPaths(configSchema).flatMap((p) => p.split(".")));
/** The example with commented-out settings (`  # key: value`, key a setting's name) switched on. */
const uncommented = parseYaml(text.replace(/^(\s*)# ([A-Za-z]+)(: )/gm, (line, ind: string, k: string, c: string) => (keys.has(k) ? ind + k + c : line))) as Record<string, unknown>;
const active = parseYaml(text) as Record<string, unknown>;
const defaults = configSchema.parse({});

describe("config/ctibridge.example.yaml", () => {
  it("names every setting of the schema", () => {
    const paths = leafPaths(configSchema);
    expect(paths.length).toBeGreaterThan(60);
    expect(paths.filter((p) => get(uncommented, p) === undefined)).toEqual([]);
  });

  it("shows each setting's default, unless the line marks an intentional example value", () => {
    const marked = new Set([...text.matchAll(/^\s*([A-Za-z]+):.*\[example\]/gm)].map((m) => m[1]));
    const differs = leafPaths(configSchema).filter((p) => {
      const v = get(active, p);
      const d = get(defaults, p);
      return v !== undefined && d !== undefined && JSON.stringify(v) !== JSON.stringify(d);
    });
    expect(differs.filter((p) => !marked.has(p.split(".").at(-1)!))).toEqual([]);
  });

  it("is a valid configuration", () => {
    expect(configSchema.safeParse(active).success).toBe(true);
  });
});
