/**
 * What a SIGHUP may change while the daemon runs. A reload compares the running config with
 * the file's, setting by setting: the settings below are applied at once; every other setting
 * that changed (AMI link, HTTP listener and its limits, store, numbers, call tracking) is
 * named as needing a restart and keeps its running value.
 */
import type { Config } from "./config.js";

/** Settings (a path or a section prefix ending in ".") a running daemon applies on reload. */
export const RELOADABLE = ["users", "contacts.", "pop.", "control.", "log.level", "calls.retentionDays", "agents.wrapUp."] as const;

/**
 * A cluster gateway also takes the auth settings (new sessions and requests are checked with
 * them; open sessions run to their token's expiry) and its session caps (checked at each
 * upgrade). Contacts, control and wrap-up settings are the workers': kept, unused, on a gateway.
 */
export const GATEWAY_RELOADABLE = [...RELOADABLE, "auth.", "server.limits.maxClients", "server.limits.maxClientsPerUser"] as const;

export interface ReloadPlan {
  applied: string[];
  restartNeeded: string[];
}

/** The leaf settings that differ (arrays compared whole: `users`, `trunks`). */
export function changedSettings(a: unknown, b: unknown, prefix = ""): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => changedSettings(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

export function planReload(running: Config, next: Config, reloadable: readonly string[] = RELOADABLE): ReloadPlan {
  const plan: ReloadPlan = { applied: [], restartNeeded: [] };
  for (const path of changedSettings(running, next)) {
    const ok = reloadable.some((r) => (r.endsWith(".") ? path.startsWith(r) : path === r));
    (ok ? plan.applied : plan.restartNeeded).push(path);
  }
  return plan;
}
