/**
 * SQLite through better-sqlite3: WAL, foreign keys, numbered migrations run once each.
 * Every table of ctibridge is created here so that the schema has one home.
 */
import Database from "better-sqlite3";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";

export type Db = Database.Database;

/**
 * The database cannot be opened or used: the message is one line an operator can act on
 * (`store: /var/lib/ctibridge/ctibridge.db is not a SQLite database`), printed without a stack.
 */
export class StoreOpenError extends Error {
  readonly code = "STORE_OPEN";
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "StoreOpenError";
  }
}

const MIGRATIONS: string[] = [
  // 1: calls, legs, directory, tokens, contacts, resume journal, open-call map, webhook outbox.
  `
  CREATE TABLE calls (
    call_id TEXT PRIMARY KEY,
    linked_ids TEXT NOT NULL,
    direction TEXT NOT NULL,
    state TEXT NOT NULL,
    from_raw TEXT NOT NULL, from_e164 TEXT, from_name TEXT,
    to_raw TEXT NOT NULL, to_e164 TEXT, to_name TEXT,
    did TEXT,
    queue TEXT,
    outcome TEXT,
    answered_by_user TEXT, answered_by_device TEXT,
    started_at TEXT NOT NULL, ringing_at TEXT, answered_at TEXT, ended_at TEXT,
    wait_seconds REAL, talk_seconds REAL,
    hangup_cause INTEGER, hangup_text TEXT,
    end_reason TEXT,
    transfer TEXT,
    ivr TEXT,
    recording TEXT,
    restored INTEGER NOT NULL DEFAULT 0,
    click_to_dial INTEGER NOT NULL DEFAULT 0,
    conference TEXT,
    annotation TEXT,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX calls_started ON calls(started_at);
  CREATE TABLE legs (
    call_id TEXT NOT NULL REFERENCES calls(call_id) ON DELETE CASCADE,
    device TEXT NOT NULL,
    user_id TEXT,
    state TEXT NOT NULL,
    outcome TEXT,
    placed INTEGER NOT NULL DEFAULT 0,
    ringing_at TEXT, answered_at TEXT, ended_at TEXT,
    wait_seconds REAL, talk_seconds REAL,
    done INTEGER NOT NULL DEFAULT 0,
    done_at TEXT,
    PRIMARY KEY (call_id, device)
  );
  CREATE INDEX legs_user ON legs(user_id, outcome);
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'agent',
    source TEXT NOT NULL DEFAULT 'db'
  );
  CREATE TABLE devices (
    device TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE
  );
  CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'agent',
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );
  CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    company TEXT,
    record_id TEXT,
    url TEXT
  );
  CREATE TABLE contact_numbers (
    contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    raw TEXT NOT NULL,
    e164 TEXT,
    last_digits TEXT NOT NULL
  );
  CREATE INDEX contact_numbers_e164 ON contact_numbers(e164);
  CREATE INDEX contact_numbers_last ON contact_numbers(last_digits);
  CREATE TABLE open_calls (
    linked_id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE journal (
    seq INTEGER PRIMARY KEY,
    user_id TEXT,
    call_id TEXT,
    message TEXT NOT NULL,
    at TEXT NOT NULL
  );
  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    delivered_at TEXT,
    last_error TEXT
  );
  `,
  // 2: access (issue 7): users bound to a record (uid), keys bound to it; the annotation history;
  // what the WebSocket call snapshot has that the call columns lacked (match, full parties,
  // leg order). Self-contained: it names every table and column it needs.
  `
  ALTER TABLE users ADD COLUMN uid TEXT;
  ALTER TABLE users ADD COLUMN created_at TEXT;
  ALTER TABLE users ADD COLUMN not_before TEXT;
  UPDATE users SET uid = lower(hex(randomblob(16))), created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE uid IS NULL;
  CREATE UNIQUE INDEX users_uid ON users(uid);
  CREATE TABLE user_removals (
    id TEXT PRIMARY KEY,
    removed_at TEXT NOT NULL
  );
  ALTER TABLE api_tokens ADD COLUMN user_uid TEXT;
  UPDATE api_tokens SET user_uid = (SELECT uid FROM users WHERE users.id = api_tokens.user_id);
  CREATE TABLE call_annotations (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL,
    by_user TEXT NOT NULL,
    at TEXT NOT NULL,
    patch TEXT NOT NULL
  );
  CREATE INDEX call_annotations_call ON call_annotations(call_id, id);
  ALTER TABLE calls ADD COLUMN match TEXT;
  ALTER TABLE calls ADD COLUMN from_party TEXT;
  ALTER TABLE calls ADD COLUMN to_party TEXT;
  ALTER TABLE legs ADD COLUMN position INTEGER;
  `,
  // 3: the "called back" check on every answered outbound call looks up earlier calls from
  // the dialled number; coalesce(from_e164, from_raw) cannot use an index, so the key gets a
  // column of its own. open_calls is deleted from by call_id when a call ends. store_probe:
  // one row /healthz rewrites when no call was written lately (does the disk take writes?).
  `
  ALTER TABLE calls ADD COLUMN from_key TEXT;
  UPDATE calls SET from_key = coalesce(from_e164, from_raw);
  CREATE INDEX calls_from_key ON calls(from_key, started_at);
  CREATE INDEX open_calls_call ON open_calls(call_id);
  CREATE TABLE store_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
  `,
  // 4: an end time that is an estimate (unknown_end), and a missed leg inferred at such an end.
  `
  ALTER TABLE calls ADD COLUMN end_estimated INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE legs ADD COLUMN missed_uncertain INTEGER NOT NULL DEFAULT 0;
  `,
  // 5: a call answered outside (a ring group's external member: the number), and a call's park
  // record (JSON: by, slot, at, retrievedBy, retrievedAt, timedOut, abandoned).
  `
  ALTER TABLE calls ADD COLUMN answered_by_external TEXT;
  ALTER TABLE calls ADD COLUMN park TEXT;
  `,
  // 6: the leg of an agent who transferred the call and left it (Leg.transferred).
  `
  ALTER TABLE legs ADD COLUMN transferred INTEGER NOT NULL DEFAULT 0;
  `,
  // 7 (issue 11): after-call work, one row per (call, agent): running while ended_at is null
  // (a restarted daemon resumes or ends it), `paused` the queue members ctibridge paused for it
  // (JSON [[queue, interface]]). The call log pages newest first by (started_at, call_id).
  `
  CREATE TABLE wrap_ups (
    call_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    until TEXT,
    ended_at TEXT,
    seconds REAL,
    end_reason TEXT,
    paused TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (call_id, user_id)
  );
  CREATE INDEX wrap_ups_running ON wrap_ups(user_id) WHERE ended_at IS NULL;
  CREATE INDEX calls_started_id ON calls(started_at, call_id);
  `,
];

