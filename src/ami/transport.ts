/**
 * Reaching and greeting the PBX, shared by the long-lived client and `ctibridge capture`:
 * the socket (plain TCP, TLS, or an injected factory for tests), the Login action's
 * fields (plain secret or the MD5 challenge answer), the login handshake, and the
 * reconnect delay.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Logger } from "pino";
import { header, type ActionFields } from "./codec.js";
import type { AmiResponse } from "./pending.js";

export interface AmiEndpoint {
  host: string;
  port: number;
  tls?: { enabled: boolean; caFile?: string; rejectUnauthorized: boolean };
  /** Injectable socket factory (tests, proxies); wins over `tls`. */
  connect?: (host: string, port: number) => Socket;
}

/** Open the socket; the caller waits for the banner, so TCP and TLS look the same to it. */
export function openAmiSocket(ep: AmiEndpoint): Socket {
  const { host, port, tls } = ep;
  if (ep.connect) return ep.connect(host, port);
  if (tls?.enabled) {
    const ca = tls.caFile ? readFileSync(tls.caFile) : undefined;
    return tlsConnect({ host, port, rejectUnauthorized: tls.rejectUnauthorized, ca });
  }
  return netConnect({ host, port });
}

/**
 * Login fields. `Events: on` always: a server-side `Filter` narrows the stream afterwards
 * (a Login with `Events: off` would silence the session entirely). With a challenge, only
 * md5(challenge + secret) crosses the wire, never the secret.
 */
export function loginFields(username: string, secret: string, challenge?: string): ActionFields {
  if (challenge === undefined) return [["Username", username], ["Secret", secret], ["Events", "on"]];
  const key = createHash("md5").update(`${challenge}${secret}`).digest("hex");
  return [["AuthType", "MD5"], ["Username", username], ["Key", key], ["Events", "on"]];
}

/**
 * Delay before reconnect attempt `attempt` (1-based): minDelayMs doubling per attempt,
 * capped at maxDelayMs, then ±20 % jitter (random() = 0.5 gives the exact value), and
 * never above maxDelayMs. The jitter spreads many bridges reconnecting to one restarted
 * PBX; the cap keeps a long outage from stretching the delay to hours.
 */
export function backoffDelay(attempt: number, min: number, max: number, random: () => number): number {
  const base = Math.min(max, min * 2 ** Math.min(Math.max(attempt, 1) - 1, 30));
  return Math.min(max, Math.round(base * (0.8 + 0.4 * random())));
}

export interface GreetOptions {
  username: string;
  secret?: string;
  md5Login: boolean;
  eventFilter: string[];
  log: Logger;
}

/**
 * The handshake after the banner: [Challenge], Login, one `Filter` per event name, then
 * CoreSettings for the Asterisk version (the banner only carries the AMI protocol
 * version). Rejects only when Challenge or Login fails; a refused Filter (it needs the
 * `system` write permission) or CoreSettings only warns, since the session still works.
 */
export async function greet(send: (name: string, fields: ActionFields) => Promise<AmiResponse>, o: GreetOptions): Promise<string | undefined> {
  let challenge: string | undefined;
  if (o.md5Login) challenge = header((await send("Challenge", [["AuthType", "MD5"]])).response, "Challenge") ?? "";
  await send("Login", loginFields(o.username, o.secret ?? "", challenge));
  // FullyBooted tells when the agent listings can be sent (the daemon waits for it).
  const filters = o.eventFilter.length > 0 && !o.eventFilter.includes("FullyBooted") ? [...o.eventFilter, "FullyBooted"] : o.eventFilter;
  for (const name of filters) {
    // Legacy regex filter (Asterisk 10+): a substring match, so `Dial` also admits DialBegin.
    await send("Filter", [["Operation", "Add"], ["Filter", `Event: ${name}`]]).catch((err: Error) =>
      o.log.warn({ filter: name, err }, "ami filter refused"),
    );
  }
  // Only informative: a user without `system` read rights still gets a working session.
  const settings = await send("CoreSettings", []).catch((err: Error) => void o.log.warn({ err }, "ami coresettings refused"));
  return settings ? header(settings.response, "AsteriskVersion") : undefined;
}
