/**
 * The PostgreSQL schema of the call log: the same logical tables as SQLite's (store/db.ts) for
 * calls, legs, annotations, open calls, wrap-ups and the health probe, plus what a store fed by
 * a bus needs: each call's snapshot version (so an older, redelivered snapshot never overwrites a
 * newer one) and the ids of calls merged into others (so a redelivered snapshot of an absorbed
 * call does not bring it back). Columns keep SQLite's types and 0/1 flags, so one row mapper
 * (callLog.ts rowToCall) reads both. Ids and times that are compared or sorted are `COLLATE "C"`:
 * byte order, as in SQLite, whatever the database's locale.
 */
export const PG_MIGRATIONS: string[] = [
  // 1: the call log.
  `
  CREATE TABLE calls (
    call_id TEXT COLLATE "C" PRIMARY KEY,
    linked_ids TEXT NOT NULL,
    direction TEXT NOT NULL,
    state TEXT NOT NULL,
    from_raw TEXT NOT NULL, from_e164 TEXT, from_name TEXT, from_key TEXT COLLATE "C",
    to_raw TEXT NOT NULL, to_e164 TEXT, to_name TEXT,
    did TEXT, did_raw TEXT,
    queue TEXT,
    outcome TEXT,
    answered_by_user TEXT, answered_by_device TEXT, answered_by_external TEXT,
    started_at TEXT COLLATE "C" NOT NULL, ringing_at TEXT, answered_at TEXT, ended_at TEXT,
    wait_seconds DOUBLE PRECISION, talk_seconds DOUBLE PRECISION,
    hangup_cause INTEGER, hangup_text TEXT,
    end_reason TEXT,
    transfer TEXT,
    park TEXT,
    ivr TEXT,
    recording TEXT,
    restored SMALLINT NOT NULL DEFAULT 0,
    click_to_dial SMALLINT NOT NULL DEFAULT 0,
    conference TEXT,
    end_estimated SMALLINT NOT NULL DEFAULT 0,
    annotation TEXT,
    match TEXT,
    from_party TEXT,
    to_party TEXT,
    updated_at TEXT NOT NULL,
    version_at TEXT COLLATE "C" NOT NULL,
    version_seq BIGINT NOT NULL
  );
  CREATE INDEX calls_started_id ON calls(started_at, call_id);
  CREATE INDEX calls_from_key ON calls(from_key, started_at);
  CREATE TABLE legs (
    id BIGSERIAL NOT NULL,
    call_id TEXT COLLATE "C" NOT NULL REFERENCES calls(call_id) ON DELETE CASCADE,
    device TEXT NOT NULL,
    user_id TEXT COLLATE "C",
    state TEXT NOT NULL,
    outcome TEXT,
    placed SMALLINT NOT NULL DEFAULT 0,
    ringing_at TEXT, answered_at TEXT, ended_at TEXT,
    wait_seconds DOUBLE PRECISION, talk_seconds DOUBLE PRECISION,
    done SMALLINT NOT NULL DEFAULT 0,
    done_at TEXT,
    position INTEGER,
    missed_uncertain SMALLINT NOT NULL DEFAULT 0,
    transferred SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (call_id, device)
  );
  CREATE INDEX legs_user ON legs(user_id, outcome);
  CREATE TABLE call_annotations (
    id BIGSERIAL PRIMARY KEY,
    call_id TEXT COLLATE "C" NOT NULL,
    by_user TEXT NOT NULL,
    at TEXT NOT NULL,
    patch TEXT NOT NULL
  );
  CREATE INDEX call_annotations_call ON call_annotations(call_id, id);
  CREATE TABLE open_calls (
    linked_id TEXT COLLATE "C" PRIMARY KEY,
    call_id TEXT COLLATE "C" NOT NULL,
    snapshot TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX open_calls_call ON open_calls(call_id);
  CREATE TABLE merged_calls (
    call_id TEXT COLLATE "C" PRIMARY KEY,
    merged_into TEXT NOT NULL,
    at TEXT NOT NULL
  );
  CREATE TABLE wrap_ups (
    call_id TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    started_at TEXT NOT NULL,
    until TEXT,
    ended_at TEXT,
    seconds DOUBLE PRECISION,
    end_reason TEXT,
    paused TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (call_id, user_id)
  );
  CREATE INDEX wrap_ups_running ON wrap_ups(user_id) WHERE ended_at IS NULL;
  CREATE TABLE store_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
  `,
  // 2: what the stream archiver needs (it may see a fact twice, or out of order, after a crash):
  // an annotation stored once (duplicates of old writes removed, then a unique key), done marks
  // kept for calls not stored yet, and the PBX a call ran on (cluster mode; null standalone).
  `
  ALTER TABLE calls ADD COLUMN pbx_id TEXT;
  -- Missed calls marked done, kept so that a mark applied before its call's snapshot (a
  -- redelivery) still marks the legs when the snapshot comes. user_id '*': every user.
  CREATE TABLE done_marks (
    call_id TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    done_at TEXT NOT NULL,
    PRIMARY KEY (call_id, user_id)
  );
  DELETE FROM call_annotations a USING call_annotations b
    WHERE a.call_id = b.call_id AND a.by_user = b.by_user AND a.at = b.at AND a.patch = b.patch AND a.id > b.id;
  CREATE UNIQUE INDEX call_annotations_once ON call_annotations(call_id, by_user, at, md5(patch));
  `,
  // 3: the webhook outbox of a cluster (postgres/outbox.ts; the SQLite outbox's columns, so one
  // row mapper reads both). Written by the stream archiver in the transaction of the call it
  // belongs to; `event_id` is derived from the stream message (webhooks/rows.ts streamEventId),
  // unique, so a redelivered message adds no second row. `outbox_changes` moves when a command
  // (`webhooks retry`, `purge`) changed rows: the delivering gateway then reads them all again.
  `
  CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id TEXT COLLATE "C" NOT NULL UNIQUE,
    target TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    call_id TEXT COLLATE "C" NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    retry_since TEXT NOT NULL,
    -- The stream position of the cause (message sequence, place in it): a call's rows go in this
    -- order, and none before the archive consumer's ack floor passed it (postgres/outbox.ts).
    seq BIGINT NOT NULL DEFAULT 0,
    pos INTEGER NOT NULL DEFAULT 0,
    delivered_at TEXT,
    last_attempt_at TEXT,
    last_status INTEGER,
    last_error TEXT
  );
  CREATE INDEX outbox_state ON outbox(state, id);
  CREATE INDEX outbox_call ON outbox(call_id);
  CREATE TABLE outbox_changes (id INTEGER PRIMARY KEY CHECK (id = 1), n BIGINT NOT NULL);
  INSERT INTO outbox_changes (id, n) VALUES (1, 0);
  `,
];
