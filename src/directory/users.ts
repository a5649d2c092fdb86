/**
 * Who is who: CRM users and their devices (several per user). Users come from the config
 * file (applied at start and on SIGHUP) and from SQLite (`ctibridge users …`); lookups are
 * served from memory. Each user row is a record with its own random `uid`: API keys are bound
 * to it, so a user removed and created again under the same id is a new record that no old
 * key opens. Another process (the CLI) may change the rows: `refresh()` notices that through
 * SQLite's `data_version` and reloads.
 */
import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import type { Db } from "../store/db.js";
import type { Logger } from "../log.js";
import type { UserConfig } from "../config.js";
import { deviceResource } from "./devices.js";

export type Role = "agent" | "supervisor";

export interface DirectoryUser {
  id: string;
  name: string;
  role: Role;
  devices: string[];
  popTiming?: "ringing" | "answered";
  /** The record: random per created user row (absent without a database). */
  uid?: string;
  /**
   * ISO-8601: when an earlier record with this id was removed (absent: never). A JWT issued
   * (`iat`) up to that second was meant for the earlier record and is refused.
   */
  notBefore?: string;
}

const newUid = () => randomBytes(16).toString("hex");
/** A new record's `not_before`: the last removal of an earlier record with the same id. */
const NOT_BEFORE = "(SELECT removed_at FROM user_removals WHERE id = ?)";

export class Directory {
  private users = new Map<string, DirectoryUser>();
  private byDevice = new Map<string, DirectoryUser>();
  private byExtension = new Map<string, string>();
  private unmappedLogged = new Set<string>();
  private dataVersion = -1;
  private versionStmt: Database.Statement<[], number> | null = null;
  private popTimings = new Map<string, "ringing" | "answered">();

  /** `onRefresh`: after refresh() picked up another process's changes (the agent tracker remaps devices). */
  constructor(private readonly deps: { db?: Db; log?: Logger; onRefresh?: () => void }) {}

  /**
   * Make the config-sourced users those of `users`: a user already there keeps its record
   * (uid, and with it its keys and sessions), a new one gets a record, a config user no
   * longer listed is removed like `users remove` (keys revoked).
   */
  applyConfig(users: readonly UserConfig[], now: () => number = Date.now): void {
    const db = this.deps.db;
    this.popTimings = new Map(users.flatMap((u) => (u.popTiming ? [[u.id, u.popTiming] as const] : [])));
    if (!db) {
      this.index(users.map((u) => ({ id: u.id, name: u.name, role: u.role, devices: [...u.devices] })));
      return;
    }
    const at = new Date(now()).toISOString();
    db.transaction(() => {
      const listed = new Set(users.map((u) => u.id));
      const dropped = (db.prepare("SELECT id FROM users WHERE source = 'config'").all() as { id: string }[]).filter((r) => !listed.has(r.id));
      for (const r of dropped) this.deleteUser(db, r.id, at);
      const insUser = db.prepare(
        `INSERT INTO users (id, name, role, source, uid, created_at, not_before) VALUES (?, ?, ?, 'config', ?, ?, ${NOT_BEFORE})
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role, source = 'config'`,
      );
      const insDev = db.prepare("INSERT INTO devices (device, user_id) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET user_id = excluded.user_id");
      // The listed users' devices are replaced by the config's: one statement for all of them
      // (devices has no index on user_id; a DELETE per user scanned the table each time: 22 s
      // for 20,000 users, issue 12). Same end state: a device listed again is inserted below.
      db.prepare("DELETE FROM devices WHERE user_id IN (SELECT value FROM json_each(?))").run(JSON.stringify([...listed]));
      for (const u of users) {
        insUser.run(u.id, u.name, u.role, newUid(), at, u.id);
        for (const d of u.devices) insDev.run(d, u.id);
      }
    })();
    this.reload();
  }

  /** Reload the in-memory maps from SQLite. */
  reload(): void {
    const db = this.deps.db;
    if (!db) return;
    this.dataVersion = this.version(db);
    const rows = db.prepare("SELECT id, name, role, uid, not_before FROM users ORDER BY id").all() as { id: string; name: string; role: Role; uid: string | null; not_before: string | null }[];
    const devs = db.prepare("SELECT device, user_id FROM devices ORDER BY device").all() as { device: string; user_id: string }[];
    // Grouped once: a filter per user was O(users × devices), seconds at 50,000 users (issue 12).
    const byUser = new Map<string, string[]>();
    for (const d of devs) {
      const list = byUser.get(d.user_id);
      if (list) list.push(d.device);
      else byUser.set(d.user_id, [d.device]);
    }
    const users = rows.map((r) => ({
      id: r.id,
      name: r.name,
      role: r.role,
      devices: byUser.get(r.id) ?? [],
      ...(r.uid !== null ? { uid: r.uid } : {}),
      ...(r.not_before !== null ? { notBefore: r.not_before } : {}),
    }));
    this.index(users);
  }

