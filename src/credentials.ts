/**
 * systemd credentials (`LoadCredential=` in the unit): secrets as files in
 * `$CREDENTIALS_DIRECTORY`, readable by the service alone, never in the unit, the config file
 * or the environment of `systemctl show`. Each known name maps onto one config setting.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Credential name → the setting it fills (the same settings CTIBRIDGE_* variables fill). */
export const CREDENTIALS = {
  "store-password": "store.postgres.password",
  "ami-secret": "ami.secret",
  "jwt-secret": "auth.jwtSecret",
  "metrics-token": "server.metricsToken",
  "nats-password": "cluster.nats.password",
  "nats-token": "cluster.nats.token",
} as const;

export interface CredentialValues {
  /** Setting path → value, for each credential present. */
  values: Record<string, string>;
  problems: string[];
}

/**
 * Read the known credentials of `env.CREDENTIALS_DIRECTORY` (none when it is unset). A missing
 * file is no problem (the secret may come from elsewhere); an unreadable or empty one is.
 * Trailing whitespace (the newline `echo` leaves) is dropped, as for `ami.secretFile`.
 */
export function readCredentials(env: Record<string, string | undefined>): CredentialValues {
  const out: CredentialValues = { values: {}, problems: [] };
  const dir = env.CREDENTIALS_DIRECTORY;
  if (!dir) return out;
  for (const [name, setting] of Object.entries(CREDENTIALS)) {
    const path = join(dir, name);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") out.problems.push(`credential ${name}: cannot read ${path} (${code ?? String(err)})`);
      continue;
    }
    const value = text.trim();
    if (value === "") out.problems.push(`credential ${name}: ${path} is empty`);
    else out.values[setting] = value;
  }
  return out;
}
