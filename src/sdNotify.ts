/**
 * Readiness for systemd (`Type=notify`) without a native module: Node has no AF_UNIX datagram
 * sockets, so each notification is one run of systemd's own `systemd-notify`. In systemd ≥ 246
 * it waits (BARRIER=1) until the manager has processed the message, so the message is
 * attributed to our unit even though the sender is a short-lived child; the unit needs
 * `NotifyAccess=all` because that child is not the main process. Nothing is spawned when
 * `NOTIFY_SOCKET` is unset (not under systemd, or `Type=simple`). Used by main.ts only.
 */
import { spawn as nodeSpawn } from "node:child_process";

/** sd_notify(3) fields, e.g. `{ READY: "1", STATUS: "…" }`. */
export type NotifyFields = Record<string, string>;
export type Notify = (fields: NotifyFields) => Promise<void>;

type SpawnFn = (cmd: string, args: string[], opts: { env: Record<string, string | undefined>; stdio: ["ignore", "ignore", "pipe"] }) => {
  stderr: NodeJS.ReadableStream | null;
  once(event: "error", fn: (err: Error) => void): unknown;
  once(event: "exit", fn: (code: number | null, signal: string | null) => void): unknown;
  unref(): void;
};

export interface SdNotifyOptions {
  /** The process environment: NOTIFY_SOCKET, PATH. */
  env: Record<string, string | undefined>;
  /** Default: node's child_process.spawn. */
  spawn?: SpawnFn;
  /** Default: `systemd-notify` from PATH. */
  command?: string;
}

/** The `systemd-notify` arguments for a set of fields (values are one line each). */
export function notifyArgs(fields: NotifyFields): string[] {
  return Object.entries(fields).map(([k, v]) => `${k}=${v.replace(/[\r\n]+/g, " ")}`);
}

/**
 * A notifier, or null when there is no service manager to notify. The promise settles when
 * `systemd-notify` is done; it rejects (never throws) with a one-line reason. The child never
 * keeps the process alive.
 */
export function sdNotifier(opts: SdNotifyOptions): Notify | null {
  if (!opts.env.NOTIFY_SOCKET) return null;
  const spawn = opts.spawn ?? (nodeSpawn as unknown as SpawnFn);
  const command = opts.command ?? "systemd-notify";
  return (fields) =>
    new Promise<void>((resolve, reject) => {
      let child: ReturnType<SpawnFn>;
      try {
        child = spawn(command, notifyArgs(fields), { env: opts.env, stdio: ["ignore", "ignore", "pipe"] });
      } catch (err) {
        return reject(new Error(`${command}: ${(err as Error).message}`));
      }
      let stderr = "";
      child.stderr?.on("data", (b: Buffer) => void (stderr.length < 500 && (stderr += b.toString())));
      child.once("error", (err) => reject(new Error(`${command}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
      child.once("exit", (code, signal) => {
        if (code === 0) resolve();
        else reject(new Error(`${command} exited ${code ?? signal}${stderr ? `: ${stderr.trim().split("\n")[0]}` : ""}`));
      });
      child.unref();
    });
}
