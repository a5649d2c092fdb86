#!/usr/bin/env node
/** The only file that touches `process`: arguments, environment, signals, exit codes. */
import { CommanderError } from "commander";
import { buildCli } from "./cli.js";

const program = buildCli({
  env: process.env,
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  isTTY: process.stdout.isTTY === true,
  onSignal: (signal, fn) => void process.on(signal, fn),
  exit: (code) => process.exit(code),
});

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  // An operator's problem (e.g. an unopenable database) is one line; a bug keeps its stack.
  const operatorError = err instanceof Error && err.name === "StoreOpenError";
  process.stderr.write(`ctibridge: ${operatorError ? err.message : ((err as Error).stack ?? String(err))}\n`);
  process.exit(1);
});
