/**
 * The schema is the one source: docs/protocol.schema.json is what `npm run schema` makes of it
 * now, and every enum docs/protocol.md lists (`<!-- enum NAME -->` … `<!-- /enum -->`) has
 * exactly the schema's values. Frames and calls themselves: test/e2e/schema.test.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ENUMS, annotation, clientMessage, rest, serverMessage } from "../../src/publish/schema.js";
import { protocolJsonSchemaText } from "../../src/publish/schemaJson.js";

const root = join(import.meta.dirname, "..", "..");
const doc = readFileSync(join(root, "docs", "protocol.md"), "utf8");

/** The values a marked block lists: all `code` of a table row's first cell, or the first `code` of a bullet. */
export function enumBlocks(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const re = /<!-- enum (\w+) -->\n([\s\S]*?)<!-- \/enum -->/g;
  for (const [, name, body] of text.matchAll(re)) {
    const values: string[] = [];
    for (const line of body!.split("\n")) {
      if (line.startsWith("|") && !/^\|[\s|:-]+\|$/.test(line)) {
        const cell = line.split("|")[1] ?? "";
        if (/^\s*(code|action|value)\s*$/.test(cell)) continue;
        for (const [, v] of cell.matchAll(/`([^`]+)`/g)) values.push(v!);
      } else if (line.startsWith("- ")) {
        const m = /`([^`]+)`/.exec(line);
        if (m) values.push(m[1]!);
      }
    }
    out.set(name!, values);
  }
  return out;
}

describe("the protocol schema is the one source", () => {
  it("docs/protocol.schema.json is what `npm run schema` produces now", () => {
    expect(readFileSync(join(root, "docs", "protocol.schema.json"), "utf8")).toBe(protocolJsonSchemaText());
  });

  it("docs/protocol.md lists every enum of the schema, value for value", () => {
    const blocks = enumBlocks(doc);
    expect([...blocks.keys()].sort()).toEqual(Object.keys(ENUMS).sort());
    for (const [name, values] of Object.entries(ENUMS)) expect(blocks.get(name)?.slice().sort(), name).toEqual(values.map(String).sort());
  });

  it("the enum check notices a value the doc lacks or adds", () => {
    const blocks = enumBlocks("<!-- enum x -->\n| code | meaning |\n|---|---|\n| `a` / `b` | … |\n<!-- /enum -->\n<!-- enum y -->\n- `c`: see\n- `d`\n<!-- /enum -->\n");
    expect(Object.fromEntries(blocks)).toEqual({ x: ["a", "b"], y: ["c", "d"] });
  });

  it("every JSON example frame in docs/protocol.md validates (an unknown field fails)", () => {
    const frames = [...doc.matchAll(/^\{ "v": 1, .*\}$/gm)]
      .map((m) => m[0].replace('"ts": "…"', '"ts": "2024-06-01T09:00:00.000Z"'))
      .filter((t) => !t.includes("…"));
    expect(frames.length).toBeGreaterThan(3);
    for (const f of frames) expect(serverMessage.safeParse(JSON.parse(f)).error?.issues ?? [], f).toEqual([]);
    // Whole fenced blocks that are one JSON value: the hello and call.ringing frames, the annotation, the REST history.
    const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].flatMap((m) => {
      try {
        return [JSON.parse(m[1]!.replace('"ts": "…"', '"ts": "2024-06-01T09:00:00.000Z"')) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
    const checked: string[] = [];
    for (const b of blocks) {
      const schema = b.v === 1 ? serverMessage : "annotations" in b ? rest.annotations : "by" in b && "at" in b ? annotation : null;
      if (schema === null || JSON.stringify(b).includes("…")) continue;
      checked.push(String(b.type ?? Object.keys(b)[0]));
      expect(schema.safeParse(b).error?.issues ?? [], JSON.stringify(b).slice(0, 120)).toEqual([]);
    }
    expect(checked.sort()).toEqual(["annotations", "call.ringing", "command.result", "hello", "recordId"]);
    const client = [...doc.matchAll(/^\{ "type": "(resume|claim|subscribe|command|ping)".*\}$/gm)].map((m) => m[0]);
    expect(client.length).toBe(5);
    for (const f of client) expect(clientMessage.safeParse(JSON.parse(f)).success, f).toBe(true);
  });
});
