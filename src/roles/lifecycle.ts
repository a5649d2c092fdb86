/**
 * A process's signal rules, the same for the standalone daemon (cli/cli.ts) and a cluster role
 * (roles/runCluster.ts): SIGINT/SIGTERM stop it once (`shutting down`, systemd STOPPING=1, the
 * stop, `ctibridge stopped`, the log flushed, exit 0), a second signal exits 1 at once, and a
 * stop that takes longer than STOP_TIMEOUT_MS exits 1. SIGHUP reloads; a broken file changes
 * nothing and says why (`reload failed, keeping the running configuration`).
 */
import { ConfigError } from "../config.js";
import type { Logger } from "../log.js";

export const STOP_TIMEOUT_MS = 9_000;

export interface LifecycleIo {
  exit(code: number): void;
  onSignal(signal: "SIGINT" | "SIGTERM" | "SIGHUP", fn: () => void): void;
}

export interface Lifecycle {
  /** Claims the exit for the caller (a role that stopped on its own): false when a shutdown runs already. */
  claim(): boolean;
}

export function handleSignals(d: {
  io: LifecycleIo;
  log: Logger;
  /** systemd notifications (never throws). */
  tell: (fields: Record<string, string>) => void;
  stop: () => Promise<void>;
  /** The fields of the `ctibridge stopped` line (signal added). */
  stopped: () => Record<string, unknown>;
  /** SIGHUP: read the file again and apply it; throws ConfigError when the file is broken. */
  reload: () => void;
  /** More fields for the `reload failed` line (the file). */
  reloadFields?: Record<string, unknown>;
}): Lifecycle {
  const { io, log } = d;
  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) {
      log.warn({ signal }, "second signal, exiting now");
      return io.exit(1);
    }
    shuttingDown = true;
    log.info({ signal }, "shutting down");
    d.tell({ STOPPING: "1", STATUS: "stopping" });
    const force = setTimeout(() => {
      log.error({ timeoutMs: STOP_TIMEOUT_MS }, "shutdown took too long, exiting");
      log.flush(() => io.exit(1));
    }, STOP_TIMEOUT_MS);
    force.unref();
    // The last line gets a bounded chance to reach the reader (LogSink.flush), then we exit.
    d.stop().then(
      () => {
        log.info({ ...d.stopped(), signal }, "ctibridge stopped");
        log.flush(() => io.exit(0));
      },
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        log.flush(() => io.exit(1));
      },
    );
  };
  io.onSignal("SIGINT", () => shutdown("SIGINT"));
  io.onSignal("SIGTERM", () => shutdown("SIGTERM"));
  io.onSignal("SIGHUP", () => {
    try {
      d.reload();
    } catch (err) {
      if (err instanceof ConfigError) log.error({ ...d.reloadFields, problems: err.problems }, "reload failed, keeping the running configuration");
      else log.error({ err }, "reload failed, keeping the running configuration");
    }
  });
  return {
    claim() {
      if (shuttingDown) return false;
      shuttingDown = true;
      return true;
    },
  };
}
