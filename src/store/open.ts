/**
 * The configured call log of record (store.kind): SQLite over the daemon's database, or
 * PostgreSQL from store.postgres. One place turns the settings into a pg pool config and into
 * the words check-config and the start line print (never the password).
 */
import { readFileSync } from "node:fs";
import type pg from "pg";
import type { Config } from "../config.js";
import type { Db } from "./db.js";
import type { CallStore } from "./index.js";
import { PostgresCallStore } from "./postgres/store.js";
import { SqliteCallStore } from "./sqlite.js";

export function pgPoolConfig(c: Config["store"]["postgres"]): pg.PoolConfig {
  const ssl = c.ssl === "off" ? false : c.ssl === "require" ? { rejectUnauthorized: false } : { rejectUnauthorized: true, ...(c.caFile ? { ca: readFileSync(c.caFile, "utf8") } : {}) };
  return {
    ...(c.url ? { connectionString: c.url } : { host: c.host, port: c.port, database: c.database, user: c.user }),
    ...(c.password !== undefined ? { password: c.password } : {}),
    ssl,
    max: c.poolSize,
    connectionTimeoutMillis: c.connectTimeoutMs,
    application_name: "ctibridge",
  };
}

/** `postgres ctibridge@127.0.0.1:5432/ctibridge (ssl off)` or `sqlite /var/lib/ctibridge/ctibridge.db`. */
export function describeStore(config: Config, dbPath: string): string {
  if (config.store.kind === "sqlite") return `sqlite ${dbPath}`;
  const c = config.store.postgres;
  const where = c.url ? c.url : `${c.user}@${c.host}:${c.port}/${c.database}`;
  return `postgres ${where} (ssl ${c.ssl})`;
}

/** The store of record; SQLite shares the daemon's connection. Not opened yet (`open()`). */
export function createCallStore(config: Config, db: Db): CallStore {
  return config.store.kind === "postgres" ? postgresStore(config) : new SqliteCallStore(db, { callbackWindowDays: config.calls.callbackWindowDays });
}

/** The PostgreSQL store of store.postgres (whatever store.kind says). */
export function postgresStore(config: Config): PostgresCallStore {
  return new PostgresCallStore({ connection: pgPoolConfig(config.store.postgres), callbackWindowDays: config.calls.callbackWindowDays });
}
