/**
 * Who is who: CRM users and their devices (several per user). Users come from the config
 * file (applied at start and on SIGHUP) and from SQLite (`ctibridge users …`); lookups are
 * served from memory.
 */
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
}

export class Directory {
  private users = new Map<string, DirectoryUser>();
  private byDevice = new Map<string, DirectoryUser>();
  private byExtension = new Map<string, string>();
  private unmappedLogged = new Set<string>();
  private popTimings = new Map<string, "ringing" | "answered">();

  constructor(private readonly deps: { db?: Db; log?: Logger }) {}

  /** Replace the config-sourced users with `users` and reload everything. */
  applyConfig(users: readonly UserConfig[]): void {
    const db = this.deps.db;
    this.popTimings = new Map(users.flatMap((u) => (u.popTiming ? [[u.id, u.popTiming] as const] : [])));
    if (!db) {
      this.index(users.map((u) => ({ id: u.id, name: u.name, role: u.role, devices: [...u.devices] })));
      return;
    }
    db.transaction(() => {
      db.prepare("DELETE FROM users WHERE source = 'config'").run();
      const insUser = db.prepare("INSERT INTO users (id, name, role, source) VALUES (?, ?, ?, 'config') ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role, source = 'config'");
      const insDev = db.prepare("INSERT INTO devices (device, user_id) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET user_id = excluded.user_id");
      for (const u of users) {
        insUser.run(u.id, u.name, u.role);
        db.prepare("DELETE FROM devices WHERE user_id = ?").run(u.id);
        for (const d of u.devices) insDev.run(d, u.id);
      }
    })();
    this.reload();
  }

  /** Reload the in-memory maps from SQLite. */
  reload(): void {
    const db = this.deps.db;
    if (!db) return;
    const rows = db.prepare("SELECT id, name, role FROM users ORDER BY id").all() as { id: string; name: string; role: Role }[];
    const devs = db.prepare("SELECT device, user_id FROM devices ORDER BY device").all() as { device: string; user_id: string }[];
    const users = rows.map((r) => ({ ...r, devices: devs.filter((d) => d.user_id === r.id).map((d) => d.device) }));
    this.index(users);
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

  addUser(u: { id: string; name: string; role?: Role; devices?: string[] }): void {
    const db = this.requireDb();
    db.transaction(() => {
      db.prepare("INSERT INTO users (id, name, role, source) VALUES (?, ?, ?, 'db')").run(u.id, u.name, u.role ?? "agent");
      for (const d of u.devices ?? []) db.prepare("INSERT INTO devices (device, user_id) VALUES (?, ?)").run(d, u.id);
    })();
    this.reload();
  }

  removeUser(id: string): boolean {
    const n = this.requireDb().prepare("DELETE FROM users WHERE id = ?").run(id).changes;
    this.reload();
    return n > 0;
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