/**
 * Open (creating the folder and file when needed) and migrate. `:memory:` for tests.
 * A new file is created with mode 0600 before SQLite opens it: it holds phone numbers, and
 * SQLite gives its -wal and -shm files the mode of the database file. Any failure becomes a
 * StoreOpenError naming the file and the cause.
 */
export function openDb(path: string): Db {
  let db: Db | undefined;
  try {
    if (path !== ":memory:") {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // "a": create if missing (mode applies only then), never truncate an existing file.
      closeSync(openSync(path, "a", 0o600));
    }
    db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    migrate(db);
    return db;
  } catch (err) {
    db?.close();
    throw new StoreOpenError(`store: ${path} ${openFailure(err)}`, { cause: err });
  }
}

/** What went wrong, in words (the SQLite or errno code decides). */
function openFailure(err: unknown): string {
  const e = err as { code?: string; message?: string };
  switch (e.code) {
    case "SQLITE_NOTADB":
      return "is not a SQLite database";
    case "SQLITE_CORRUPT":
      return "is corrupt (restore a backup, or move it away to start empty)";
    case "SQLITE_READONLY":
    case "EROFS":
      return "is read-only";
    case "SQLITE_CANTOPEN":
    case "EACCES":
    case "EPERM":
      return "cannot be opened (permission denied?)";
    case "EISDIR":
      return "is a directory";
    case "SQLITE_FULL":
    case "ENOSPC":
      return "cannot be written: the disk is full";
    default:
      return `cannot be opened: ${String(e.message ?? err).split("\n")[0]}`;
  }
}

function migrate(db: Db): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/** The default database path: $STATE_DIRECTORY (systemd) or ./data. */
export function defaultDbPath(env: Record<string, string | undefined>): string {
  const dir = env.STATE_DIRECTORY?.split(":")[0] || "./data";
  return `${dir}/ctibridge.db`;
}
