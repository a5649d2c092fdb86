/**
 * Vitest global setup: the client SDK's browser build (packages/client/dist/ctibridge-client.js),
 * which the daemon serves at /sdk/ctibridge-client.js and the browser tests load, is made once
 * before any test file runs, so `npm test` does not depend on an earlier `npm run build`.
 */
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  execFileSync(process.execPath, [join(root, "packages", "client", "build.mjs"), "--js-only"], { stdio: "inherit" });
}
