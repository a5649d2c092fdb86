#!/usr/bin/env node
/**
 * `ctibridge` in the container image: secrets from CTIBRIDGE_*_FILE (secretFiles.mjs), then
 * the ordinary command line (dist/src/main.js) with the same arguments.
 */
import { applySecretFiles } from "./secretFiles.mjs";

const problems = applySecretFiles(process.env);
if (problems.length > 0) {
  for (const p of problems) process.stderr.write(`ctibridge: ${p}\n`);
  process.exit(1);
}
await import("../dist/src/main.js");
