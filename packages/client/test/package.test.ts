/**
 * The package as a consumer gets it: the full build (bundle and declarations), a TypeScript
 * program resolving `@ctibridge/client` through package.json `exports`/`types`, and Node
 * importing it by name.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const root = join(pkg, "..", "..");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

beforeAll(() => {
  execFileSync(process.execPath, [join(pkg, "build.mjs")], { stdio: "inherit" });
}, 60_000);

describe("@ctibridge/client as a dependency", () => {
  it("package.json: ESM, MIT, no runtime dependency, types and exports to the one file", () => {
    const p = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
    expect(p).toMatchObject({ name: "@ctibridge/client", type: "module", license: "MIT", types: "./dist/ctibridge-client.d.ts" });
    expect(p.exports["."]).toEqual({ types: "./dist/ctibridge-client.d.ts", import: "./dist/ctibridge-client.js" });
    expect(p.dependencies).toBeUndefined();
  });

  it("a TypeScript program type-checks against the published declarations", () => {
    execFileSync(process.execPath, [tsc, "-p", join(pkg, "typecheck", "tsconfig.json")], { stdio: "pipe" });
  }, 60_000);

  it("Node imports it by name and gets the API", () => {
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", 'const m = await import("@ctibridge/client"); console.log(Object.keys(m).sort().join(","))'], { cwd: root }).toString().trim();
    expect(out).toBe("CommandError,CtiError,SUBPROTOCOL,backoffDelay,connect");
  });

  it("ships the protocol's JSON Schema, the one in docs/ (generated from the server's zod schema)", () => {
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", 'const { createRequire } = await import("node:module"); console.log(createRequire(process.cwd() + "/").resolve("@ctibridge/client/protocol.schema.json"))'], { cwd: root }).toString().trim();
    expect(readFileSync(out, "utf8")).toBe(readFileSync(join(root, "docs", "protocol.schema.json"), "utf8"));
    expect(Object.keys(JSON.parse(readFileSync(out, "utf8")).$defs)).toEqual(expect.arrayContaining(["ServerMessage", "ClientMessage", "Call"]));
  });
});
