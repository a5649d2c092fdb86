/**
 * The command-line front (commander): options → one options object → the part that does the
 * work. Process-level things (signals, exit, env, stdout) come in through `io`, so only
 * main.ts touches `process`.
 */
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import type { DestinationStream } from "pino";
import { captureAmi, decodeToLines } from "../ami/capture.js";
import { replayFiles } from "../replay.js";
import { ConfigError, loadConfig, NoPbxConfigError, redactConfig, describeRole, type Config, type LoadOptions } from "../config.js";
import { createDaemon, VERSION } from "../roles/standalone.js";
import { ContactDirectory } from "../directory/contacts.js";
import { Directory } from "../directory/users.js";
import { createLogger, type Logger } from "../log.js";
import { createApiToken, listApiTokens, revokeApiToken } from "../publish/apiTokens.js";
import { CallLog } from "../store/callLog.js";
import { handleSignals } from "../roles/lifecycle.js";
import { runClusterRole } from "../roles/runCluster.js";
import { addDataCommands } from "./cliData.js";
import { addWebhookCommands } from "./cliWebhooks.js";
import { clusterTokenCreate, clusterTokenList, clusterTokenMigrate, clusterTokenRevoke } from "./cliTokens.js";
import { defaultDbPath, openDb, StoreOpenError, type Db } from "../store/db.js";
import { describeStore, postgresStore } from "../store/open.js";
import { runWatch } from "./watch.js";
import { runDemo } from "./demo.js";
import { replayLines } from "./replayOutput.js";

export interface CliIo {
  env: Record<string, string | undefined>;
  out: (text: string) => void;
  err: (text: string) => void;
  isTTY: boolean;
  /** Where log lines go (main.ts: a LogSink over stdout); default: pino's stdout stream. */
  logTo?: DestinationStream;
  /** Called if stdout goes away (EPIPE, or another write error); with none registered, main.ts ends the command quietly. */
  onStdoutClosed?: (fn: () => void) => void;
  onSignal: (signal: "SIGINT" | "SIGTERM" | "SIGHUP", fn: () => void) => void;
  exit: (code: number) => void;
  /** stdout is the systemd journal (`JOURNAL_STREAM` names it): log lines carry their syslog priority. */
  journal?: boolean;
  /** Tell the service manager (systemd `Type=notify`, sd_notify fields); absent: not under systemd. */
  notify?: (fields: Record<string, string>) => Promise<void>;
}

/** How long a graceful daemon stop may take before it exits 1 (main.ts's watchdog kills at 10 s). */
export { STOP_TIMEOUT_MS } from "../roles/lifecycle.js";

export interface ConfigOpts {
  config?: string;
  logLevel?: string;
}

