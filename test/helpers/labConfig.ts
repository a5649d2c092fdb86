import { configSchema, type Config } from "../../src/config.js";

/** The lab PBX of the recorded traces: six agents, one carrier trunk. */
export const LAB_USERS = [
  { id: "alice", name: "Alice Agent", devices: ["PJSIP/1001"] },
  { id: "bob", name: "Bob Agent", devices: ["PJSIP/1002"] },
  { id: "carol", name: "Carol Agent", devices: ["PJSIP/1003"] },
  { id: "dave", name: "Dave Sales", devices: ["PJSIP/1004"] },
  { id: "eve", name: "Eve Sales", devices: ["PJSIP/1005"] },
  { id: "frank", name: "Frank Backoffice", devices: ["PJSIP/1006"] },
];

/** Extension → user id in the lab. */
export const EXT_USER: Record<string, string> = Object.fromEntries(LAB_USERS.map((u) => [u.devices[0]!.slice(6), u.id]));

export function labConfig(overrides: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    users: LAB_USERS,
    trunks: ["PJSIP/carrier"],
    ...overrides,
  });
}
