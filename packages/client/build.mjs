// The browser build: src/ bundled into ONE ES module with no imports (dist/ctibridge-client.js),
// and its declarations (tsc, checked without DOM or Node types) behind dist/ctibridge-client.d.ts.
// `--js-only`: the bundle alone (tests that load the browser file build it this way).
// Files are written beside their place and renamed, so a test reading one never sees half of it.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
mkdirSync(dist, { recursive: true });

function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

if (!process.argv.includes("--js-only")) {
  const tsc = join(here, "..", "..", "node_modules", "typescript", "bin", "tsc");
  rmSync(join(dist, "types"), { recursive: true, force: true });
  execFileSync(process.execPath, [tsc, "-p", join(here, "tsconfig.json")], { stdio: "inherit" });
  writeAtomic(join(dist, "ctibridge-client.d.ts"), 'export * from "./types/index.js";\n');
}
const out = await build({
  entryPoints: [join(here, "src", "index.ts")],
  bundle: true,
  write: false,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  legalComments: "none",
  banner: { js: "// @ctibridge/client (MIT): the ctibridge WebSocket protocol for browsers and Node. See docs/sdk.md." },
  logLevel: "warning",
});
writeAtomic(join(dist, "ctibridge-client.js"), out.outputFiles[0].text);
// The protocol's JSON Schema (generated from the server's zod schema, docs/protocol.schema.json)
// ships with the package: `@ctibridge/client/protocol.schema.json`.
writeAtomic(join(dist, "protocol.schema.json"), readFileSync(join(here, "..", "..", "docs", "protocol.schema.json"), "utf8"));