export function buildCli(io: CliIo): Command {
  const program = new Command("ctibridge").version(VERSION).description("CTI bridge between Asterisk (AMI) and CRM front ends (WebSocket)");
  program.exitOverride();
  program.configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });

  const withConfig = (cmd: Command) =>
    cmd
      .option("-c, --config <file>", "YAML configuration file")
      .addOption(new Option("--log-level <level>", "log level").choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"]));

  /**
   * Load the config or print every problem and exit 1 (before any socket opens); nothing that
   * says where the PBX is, for `start`: exit 2. `need`: what the command needs (LoadOptions).
   */
  function config(o: ConfigOpts, overrides: Record<string, unknown> = {}, need: Pick<LoadOptions, "requirePbx" | "requireFile"> = {}): Config {
    try {
      return loadConfig({ file: o.config, env: io.env, overrides: { "log.level": o.logLevel, ...overrides }, ...need });
    } catch (err) {
      if (err instanceof NoPbxConfigError) {
        io.err(`ctibridge: ${err.message}\n`);
        io.exit(2);
      }
      if (err instanceof ConfigError) {
        io.err(`ctibridge: ${o.config ?? "configuration"} is not valid:\n`);
        for (const p of err.problems) io.err(`  ${p}\n`);
        io.exit(1);
      }
      throw err;
    }
  }

  function logger(c: Config): Logger {
    return createLogger({ level: c.log.level, pretty: io.isTTY, destination: io.logTo, syslogPrefix: io.journal === true });
  }

  function dbOf(c: Config): Db {
    return storeOrExit(io, () => openDb(c.store.path ?? defaultDbPath(io.env)));
  }

  withConfig(program.command("start").description("run the daemon"))
    .option("--port <port>", "HTTP/WebSocket port (overrides server.port)", (v) => Number(v))
    .action(async (o: ConfigOpts & { port?: number }) => {
      const flags = { "server.port": o.port, "log.level": o.logLevel };
      const c = config(o, flags, { requirePbx: true, requireFile: true });
      // Flags given at start keep winning over the file on SIGHUP.
      await runDaemon(c, logger(c), io, o.config, flags);
    });

  withConfig(program.command("check-config").description("validate the configuration and print it, secrets redacted")).action((o: ConfigOpts) => {
    const c = config(o, {}, { requirePbx: true });
    io.out(JSON.stringify(redactConfig(c), null, 2) + "\n");
    io.out(describeRole(c) + "\n");
    io.out("configuration is valid\n");
  });

  program
    .command("demo")
    .description("run the daemon against the built-in PBX simulator, with demo users and contacts")
    .option("--port <port>", "HTTP/WebSocket port", (v) => Number(v), 8088)
    .option("--speed <factor>", "replay speed", (v) => Number(v), 1)
    .addOption(new Option("--log-level <level>", "log level").default("info"))
    .action(async (o: { port: number; speed: number; logLevel: string }) => {
      await runDemo({ ...o, io, runDaemon: (c, log) => runDaemon(c, log, io, undefined) });
    });

  program
    .command("decode <file>")
    .description("print each AMI message of a raw capture as one JSON line")
    .action(async (file: string) => {
      try {
        await decodeToLines(file, (line) => io.out(line + "\n"));
      } catch (err) {
        io.err(`ctibridge: cannot decode ${file}: ${(err as Error).message}\n`);
        io.exit(1);
      }
    });

  withConfig(program.command("capture").description("record the raw bytes a live PBX sends (for support cases)"))
    .requiredOption("-o, --out <file>", "output .ami file")
    .option("-d, --duration <seconds>", "stop after this many seconds", (v) => Number(v))
    .action(async (o: ConfigOpts & { out: string; duration?: number }) => {
      const c = config(o, {}, { requirePbx: true });
      const ctrl = new AbortController();
      io.onSignal("SIGINT", () => ctrl.abort());
      io.onSignal("SIGTERM", () => ctrl.abort());
      const r = await captureAmi({ ami: { ...c.ami, secret: c.ami.secret }, out: o.out, durationS: o.duration, signal: ctrl.signal, log: logger(c) });
      io.err(`captured ${r.bytes} bytes to ${o.out}\n`);
    });

  withConfig(program.command("replay <files...>").description("run the call tracker over raw captures, one JSON line per call"))
    .option("--events", "print the per-user domain events instead")
    .action(async (files: string[], o: ConfigOpts & { events?: boolean }) => {
      const c = config(o);
      for (const f of files) {
        try {
          readFileSync(f, { flag: "r" }).subarray(0, 0);
        } catch (err) {
          io.err(`ctibridge: cannot read ${f}: ${(err as NodeJS.ErrnoException).code}\n`);
          return io.exit(1);
        }
      }
      const { events } = await replayFiles(files, c);
      for (const line of replayLines(events, o.events === true)) io.out(line + "\n");
    });

  withConfig(program.command("calls").description("list stored calls"))
    .option("-u, --user <id>", "calls with a leg of this user")
    .option("--since <date>", "calls started at or after (ISO date)")
    .option("--missed", "only missed calls (under the configured policy)")
    .option("--open", "with --missed: only those not yet called back or marked done")
    .option("--limit <n>", "at most this many", (v) => Number(v), 100)
    .option("--json", "one JSON object per line")
    .action(async (o: ConfigOpts & { user?: string; since?: string; missed?: boolean; open?: boolean; limit: number; json?: boolean }) => {
      const c = config(o);
      if (o.since && Number.isNaN(Date.parse(o.since))) {
        io.err(`ctibridge: --since: not a date: ${o.since}\n`);
        return io.exit(1);
      }
      const q = { userId: o.user, since: o.since, missed: o.missed, openOnly: o.open, limit: o.limit };
      let rows;
      if (c.store.kind === "postgres") {
        // The call log of record is the server (store.kind postgres), read as REST reads it.
        const store = postgresStore(c);
        try {
          await store.open();
          rows = await store.list(q);
        } catch (err) {
          io.err(`ctibridge: store: ${describeStore(c, "")} cannot be read: ${String((err as Error)?.message ?? err).split("\n")[0]}\n`);
          return io.exit(1);
        } finally {
          await store.close().catch(() => undefined);
        }
      } else {
        const db = dbOf(c);
        rows = new CallLog(db).list(q);
        db.close();
      }
      for (const r of rows) io.out((o.json ? JSON.stringify(r) : formatCallRow(r)) + "\n");
    });

  addDataCommands(program, io, { withConfig, config, db: dbOf });
  addWebhookCommands(program, io, { withConfig, config, db: dbOf });

  const users = program.command("users").description("manage users and their devices (SQLite)");
  withConfig(users.command("list")).action((o: ConfigOpts) => {
    const c = config(o);
    const db = dbOf(c);
    const dir = new Directory({ db });
    dir.reload();
    for (const u of dir.listUsers()) io.out(`${u.id}\t${u.name}\t${u.role}\t${u.devices.join(",")}\n`);
    db.close();
  });
  withConfig(users.command("add <id> <name>"))
    .option("--device <device...>", "devices, e.g. PJSIP/1001")
    .option("--role <role>", "agent or supervisor", "agent")
    .action((id: string, name: string, o: ConfigOpts & { device?: string[]; role: string }) => {
      const c = config(o);
      const db = dbOf(c);
      new Directory({ db }).addUser({ id, name, role: o.role === "supervisor" ? "supervisor" : "agent", devices: o.device ?? [] });
      db.close();
      io.out(`user ${id} added\n`);
    });
  withConfig(users.command("remove <id>").description("remove a user: their API keys are revoked, a running daemon closes their sessions within one heartbeat")).action((id: string, o: ConfigOpts) => {
    const db = dbOf(config(o));
    const ok = new Directory({ db }).removeUser(id);
    db.close();
    if (!ok) {
      io.err(`ctibridge: no user ${id}\n`);
      return io.exit(1);
    }
    io.out(`user ${id} removed\n`);
  });
  withConfig(users.command("set-devices <id> <devices...>")).action((id: string, devices: string[], o: ConfigOpts) => {
    const db = dbOf(config(o));
    new Directory({ db }).setDevices(id, devices);
    db.close();
    io.out(`user ${id}: ${devices.join(", ")}\n`);
  });

  const tokens = program.command("tokens").description("per-user API keys for the WebSocket and REST API");
  // Cluster mode: the keys are the cluster's (NATS KV), for every gateway (cliTokens.ts); log lines to stderr.
  const cluster = (c: Config) => (c.mode === "cluster" ? createLogger({ level: "warn", destination: { write: (s: string) => io.err(s) } }) : null);
  withConfig(tokens.command("create <user>"))
    .option("--role <role>", "agent or supervisor (default: the user's role; never more than it)")
    .action(async (user: string, o: ConfigOpts & { role?: string }) => {
      const c = config(o);
      const db = dbOf(c);
      const dir = new Directory({ db });
      dir.reload();
      const fromConfig = c.users.find((u) => u.id === user);
      if (!fromConfig && !dir.getUser(user)) {
        db.close();
        io.err(`ctibridge: no user ${user} (add it to the config's users or with 'ctibridge users add')\n`);
        return io.exit(1);
      }
      const userRole = dir.getUser(user)?.role ?? fromConfig?.role ?? "agent";
      if (o.role !== undefined && o.role !== "agent" && o.role !== "supervisor") {
        db.close();
        io.err(`ctibridge: --role: expected agent or supervisor\n`);
        return io.exit(1);
      }
      if (o.role === "supervisor" && userRole !== "supervisor") {
        db.close();
        io.err(`ctibridge: ${user} is an agent: a key cannot give more rights than the user's role\n`);
        return io.exit(1);
      }
      const role = (o.role as "agent" | "supervisor" | undefined) ?? userRole;
      const clusterLog = cluster(c);
      if (clusterLog) {
        db.close();
        return clusterTokenCreate(c, clusterLog, io, user, role);
      }
      // The key is bound to the user's record: create it now if the daemon has not yet.
      if (fromConfig && !dir.getUser(user)) dir.ensureConfigUser(fromConfig);
      const t = createApiToken(db, user, role);
      db.close();
      io.out(`${t.token}\n`);
      io.err(`token ${t.id} for ${user}: shown once, stored hashed\n`);
    });
  withConfig(tokens.command("list")).action(async (o: ConfigOpts) => {
    const c = config(o);
    const clusterLog = cluster(c);
    if (clusterLog) return clusterTokenList(c, clusterLog, io);
    const db = dbOf(c);
    for (const t of listApiTokens(db)) io.out(JSON.stringify(t) + "\n");
    db.close();
  });
  withConfig(tokens.command("revoke <id>")).action(async (id: string, o: ConfigOpts) => {
    const c = config(o);
    const clusterLog = cluster(c);
    if (clusterLog) return clusterTokenRevoke(c, clusterLog, io, id);
    const db = dbOf(c);
    const ok = revokeApiToken(db, id);
    db.close();
    if (!ok) return io.exit(1);
    io.out(`token ${id} revoked\n`);
  });
  withConfig(tokens.command("migrate").description("cluster mode: copy this gateway's own keys (its SQLite) to the cluster, for every gateway")).action(async (o: ConfigOpts) => {
    const c = config(o);
    const clusterLog = cluster(c);
    if (!clusterLog) {
      io.err("ctibridge: tokens migrate is for mode: cluster (a standalone daemon's keys are in its database already)\n");
      return io.exit(1);
    }
    const db = dbOf(c);
    try {
      await clusterTokenMigrate(c, clusterLog, io, db);
    } finally {
      db.close();
    }
  });

  const contacts = program.command("contacts").description("the local contact directory used for screen pops");
  const contactDir = (c: Config) => {
    const db = dbOf(c);
    return { db, dir: new ContactDirectory({ db, numbers: c.numbers, log: logger(c), lookupTimeoutMs: 1000, cacheSeconds: 0 }) };
  };
  withConfig(contacts.command("import <file>")).action((file: string, o: ConfigOpts) => {
    const { db, dir } = contactDir(config(o));
    const r = dir.importCsv(readFileSync(file, "utf8"));
    db.close();
    for (const e of r.errors) io.err(`${file}:${e.line}: ${e.message}\n`);
    io.out(`imported ${r.imported} contacts\n`);
    if (r.errors.length > 0) io.exit(1);
  });
  withConfig(contacts.command("list")).action((o: ConfigOpts) => {
    const { db, dir } = contactDir(config(o));
    for (const ct of dir.list()) io.out(JSON.stringify(ct) + "\n");
    db.close();
  });
  withConfig(contacts.command("remove <id>")).action((id: string, o: ConfigOpts) => {
    const { db, dir } = contactDir(config(o));
    const ok = dir.remove(Number(id));
    db.close();
    if (!ok) return io.exit(1);
  });

  program
    .command("watch")
    .description("print the events a user receives, one line each")
    .requiredOption("--url <url>", "WebSocket URL, e.g. ws://127.0.0.1:8088/ws")
    .option("--token <token>", "JWT or API key (default: $CTIBRIDGE_TOKEN)")
    .option("--json", "print raw JSON messages")
    .action(async (o: { url: string; token?: string; json?: boolean }) => {
      const token = o.token ?? io.env.CTIBRIDGE_TOKEN;
      if (!token) {
        io.err("ctibridge: watch needs --token or CTIBRIDGE_TOKEN\n");
        return io.exit(1);
      }
      const ctrl = new AbortController();
      io.onSignal("SIGINT", () => ctrl.abort());
      io.onSignal("SIGTERM", () => ctrl.abort());
      try {
        await runWatch({ url: o.url, token, json: o.json === true, out: (l) => io.out(l + "\n"), status: (l) => io.err(l + "\n"), signal: ctrl.signal });
      } catch (err) {
        io.err(`ctibridge: ${(err as Error).message}\n`);
        io.exit(1);
      }
    });

  return program;
}

