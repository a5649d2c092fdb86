/**
 * `ctibridge demo`: the daemon against the built-in PBX simulator (recorded scenarios in a
 * loop), demo users and contacts, a throw-away database, and ready-to-use tokens.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CliIo } from "./cli.js";
import { configSchema, type Config } from "../config.js";
import { Directory } from "../directory/users.js";
import { ContactDirectory } from "../directory/contacts.js";
import { createLogger, type Logger } from "../log.js";
import { createApiToken } from "../publish/apiTokens.js";
import { openDb } from "../store/db.js";

export const DEMO_USERS = [
  { id: "alice", name: "Alice Agent", devices: ["PJSIP/1001"] },
  { id: "bob", name: "Bob Agent", devices: ["PJSIP/1002"] },
  { id: "carol", name: "Carol Agent", devices: ["PJSIP/1003"] },
  { id: "dave", name: "Dave Sales", devices: ["PJSIP/1004"] },
  { id: "eve", name: "Eve Sales", devices: ["PJSIP/1005"] },
  { id: "frank", name: "Frank Backoffice", devices: ["PJSIP/1006"] },
  { id: "sam", name: "Sam Supervisor", devices: [], role: "supervisor" as const },
];

const DEMO_CONTACTS = `name,company,numbers,record_id,url
Max Mustermann,Acme GmbH,+49 30 123456,ACC-1042,https://crm.example/accounts/ACC-1042
Erika Musterfrau,Beispiel AG,030 9876543,ACC-2001,https://crm.example/accounts/ACC-2001
Hans Beispiel,Beispiel AG,030 9876543,ACC-2002,https://crm.example/accounts/ACC-2002
Bayern Logistik,Bayern Logistik KG,0049 89 1234567,ACC-3003,https://crm.example/accounts/ACC-3003
`;

export function demoConfig(o: { port: number; speed: number; logLevel: string; dbPath: string }): Config {
  return configSchema.parse({
    ami: { mode: "simulator", simulator: { speed: o.speed, loop: true, gapMs: 1500 } },
    users: DEMO_USERS,
    trunks: ["PJSIP/carrier"],
    store: { path: o.dbPath },
    server: { host: "127.0.0.1", port: o.port, allowQueryToken: true },
    auth: { jwtSecret: randomBytes(32).toString("hex") },
    pop: { urlTemplate: "https://crm.example/contacts?phone={e164}&ticket={ivr.TICKET}" },
    // The simulator's phones honour hold NOTIFY (it answers PJSIPNotify with Hold/Unhold).
    control: { holdNotify: { holdOption: "hold", unholdOption: "talk" } },
    log: { level: o.logLevel },
  });
}

export async function runDemo(o: {
  port: number;
  speed: number;
  logLevel: string;
  io: CliIo;
  runDaemon: (c: Config, log: Logger) => Promise<void>;
}): Promise<void> {
  const dbPath = join(mkdtempSync(join(tmpdir(), "ctibridge-demo-")), "ctibridge.db");
  const config = demoConfig({ ...o, dbPath });
  const log = createLogger({ level: config.log.level, pretty: o.io.isTTY, destination: o.io.logTo });
  const db = openDb(dbPath);
  new ContactDirectory({ db, numbers: config.numbers, log, lookupTimeoutMs: 1000, cacheSeconds: 0 }).importCsv(DEMO_CONTACTS);
  // The keys are bound to the users' records: create those first (the daemon keeps them).
  new Directory({ db }).applyConfig(config.users);
  const alice = createApiToken(db, "alice");
  const sam = createApiToken(db, "sam", "supervisor");
  db.close();
  await o.runDaemon(config, log);
  const base = `127.0.0.1:${config.server.port}`;
  o.io.out(
    [
      "",
      "ctibridge demo is running: the PBX simulator replays recorded calls in a loop.",
      `  panel (Alice, agent):   http://${base}/?token=${alice.token}`,
      `  panel (Sam, supervisor): http://${base}/?token=${sam.token}`,
      `  watch Alice's events:   npx ctibridge watch --url ws://${base}/ws --token ${alice.token}`,
      `  watch every call:       npx ctibridge watch --url ws://${base}/ws --token ${sam.token}`,
      `  database:               ${dbPath}`,
      "",
    ].join("\n") + "\n",
  );
}