  /**
   * Reload when another connection (the CLI, another process) committed to the database since
   * the last look. `PRAGMA data_version` costs one call and no I/O; our own writes reload
   * directly. True when it reloaded.
   */
  refresh(): boolean {
    const db = this.deps.db;
    if (!db || !db.open) return false;
    if (this.version(db) === this.dataVersion) return false;
    this.reload();
    this.deps.onRefresh?.();
    return true;
  }

  /** ~3 µs prepared (db.pragma() prepares each time: ~7 µs). */
  private version(db: Db): number {
    this.versionStmt ??= db.prepare<[], number>("PRAGMA data_version").pluck();
    return this.versionStmt.get()!;
  }

  private index(users: DirectoryUser[]): void {
    this.users = new Map();
    this.byDevice = new Map();
    this.byExtension = new Map();
    for (const u of users) {
      const pop = this.popTimings.get(u.id);
      const user: DirectoryUser = pop ? { ...u, popTiming: pop } : u;
      this.users.set(u.id, user);
      for (const d of u.devices) {
        this.byDevice.set(d, user);
        this.byExtension.set(deviceResource(d), d);
      }
    }
    this.unmappedLogged.clear();
  }

  getUser(id: string): DirectoryUser | undefined {
    return this.users.get(id);
  }

  listUsers(): DirectoryUser[] {
    return [...this.users.values()];
  }

  /** The user a device belongs to; an unmapped device is logged once, not per event (unless quiet). */
  userForDevice(device: string, quiet = false): string | null {
    const u = this.byDevice.get(device);
    if (u) return u.id;
    if (!quiet && !this.unmappedLogged.has(device)) {
      this.unmappedLogged.add(device);
      this.deps.log?.info({ device }, "device not mapped to a user");
    }
    return null;
  }

  /** The device an internal extension rings (`1002` → `PJSIP/1002`), for transfer targets. */
  deviceForExtension(ext: string): string | null {
    return this.byExtension.get(ext) ?? null;
  }

  addUser(u: { id: string; name: string; role?: Role; devices?: string[] }, now: () => number = Date.now): void {
    const db = this.requireDb();
    db.transaction(() => {
      db.prepare(`INSERT INTO users (id, name, role, source, uid, created_at, not_before) VALUES (?, ?, ?, 'db', ?, ?, ${NOT_BEFORE})`).run(
        u.id,
        u.name,
        u.role ?? "agent",
        newUid(),
        new Date(now()).toISOString(),
        u.id,
      );
      for (const d of u.devices ?? []) db.prepare("INSERT INTO devices (device, user_id) VALUES (?, ?)").run(d, u.id);
    })();
    this.reload();
  }

  /**
   * Create the record of a config user the daemon has not written yet (`tokens create` before
   * the first start), so a key can be bound to it; the daemon's next applyConfig keeps it.
   */
  ensureConfigUser(u: UserConfig, now: () => number = Date.now): void {
    const db = this.requireDb();
    db.transaction(() => {
      const r = db
        .prepare(`INSERT INTO users (id, name, role, source, uid, created_at, not_before) VALUES (?, ?, ?, 'config', ?, ?, ${NOT_BEFORE}) ON CONFLICT(id) DO NOTHING`)
        .run(u.id, u.name, u.role, newUid(), new Date(now()).toISOString(), u.id);
      if (r.changes > 0) for (const d of u.devices) db.prepare("INSERT INTO devices (device, user_id) VALUES (?, ?) ON CONFLICT(device) DO NOTHING").run(d, u.id);
    })();
    this.reload();
  }

  /** Remove the user's record and revoke its API keys for good (sessions close at the next heartbeat). */
  removeUser(id: string, now: () => number = Date.now): boolean {
    const db = this.requireDb();
    const n = db.transaction(() => this.deleteUser(db, id, new Date(now()).toISOString()))();
    this.reload();
    return n > 0;
  }

  /** Keys revoked, the record deleted, and the removal remembered for the next record of this id. */
  private deleteUser(db: Db, id: string, at: string): number {
    db.prepare("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL").run(at, id);
    const n = db.prepare("DELETE FROM users WHERE id = ?").run(id).changes;
    if (n > 0) db.prepare("INSERT INTO user_removals (id, removed_at) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET removed_at = excluded.removed_at").run(id, at);
    return n;
  }

  setDevices(id: string, devices: string[]): void {
    const db = this.requireDb();
    if (!db.prepare("SELECT 1 FROM users WHERE id = ?").get(id)) throw new Error(`no user ${id}`);
    db.transaction(() => {
      db.prepare("DELETE FROM devices WHERE user_id = ?").run(id);
      for (const d of devices) db.prepare("INSERT INTO devices (device, user_id) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET user_id = excluded.user_id").run(d, id);
    })();
    this.reload();
  }

  private requireDb(): Db {
    if (!this.deps.db) throw new Error("the user directory needs a database");
    return this.deps.db;
  }
}
