/**
 * `ctibridge start` in cluster mode: runs the configured role (a PBX worker or a gateway) with
 * the standalone daemon's process rules: one `ctibridge started` line, one `shuttingDown`
 * guard, a forced exit after the stop timeout, a second signal exits at once, SIGHUP reloads
 * what the role can change at run time (one log line). A PBX worker
 * that loses its lease exits 1, so its supervisor starts it again as a standby.
 */
import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import { createGateway } from "./gateway.js";
import { handleSignals } from "./lifecycle.js";
import { createPbxWorker } from "./pbxWorker.js";
import { createDaemon } from "./standalone.js";

export interface RoleIo {
  env: Record<string, string | undefined>;
  exit(code: number): void;
  onSignal(signal: "SIGINT" | "SIGTERM" | "SIGHUP", fn: () => void): void;
  notify?: (fields: Record<string, string>) => Promise<void>;
}

/**
 * `reloadConfig` reads the file again (flags given at start still win); absent: SIGHUP changes
 * nothing. A broken file changes nothing and says why, as standalone.
 */
export async function runClusterRole(c: Config, log: Logger, io: RoleIo, version: string, reloadConfig?: () => Config): Promise<void> {
  const role = c.cluster.role!;
  let stopRole: () => Promise<void> = async () => undefined;
  let reloadRole: ((next: Config) => void) | null = null;
  const life = handleSignals({
    io,
    log,
    tell: (fields) => void io.notify?.(fields).catch(() => undefined),
    stop: () => stopRole(),
    stopped: () => ({ version, role }),
    reload: () => {
      if (!reloadConfig || !reloadRole) return void log.warn({ role }, "SIGHUP: nothing to reload, nothing changed");
      reloadRole(reloadConfig());
    },
  });

  if (role === "gateway") {
    const gw = createGateway({ config: c, log, version, env: io.env });
    stopRole = () => gw.stop();
    reloadRole = (next) => void gw.reload(next);
    const { port } = await gw.start();
    log.info({ version, role, nats: c.cluster.nats.servers, http: `${c.server.tls ? "https" : "http"}://${c.server.host}:${port}` }, "ctibridge started");
    void io.notify?.({ READY: "1", STATUS: `gateway serving on ${c.server.host}:${port}` }).catch(() => undefined);
    return;
  }
  const worker = createPbxWorker({ config: c, log, env: io.env, createDaemon: (cfg, hooks) => createDaemon({ config: cfg, log, env: io.env, ...hooks }) });
  stopRole = () => worker.stop();
  reloadRole = (next) => void worker.reload(next);
  void worker.done.then((reason) => {
    if (reason !== "stopped" && life.claim()) {
      log.error({ reason }, "pbx worker stopped, exiting");
      log.flush(() => io.exit(1));
    }
  });
  await worker.start();
  log.info({ version, role, pbxId: c.cluster.pbxId, nats: c.cluster.nats.servers, active: worker.active }, "ctibridge started");
  void io.notify?.({ READY: "1", STATUS: `pbx worker for ${c.cluster.pbxId}` }).catch(() => undefined);
}