function formatCallRow(r: Record<string, any>): string {
  // `(possibly)`: a missed leg inferred when the call's end was not seen (missedUncertain).
  const legs = (r.legs as any[]).map((l) => `${l.userId ?? l.device}:${l.outcome ?? "-"}${l.missedUncertain ? "(possibly)" : ""}${l.done ? "(done)" : ""}`).join(" ");
  return [r.times.started, r.direction.padEnd(8), String(r.from.raw || "-").padEnd(16), "→", String(r.to.raw || "-").padEnd(14), String(r.outcome ?? r.state).padEnd(10), legs, r.callId].join(" ");
}

/** A database that cannot be opened: one line naming the file and the cause, exit 1, no stack. */
function storeOrExit<T>(io: CliIo, open: () => T): T {
  try {
    return open();
  } catch (err) {
    if (!(err instanceof StoreOpenError)) throw err;
    io.err(`ctibridge: ${err.message}\n`);
    io.exit(1);
    throw err; // io.exit does not return in the real process
  }
}

/** Start the daemon and keep it running until a signal; SIGHUP reloads what can change at run time. */
export async function runDaemon(c: Config, log: Logger, io: CliIo, configFile: string | undefined, flags: Record<string, unknown> = {}): Promise<void> {
  // Cluster mode: this process plays one role (roles/runCluster.ts).
  if (c.mode === "cluster") {
    const reread = configFile === undefined ? undefined : () => loadConfig({ file: configFile, env: io.env, requirePbx: true, overrides: flags });
    return runClusterRole(c, log, io, VERSION, reread);
  }
  const daemon = storeOrExit(io, () => createDaemon({ config: c, log, env: io.env }));
  const startedAt = Date.now();
  // A daemon outlives its log reader: it keeps bridging calls and says so once on stderr.
  io.onStdoutClosed?.(() => io.err("ctibridge: stdout is closed (EPIPE); log lines are dropped from now on\n"));
  const tell = (fields: Record<string, string>) =>
    void io.notify?.(fields).catch((err: unknown) => log.warn({ reason: (err as Error).message }, "systemd notification failed"));
  // SIGHUP: re-read the file; what can change at run time is applied (one log line says what,
  // and what needs a restart). A broken file changes nothing. Flags given at start still win.
  handleSignals({
    io,
    log,
    tell,
    stop: () => daemon.stop(),
    stopped: () => ({ version: VERSION, uptimeS: Math.round((Date.now() - startedAt) / 1000) }),
    reload: () => {
      if (configFile === undefined) return void log.warn("SIGHUP: no config file to reload (demo), nothing changed");
      daemon.reload(loadConfig({ file: configFile, env: io.env, requirePbx: true, overrides: flags }));
    },
    reloadFields: { file: configFile ?? null },
  });
  const { port, amiPort } = await daemon.start();
  // The one line that says what runs where (journalctl -u ctibridge | grep started).
  log.info(
    {
      version: VERSION,
      config: configFile ?? null,
      db: c.store.path ?? defaultDbPath(io.env),
      ...(c.store.kind === "postgres" ? { callLog: describeStore(c, "") } : {}),
      ami: `${c.ami.mode === "simulator" ? "127.0.0.1" : c.ami.host}:${amiPort}`,
      amiMode: c.ami.mode,
      http: `${c.server.tls ? "https" : "http"}://${c.server.host}:${port}`,
      users: daemon.directory.listUsers().length,
    },
    "ctibridge started",
  );
  // Ready: the store is open (createDaemon) and the HTTP/WebSocket listener is up.
  tell({ READY: "1", STATUS: `serving on ${c.server.host}:${port}` });
}
