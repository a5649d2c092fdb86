import { configSchema, type Config } from "../../src/config.js";
import { DEMO_USERS } from "../../src/cli/demo.js";

/** The lab PBX of the recorded traces: six agents (the demo's users without its supervisor). */
export const LAB_USERS = DEMO_USERS.filter((u) => u.role !== "supervisor").map(({ id, name, devices }) => ({ id, name, devices }));

/** Extension → user id in the lab. */
export const EXT_USER: Record<string, string> = Object.fromEntries(LAB_USERS.map((u) => [u.devices[0]!.slice(6), u.id]));

export function labConfig(overrides: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    users: LAB_USERS,
    trunks: ["PJSIP/carrier"],
    ...overrides,
  });
}
