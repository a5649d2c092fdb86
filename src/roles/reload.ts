/**
 * SIGHUP: apply every setting that can change at run time (configReload.ts RELOADABLE) to the
 * running parts; the rest keeps its running value and is named in `restartNeeded`.
 */
import type { Config } from "../config.js";
import { planReload, type ReloadPlan } from "../configReload.js";
import type { Logger } from "../log.js";

export interface ReloadParts {
  log: Logger;
  usersChanged: (users: Config["users"]) => void;
  contactsChanged: (contacts: Config["contacts"]) => void;
  popChanged: () => void;
  controlChanged: () => void;
  userCount: () => number;
}

export function applyReload(config: Config, next: Config, p: ReloadParts, reloadable?: readonly string[]): ReloadPlan {
  const plan = planReload(config, next, reloadable);
  const changed = (prefix: string) => plan.applied.some((s) => s === prefix || s.startsWith(`${prefix}.`));
  if (changed("users")) {
    config.users = next.users;
    p.usersChanged(next.users);
  }
  if (changed("contacts")) {
    config.contacts = next.contacts;
    p.contactsChanged(next.contacts);
  }
  if (changed("pop")) {
    config.pop = next.pop;
    p.popChanged();
  }
  if (changed("control")) {
    config.control = next.control;
    p.controlChanged();
  }
  if (changed("log.level")) {
    config.log.level = next.log.level;
    p.log.level = next.log.level;
  }
  if (changed("calls.retentionDays")) config.calls.retentionDays = next.calls.retentionDays;
  // Only where the reloadable list names them (a gateway): read per upgrade and per token check.
  if (changed("auth")) config.auth = next.auth;
  for (const k of ["maxClients", "maxClientsPerUser"] as const) if (changed(`server.limits.${k}`)) config.server.limits[k] = next.server.limits[k];
  // Read at each wrap-up start and end: running wrap-ups keep their until.
  if (changed("agents.wrapUp")) config.agents.wrapUp = next.agents.wrapUp;
  p.log.info({ ...plan, users: p.userCount() }, "configuration reloaded");
  return plan;
}
