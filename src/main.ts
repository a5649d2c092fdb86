#!/usr/bin/env node
/**
 * The only file that touches `process`: arguments, environment, signals, exit codes, stdout.
 *
 * Shutdown always finishes. The first SIGINT/SIGTERM starts a graceful stop and arms a
 * watchdog thread that kills the process 10 s later whatever the main thread is stuck in;
 * the handlers are then removed, so a second signal takes the default action at once.
 * Logging never blocks: lines go through a bounded `LogSink`. A closed stdout (EPIPE: the
 * `| head` or `| jq` went away) ends a printing command quietly with 0; the daemon keeps
 * running and drops its log lines. Under systemd (`NOTIFY_SOCKET` set, `Type=notify`) the
 * daemon says READY=1 once it serves and STOPPING=1 when it stops, through `systemd-notify`.
 */
import { fstatSync } from "node:fs";
import { CommanderError } from "commander";
import { buildCli } from "./cli/cli.js";
import { LogSink } from "./log.js";
import { sdNotifier } from "./sdNotify.js";
import { armWatchdog } from "./watchdog.js";

/** From the first SIGINT/SIGTERM to a forced end, in every case. */
const SHUTDOWN_GRACE_MS = 10_000;

let stdoutGone = false;
const stdoutClosed: (() => void)[] = [];
const sink = new LogSink(process.stdout, {
  onDropping: () => void process.stderr.write("ctibridge: stdout is not being read; log lines are dropped until it is\n"),
});

// EPIPE (the reader went away) or any other write error (EIO: the terminal is gone): stdout
// is unusable either way, and neither is worth a stack trace.
process.stdout.on("error", () => {
  if (stdoutGone) return;
  stdoutGone = true;
  sink.close();
  if (stdoutClosed.length === 0) process.exit(0); // nobody reads what is left to print
  for (const fn of stdoutClosed) fn();
});
// A stderr that is gone as well is nothing to crash over.
process.stderr.on("error", () => undefined);

const handlers: Record<"SIGINT" | "SIGTERM", (() => void)[]> = { SIGINT: [], SIGTERM: [] };
const listeners = { SIGINT: () => onStopSignal("SIGINT"), SIGTERM: () => onStopSignal("SIGTERM") };
let stopping = false;
function onStopSignal(signal: "SIGINT" | "SIGTERM"): void {
  if (stopping) return;
  stopping = true;
  armWatchdog(SHUTDOWN_GRACE_MS, process.pid);
  // Without a listener the next SIGINT/SIGTERM gets the default action: the kernel ends us
  // at once, even while the main thread is stuck.
  process.removeListener("SIGINT", listeners.SIGINT);
  process.removeListener("SIGTERM", listeners.SIGTERM);
  for (const fn of handlers[signal]) fn();
}

/**
 * Is stdout the journal? systemd sets JOURNAL_STREAM to the `device:inode` of the stream it
 * connected; a child whose stdout was redirected elsewhere inherits the variable, hence the
 * comparison (the check systemd.exec(5) prescribes).
 */
function stdoutIsJournal(): boolean {
  const want = process.env.JOURNAL_STREAM;
  if (!want) return false;
  try {
    const st = fstatSync(1, { bigint: true });
    return want === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

const program = buildCli({
  env: process.env,
  out: (t) => void (stdoutGone || process.stdout.write(t)),
  err: (t) => void process.stderr.write(t),
  isTTY: process.stdout.isTTY === true,
  journal: stdoutIsJournal(),
  logTo: sink,
  onStdoutClosed: (fn) => void stdoutClosed.push(fn),
  onSignal: (signal, fn) => {
    if (signal === "SIGHUP") return void process.on(signal, fn);
    if (handlers[signal].length === 0 && !stopping) process.on(signal, listeners[signal]);
    handlers[signal].push(fn);
  },
  exit: (code) => process.exit(code),
  notify: sdNotifier({ env: process.env }) ?? undefined,
});

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  // An operator's problem (e.g. an unopenable database) is one line; a bug keeps its stack.
  const operatorError = err instanceof Error && err.name === "StoreOpenError";
  process.stderr.write(`ctibridge: ${operatorError ? err.message : ((err as Error).stack ?? String(err))}\n`);
  process.exit(1);
});
