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

/** The YAML of a live daemon on the lab users against a fake PBX on 127.0.0.1 (for tests that start the real process). */
export function labDaemonYaml(pbxPort: number, dbPath: string, extra: string[] = []): string {
  return (
    [
      `ami: { mode: live, host: 127.0.0.1, port: ${pbxPort}, username: ctibridge, secret: s3cret, reconnect: { minDelayMs: 20, maxDelayMs: 50 } }`,
      `store: { path: ${JSON.stringify(dbPath)} }`,
      "server: { host: 127.0.0.1, port: 0 }",
      "trunks: [PJSIP/carrier]",
      "log: { level: info }",
      "users:",
      ...LAB_USERS.map((u) => `  - { id: ${u.id}, name: "${u.name}", devices: [${u.devices.join(", ")}] }`),
      ...extra,
    ].join("\n") + "\n"
  );
}
