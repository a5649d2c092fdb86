/**
 * Configuration: one zod schema → the Config type.
 * Precedence: defaults ← YAML file ← systemd credentials (secrets, `$CREDENTIALS_DIRECTORY`)
 * ← environment (secrets) ← command-line flags.
 * Every problem is reported with its path (`ami.port: expected an integer 1..65535`)
 * before any socket opens.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { readCredentials } from "./credentials.js";
import { patternRegExp } from "./calls/movements/featureCodes.js";
import { secretEnvName, webhookSchema } from "./webhooks/config.js";
import { splitDevice } from "./directory/pbxDevices.js";

/** Asterisk's defaults: `*8` pickup, `**` + extension directed pickup (FreePBX), park at 700, spaces 701-720. */
const FEATURE_CODES = ["*8", "_**X.", "700", "_70[1-9]", "_71X", "720"];
const featureCode = z
  .string()
  .min(1)
  .max(40)
  .refine((p) => {
    try {
      patternRegExp(p);
      return true;
    } catch {
      return false;
    }
  }, "a dialplan pattern: an exact number, or _ with X Z N . ! and closed [..] sets");

const port = z
  .number({ error: "expected an integer 1..65535" })
  .int({ error: "expected an integer 1..65535" })
  .min(1, { error: "expected an integer 1..65535" })
  .max(65535, { error: "expected an integer 1..65535" });
const portOrZero = z
  .number({ error: "expected an integer 0..65535" })
  .int({ error: "expected an integer 0..65535" })
  .min(0, { error: "expected an integer 0..65535" })
  .max(65535, { error: "expected an integer 0..65535" });
const ms = (def: number) =>
  z.number({ error: "expected a number of milliseconds" }).int().min(1).default(def);
const POSTGRES_DEFAULTS = { host: "127.0.0.1", port: 5432, database: "ctibridge", user: "ctibridge", ssl: "off" as const, poolSize: 10, connectTimeoutMs: 5_000 };
const postgresSchema = z
  .object({
    /** Instead of host/port/database/user: `postgres://user@host:port/database` (no password in it). */
    url: z
      .string()
      .refine((u) => /^postgres(ql)?:\/\/[^\s]+$/.test(u), "expected postgres://user@host:port/database")
      .refine((u) => !/^postgres(ql)?:\/\/[^/@]*:[^/@]*@/.test(u), "no password in the url: set CTIBRIDGE_STORE_PASSWORD, the credential store-password or passwordFile")
      .optional(),
    /** Host name, address, or a unix socket directory (`/var/run/postgresql`). */
    host: z.string().min(1).default("127.0.0.1"),
    port: port.default(5432),
    database: z.string().min(1).default("ctibridge"),
    user: z.string().min(1).default("ctibridge"),
    /** Prefer CTIBRIDGE_STORE_PASSWORD, the systemd credential `store-password` or passwordFile; none: the server's trust/peer auth. */
    password: z.string().min(1).optional(),
    passwordFile: z.string().optional(),
    /** TLS: `off`, `require` (encrypted, certificate not checked) or `verify-full` (checked against the system CAs or caFile). */
    ssl: z.enum(["off", "require", "verify-full"], { error: "expected off, require or verify-full" }).default("off"),
    caFile: z.string().optional(),
    /** Connections this process keeps open to the server. */
    poolSize: z.number().int().min(1).max(100).default(10),
    connectTimeoutMs: ms(5_000),
  })
  .strict();

const DEVICE = /^[A-Za-z0-9]+\/[^\s/-][^\s]*$/;
const PBX_ID = /^[A-Za-z0-9_-]{1,64}$/;
const device = z.string({ error: "expected a device like PJSIP/1001" }).regex(DEVICE, { error: "expected a device like PJSIP/1001" });

/**
 * A user's device: `PJSIP/1001` (on every PBX), or in cluster mode qualified with the PBX it is
 * on, `hamburg:PJSIP/1001` (directory/pbxDevices.ts): two sites may both have a PJSIP/1001.
 */
const userDevice = z.string({ error: "expected a device like PJSIP/1001" }).superRefine((s, ctx) => {
  const q = splitDevice(s);
  if (q.pbxId !== null && !PBX_ID.test(q.pbxId)) ctx.addIssue({ code: "custom", message: `the PBX before ':' in ${s} must be a cluster.pbxId (1-64 letters, digits, _ or -)` });
  if (!DEVICE.test(q.device)) {
    ctx.addIssue({ code: "custom", message: q.pbxId === null ? "expected a device like PJSIP/1001 (or hamburg:PJSIP/1001 in cluster mode)" : `expected a device like PJSIP/1001 after ${q.pbxId}:` });
  }
});

const amiSchema = z
  .object({
    /**
     * `live`: a real Asterisk; `simulator`: the built-in PBX simulator replaying recorded
     * traces, only when asked for (`ctibridge demo` or this setting): a production daemon
     * never fakes a PBX because a setting was left out.
     */
    mode: z.enum(["live", "simulator"]).default("live"),
    host: z.string().min(1).default("127.0.0.1"),
    port: port.default(5038),
    username: z.string().min(1).default("ctibridge"),
    /** Prefer CTIBRIDGE_AMI_SECRET, the systemd credential `ami-secret` or `secretFile`; a secret in the file works too. */
    secret: z.string().optional(),
    secretFile: z.string().optional(),
    tls: z
      .object({
        enabled: z.boolean().default(false),
        caFile: z.string().optional(),
        rejectUnauthorized: z.boolean().default(true),
      })
      .strict()
      .default({ enabled: false, rejectUnauthorized: true }),
    /** Use the MD5 challenge instead of a plain secret on the wire. */
    md5Login: z.boolean().default(false),
    /** Keepalive Ping interval; a missing pong counts the socket dead. */
    pingIntervalMs: ms(20_000),
    actionTimeoutMs: ms(10_000),
    connectTimeoutMs: ms(10_000),
    reconnect: z
      .object({ minDelayMs: ms(500), maxDelayMs: ms(30_000) })
      .strict()
      .default({ minDelayMs: 500, maxDelayMs: 30_000 }),
    /** Server-side event filter (Asterisk `Filter` action); empty: every event. `FullyBooted` is always added. */
    eventFilter: z.array(z.string()).default([]),
    /**
     * The agent state listings (QueueStatus, DeviceStateList) after each login: sent once the
     * PBX says `FullyBooted` (or after `bootWaitMs` without it), and a listing that fails (a PBX
     * still loading app_queue answers "Invalid/unknown command") is retried with capped
     * exponential backoff, `attempts` times in all.
     */
    agentListing: z
      .object({ bootWaitMs: ms(30_000), attempts: z.number().int().min(1).max(100).default(8), minDelayMs: ms(500), maxDelayMs: ms(8_000) })
      .strict()
      .default({ bootWaitMs: 30_000, attempts: 8, minDelayMs: 500, maxDelayMs: 8_000 }),
    /**
     * Agent events (device state, queue member status) wait this long before their
     * `agent.state` goes out, so that one change is one frame: Asterisk 22 may send a phone's
     * `DeviceStateChange` and its `QueueMemberStatus` in separate writes (live: ~1 ms apart).
     * A call event flushes them at once (order kept). 0: at the end of each AMI read.
     */
    agentStateSettleMs: z.number().int().min(0).max(5_000).default(100),
    maxMessageBytes: z.number().int().min(1024).default(1024 * 1024),
    /** Downstream queue length past which a warning is logged and counted. */
    maxQueuedEvents: z.number().int().min(1).default(50_000),
    simulator: z
      .object({
        /** Folder of recorded `.ami` traces; default: the ones shipped with ctibridge. */
        tracesDir: z.string().optional(),
        /** Replay speed factor (1 = real time as recorded). */
        speed: z.number().positive().default(1),
        loop: z.boolean().default(true),
        /** Pause between scenarios. */
        gapMs: z.number().int().min(0).default(2000),
      })
      .strict()
      .default({ speed: 1, loop: true, gapMs: 2000 }),
  })
  .strict();

const perSecond = (def: number) => z.number({ error: "expected a positive number" }).positive().default(def);
const count = (def: number) => z.number({ error: "expected a positive integer" }).int().min(1).default(def);

/**
 * Per-connection and per-socket limits of the HTTP/WebSocket server. Each client frame takes
 * tokens from its connection's bucket (`frameBurst` tokens, refilled at `framesPerSecond`); a
 * frame that finds too few is dropped unread and answered once with `error` `rate_limited`;
 * `closeAfterRefused` refusals (the count drains at `framesPerSecond`) close the connection 4029.
 */
export const serverLimitsSchema = z
  .object({
    /** Sustained client frames per second per connection (a panel sends a few per minute). */
    framesPerSecond: perSecond(20),
    /** Frames a connection may send at once before the sustained rate applies. */
    frameBurst: count(100),
    /** Tokens a resync costs (resume, subscribe: each may answer a whole snapshot); other frames cost 1. */
    resyncCost: count(10),
    /** Refused frames (draining at framesPerSecond) after which the connection is closed 4029. */
    closeAfterRefused: count(200),
    /** An HTTP request or WebSocket upgrade must be complete (and authenticated) within this. */
    handshakeTimeoutMs: ms(5_000),
    /** Sockets not (yet) WebSocket sessions; at the cap the oldest idle one is closed to make room. */
    maxUnauthenticated: count(256),
    /** WebSocket sessions in all; past it an upgrade is refused 503. */
    maxClients: count(5_000),
    /** WebSocket sessions of one user (tabs, devices); past it an upgrade is refused 429. */
    maxClientsPerUser: count(20),
  })
  .strict();

/** Commands that reach the PBX, per user and minute (a token bucket each: the whole budget at once, refilled evenly). */
export const controlLimitsSchema = z
  .object({
    /** `dial` (one Originate each). */
    originatePerMinute: count(30),
    /** `queue.pause`/`unpause`/`login`/`logout`. */
    queueActionsPerMinute: count(60),
    /** `hangup`, `transfer`, `hold`/`unhold`. */
    callActionsPerMinute: count(120),
  })
  .strict();

const userSchema = z
  .object({
    id: z.string().min(1),
    name: z.string().min(1),
    /** `PJSIP/1001`; in cluster mode `hamburg:PJSIP/1001` is that device on the PBX hamburg only. */
    devices: z.array(userDevice).default([]),
    role: z.enum(["agent", "supervisor"]).default("agent"),
    /** When this user's front end should open the pop; default: pop.timing. */
    popTiming: z.enum(["ringing", "answered"]).optional(),
  })
  .strict();

/**
 * The agent desktop (issue 11): after-call work (wrap-up) and the supervisor's queue figures.
 */
export const wrapUpSchema = z
  .object({
    /**
     * How long an agent stays in `wrap_up` after an answered call ends:
     * `queue`: the queue's wrap-up time (the member's `Wrapuptime` when the PBX reports one
     *   above 0, else `queues[name]`, your copy of queues.conf `wrapuptime`, which AMI does not
     *   report; else `seconds`);
     * `seconds`: always `seconds`;
     * `until-ready`: until the agent sends `agent.ready` or sets a disposition (at most `maxSeconds`).
     * A length of 0 means no wrap-up.
     */
    mode: z.enum(["queue", "until-ready", "seconds"]).default("queue"),
    /** Wrap-up length where no queue time applies (mode `seconds`, and the fallback of mode `queue`). */
    seconds: z.number().int().min(0).max(86_400).default(0),
    /** Per queue (queues.conf `wrapuptime`, which AMI does not report): queue name → seconds. */
    queues: z.record(z.string().regex(/^[A-Za-z0-9_.@-]+$/), z.number().int().min(0).max(86_400)).default({}),
    /** Which answered calls start a wrap-up: `queue` (calls through a queue) or `all`. */
    calls: z.enum(["queue", "all"]).default("queue"),
    /**
     * Pause the agent's queue members with reason `wrap-up` while it lasts (QueuePause), and
     * unpause at its end only those ctibridge paused and that are still paused for `wrap-up`.
     */
    pauseInQueue: z.boolean().default(false),
    /** A disposition set by the agent on the call (`call.annotate`) ends the wrap-up. */
    endOnDisposition: z.boolean().default(true),
    /** The longest any wrap-up lasts (mode `until-ready` included). */
    maxSeconds: z.number().int().min(1).max(86_400).default(3_600),
  })
  .strict();

export const agentsSchema = z
  .object({
    wrapUp: wrapUpSchema.default(() => wrapUpSchema.parse({})),
    /** IANA time zone whose midnight starts "today" for the queue figures (answered/abandoned today). */
    timezone: z
      .string()
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat("en", { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, "expected an IANA time zone such as Europe/Berlin or UTC")
      .default("UTC"),
    /** Supervisors get at most one `queue.state` per queue per this many ms (changes in between are coalesced). */
    queueStateIntervalMs: ms(1_000),
  })
  .strict();

/** Cluster mode (issue 13): which role this process plays and the NATS JetStream it talks to. */
export const clusterSchema = z
  .object({
    /** pbx: a PBX worker (AMI link, call engine, publishes to the stream); gateway: WebSocket/REST for every PBX. */
    role: z.enum(["pbx", "gateway"]).optional(),
    /** The PBX this worker serves (role pbx): one subject token, the same on its standby workers. */
    pbxId: z.string().regex(PBX_ID, "expected 1-64 letters, digits, _ or -").optional(),
    /** This process in the lease (default host:pid); unique per worker. */
    workerId: z.string().min(1).max(200).optional(),
    nats: z
      .object({
        /** NATS URLs, e.g. [nats://10.0.0.1:4222, nats://10.0.0.2:4222]. */
        servers: z.array(z.string().regex(/^(nats|tls):\/\/[^\s/]+$/, "expected nats://host:port or tls://host:port")).default([]),
        user: z.string().min(1).optional(),
        /** With user (or CTIBRIDGE_NATS_PASSWORD). */
        password: z.string().min(1).optional(),
        /** Or a token (CTIBRIDGE_NATS_TOKEN). */
        token: z.string().min(1).optional(),
        /** Or a .creds file (JWT + nkey seed). */
        credentialsFile: z.string().min(1).optional(),
        /** Replicas of the stream and KV buckets: 1 (one NATS node) or 3/5 (a JetStream cluster). */
        replicas: z.union([z.literal(1), z.literal(3), z.literal(5)]).default(1),
        /** How long the stream keeps events (resume across gateways, a new gateway's warm-up). */
        streamMaxAgeHours: z.number().positive().default(24),
        /** A publish repeated within this window (same message id) is stored once. */
        duplicateWindowMs: ms(120_000),
      })
      .strict()
      .default(() => ({ servers: [], replicas: 1 as const, streamMaxAgeHours: 24, duplicateWindowMs: 120_000 })),
    /** Lease time of the active PBX worker: a standby takes over this long after the active one died. */
    leaseTtlMs: ms(2_000),
    /** A gateway's wait for the PBX worker's answer to a command. */
    commandTimeoutMs: ms(10_000),
    /** At start a gateway reads the stream from this far back (its live view and resume window). */
    gatewayReplayMinutes: z.number().min(0).default(60),
    /**
     * The call log writer (gateways with store.kind postgres): a durable consumer of the stream;
     * one gateway at a time archives (a lease), the others stand by.
     */
    archive: z
      .object({
        /** This gateway may archive (false: it only reads the call log). */
        enabled: z.boolean().default(true),
        /** Stream messages stored per batch (then each acknowledged). */
        batchSize: z.number().int().min(1).max(10_000).default(256),
        /** The server delivers a message again when its batch is not acknowledged in this time. */
        ackWaitMs: ms(30_000),
        /** Calls written at once (PostgreSQL connections; at most store.postgres.poolSize). */
        concurrency: z.number().int().min(1).max(64).default(4),
      })
      .strict()
      .default(() => ({ enabled: true, batchSize: 256, ackWaitMs: 30_000, concurrency: 4 })),
  })
  .strict();

export const configSchema = z
  .object({
    ami: amiSchema.default(() => amiSchema.parse({})),
    users: z.array(userSchema).default([]),
    /** Carrier endpoints: calls from them are inbound, calls to them outbound. */
    trunks: z.array(device).default([]),
    numbers: z
      .object({
        /** ISO 3166 country for numbers without a country code. */
        defaultCountry: z.string().length(2).default("DE"),
        /** Digits compared when no E.164 match exists. */
        lastDigits: z.number().int().min(4).max(15).default(8),
        /** Numbers up to this length are internal extensions, never normalised. */
        maxExtensionLength: z.number().int().min(2).max(8).default(6),
      })
      .strict()
      .default({ defaultCountry: "DE", lastDigits: 8, maxExtensionLength: 6 }),
    calls: z
      .object({
        /**
         * Whose unanswered leg counts as missed (never a leg when a colleague answered:
         * that one is always `answered_elsewhere`):
         * `all-rung`: every rung member of a direct call, ring group or queue that nobody answered;
         * `direct-only`: only a call that rang that user alone (group/queue legs are `unanswered`
         *   for the user, the call itself still shows in the group's missed list);
         * `none`: nobody's leg is marked missed (the call outcome still says abandoned/unanswered).
         */
        missedPolicy: z.enum(["all-rung", "direct-only", "none"]).default("all-rung"),
        /** Channel variables carried with the call as IVR context. */
        ivrVariables: z.array(z.string().regex(/^[A-Za-z0-9_]+$/)).default(["CRM_ACCOUNT", "TICKET", "IVR_CHOICE", "DID"]),
        /** How long an ended call is kept in memory for late events. */
        keepEndedMs: ms(60_000),
        /**
         * An answered call-back closes the caller's missed legs of calls from that number
         * started at most this many days before it (bounds the store's work per call).
         */
        callbackWindowDays: z.number().int().min(1).max(3650).default(7),
        /**
         * How often the daemon lists the PBX's channels (CoreShowChannels) and closes, with
         * `endReason: unknown_end`, calls the PBX no longer has (their Hangup never arrived).
         */
        reconcileIntervalMs: ms(60_000),
        /**
         * Last resort: a call open longer than this is closed with `unknown_end` even when no
         * listing can be had or the PBX still lists it (a channel up this long is stuck there too).
         */
        maxCallAgeMs: ms(24 * 3_600_000),
        /**
         * Stored calls (with their legs and annotations) older than this many days are deleted,
         * a small batch at a time off the hot path; 0: keep them forever. Applied on SIGHUP.
         */
        retentionDays: z.number({ error: "expected a whole number of days (0: keep forever)" }).int().min(0).max(36500).default(365),
        /**
         * Feature codes a phone dials to act on another call, as dialplan patterns (exact, or
         * `_` with X/Z/N/[..]/./!): pickup (`*8`, `**` + extension), the park extension and the
         * parking spaces (a blind transfer to one is recorded as `park`, not `transfer`). Such
         * a dial is no call of its own (no `call.dialing`, not stored); a pickup or park
         * retrieval makes the picker part of the call they took. Match your features.conf and
         * res_parking.conf; [] shows every dial as a call.
         */
        featureCodes: z.array(featureCode).max(100).default(FEATURE_CODES),
      })
      .strict()
      .default({
        missedPolicy: "all-rung",
        ivrVariables: ["CRM_ACCOUNT", "TICKET", "IVR_CHOICE", "DID"],
        keepEndedMs: 60_000,
        callbackWindowDays: 7,
        reconcileIntervalMs: 60_000,
        maxCallAgeMs: 24 * 3_600_000,
        retentionDays: 365,
        featureCodes: FEATURE_CODES,
      }),
    store: z
      .object({
        /**
         * The call log of record: `sqlite` (the file below, one process) or `postgres` (the
         * server below: REST history, `ctibridge calls` and retention read it; the daemon archives
         * every call to it; SQLite keeps the directory, keys, journal and outbox).
         */
        kind: z.enum(["sqlite", "postgres"], { error: "expected sqlite or postgres" }).default("sqlite"),
        /** SQLite file; `:memory:` for a throw-away database. Default: $STATE_DIRECTORY or ./data. */
        path: z.string().optional(),
        /** The PostgreSQL server (store.kind: postgres). */
        postgres: postgresSchema.default(POSTGRES_DEFAULTS),
        /**
         * Call snapshots waiting while writes fail. Past the bound, snapshots of calls still in
         * progress that are not already waiting are dropped (counted; the call's next change or
         * its end writes it); an ended call's final record is always kept, so nothing ended is lost.
         */
        maxBacklogCalls: z.number().int().min(1).default(10_000),
        /** Delivered webhook events are deleted from the outbox this many days after delivery; 0: keep them. */
        webhookRetentionDays: z.number({ error: "expected a whole number of days (0: keep)" }).int().min(0).max(3650).default(7),
      })
      .strict()
      .default({ kind: "sqlite", postgres: POSTGRES_DEFAULTS, maxBacklogCalls: 10_000, webhookRetentionDays: 7 }),
    server: z
      .object({
        host: z.string().default("127.0.0.1"),
        port: portOrZero.default(8088),
        wsPath: z.string().startsWith("/").default("/ws"),
        tls: z
          .object({ certFile: z.string(), keyFile: z.string() })
          .strict()
          .optional(),
        /**
         * Allowed `Origin` values for browsers; empty: any origin (non-browser clients send none).
         * Also the only sites that may frame the panel (CSP `frame-ancestors`; empty: none but itself).
         */
        allowedOrigins: z
          .array(z.string().regex(/^https?:\/\/(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/, "expected an origin such as https://crm.example.com (scheme and host, optional port, no path)"))
          .default([]),
        allowQueryToken: z.boolean().default(false),
        /** Bearer token required on /metrics and /healthz (prefer CTIBRIDGE_METRICS_TOKEN or the systemd credential `metrics-token`); unset: both open. /livez stays open. */
        metricsToken: z.string().regex(/^[\x21-\x7e]{16,}$/, "expected at least 16 visible ASCII characters, no spaces").optional(),
        /** Each client is pinged once per interval, in turns of 100 ms spread over it (publish/liveness.ts). */
        heartbeatMs: ms(30_000),
        /** Per-client send buffer before the client counts as slow. */
        maxBufferedBytes: z.number().int().min(1024).default(4 * 1024 * 1024),
        /** Events kept for `resume`. */
        journalSize: z.number().int().min(0).default(10_000),
        /** Debounce of ringing/stopped pairs per (call, user). */
        ringDebounceMs: z.number().int().min(0).default(0),
        /** What one client may cost the daemon (issue 7); the defaults never bother a normal agent or CRM. */
        limits: serverLimitsSchema.default(() => serverLimitsSchema.parse({})),
      })
      .strict()
      .default(() => ({
        host: "127.0.0.1",
        port: 8088,
        wsPath: "/ws",
        allowedOrigins: [],
        allowQueryToken: false,
        heartbeatMs: 30_000,
        maxBufferedBytes: 4 * 1024 * 1024,
        journalSize: 10_000,
        ringDebounceMs: 0,
        limits: serverLimitsSchema.parse({}),
      })),
    auth: z
      .object({
        /** HS256 shared secret (prefer CTIBRIDGE_JWT_SECRET or the systemd credential `jwt-secret`). */
        jwtSecret: z.string().optional(),
        /** PEM public key for RS256/ES256 tokens. */
        jwtPublicKeyFile: z.string().optional(),
        jwtIssuer: z.string().optional(),
        jwtAudience: z.string().optional(),
        /**
         * Refuse JWTs without `iat`. With `iat`, a JWT issued before the user's record was
         * created (the user was removed and added again) is always refused.
         */
        jwtRequireIat: z.boolean().default(false),
      })
      .strict()
      .default({ jwtRequireIat: false }),
    contacts: z
      .object({
        /** CRM lookup URL template with {e164} / {raw}; empty: local directory only. */
        lookupUrl: z.string().optional(),
        lookupTimeoutMs: ms(1500),
        cacheSeconds: z.number().int().min(0).default(60),
      })
      .strict()
      .default({ lookupTimeoutMs: 1500, cacheSeconds: 60 }),
    pop: z
      .object({
        /** e.g. https://crm.example/contacts?phone={e164}&ticket={ivr.TICKET} */
        urlTemplate: z.string().optional(),
        timing: z.enum(["ringing", "answered"]).default("ringing"),
      })
      .strict()
      .default({ timing: "ringing" }),
    control: z
      .object({
        enabled: z.boolean().default(true),
        /** Dialplan context click-to-dial sends the number to. */
        dialContext: z.string().regex(/^[A-Za-z0-9_-]+$/).default("from-internal"),
        /** Context for blind transfers by Redirect. */
        transferContext: z.string().regex(/^[A-Za-z0-9_-]+$/).default("from-internal"),
        maxDigits: z.number().int().min(3).max(32).default(20),
        /** Supervisors may hang up, transfer … any call (agents only their own). */
        supervisorsMayControl: z.boolean().default(true),
        /**
         * Hold by phone-side NOTIFY (PJSIPNotify with a pjsip_notify.conf section), for phones
         * that honour it; absent: hold/unhold answer not_supported (no AMI action holds a PJSIP call).
         */
        holdNotify: z
          .object({ holdOption: z.string().regex(/^[A-Za-z0-9_-]+$/), unholdOption: z.string().regex(/^[A-Za-z0-9_-]+$/) })
          .strict()
          .optional(),
        /** Commands that reach the PBX, per user and minute; past a budget: command.result `rate_limited`. */
        limits: controlLimitsSchema.default(() => controlLimitsSchema.parse({})),
      })
      .strict()
      .default(() => ({
        enabled: true,
        dialContext: "from-internal",
        transferContext: "from-internal",
        maxDigits: 20,
        supervisorsMayControl: true,
        limits: controlLimitsSchema.parse({}),
      })),
    /** The Salesforce Open CTI softphone page (adapters/salesforce-open-cti/), served at /adapters/salesforce/. */
    salesforce: z
      .object({
        /** Serve the page; false (default): its path answers 404. */
        enabled: z.boolean().default(false),
        /**
         * The org's https origins (e.g. https://acme.lightning.force.com): the only sites that may
         * frame the page (CSP frame-ancestors) and serve `opencti_min.js` to it (script-src).
         */
        orgOrigins: z.array(z.string().regex(/^https:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$/, "expected an https origin such as https://acme.lightning.force.com")).default([]),
        /** Open CTI API version in the script's path (/support/api/<version>/lightning/opencti_min.js). */
        apiVersion: z.string().regex(/^\d{2,3}\.0$/).default("62.0"),
        /** Where the page gets its short-lived JWT: GET with the browser's cookies, answering { "token": "…" } (its origin joins connect-src) … */
        tokenUrl: z.string().regex(/^https?:\/\/[A-Za-z0-9.:[\]-]+(?:\/[^\s;,'"]*)?$/, "expected an http(s) URL without spaces, quotes, ; or ,").optional(),
        /** … or an Apex web service method `Class.method` the page calls with sforce.opencti.runApex (the token is signed in the org). */
        tokenApex: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*\.[A-Za-z][A-Za-z0-9_]*$/).optional(),
        /** IVR variables (calls.ivrVariables) searched together with the caller's number on a pop. */
        searchIvrVariables: z.array(z.string().regex(/^[A-Za-z0-9_]+$/)).default(["CRM_ACCOUNT", "TICKET"]),
        /** Task field that receives the ctibridge callId (the standard Call Object Identifier, or a custom text field). */
        callIdField: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/).default("CallObject"),
      })
      .strict()
      .default(() => ({ enabled: false, orgOrigins: [], apiVersion: "62.0", searchIvrVariables: ["CRM_ACCOUNT", "TICKET"], callIdField: "CallObject" })),
    agents: agentsSchema.default(() => agentsSchema.parse({})),
    /** Call events POSTed to CRM back ends through the durable outbox (docs/webhooks.md). */
    webhooks: z.array(webhookSchema).default([]),
    /** standalone: one process does everything (the default); cluster: the role in `cluster` (docs/operations.md). */
    mode: z.enum(["standalone", "cluster"]).default("standalone"),
    cluster: clusterSchema.default(() => clusterSchema.parse({})),
    log: z
      .object({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info") })
      .strict()
      .default({ level: "info" }),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type AmiConfig = Config["ami"];
export type UserConfig = Config["users"][number];

export class ConfigError extends Error {
  readonly code = "CONFIG_INVALID";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/**
 * `start` with nothing that says where the PBX is (no config file, or one without an `ami`
 * section): a usage error (exit 2), never a silent simulator or a guess at a host.
 */
export class NoPbxConfigError extends Error {
  readonly code = "CONFIG_NO_PBX";
  constructor(message: string) {
    super(message);
    this.name = "NoPbxConfigError";
  }
}

export interface LoadOptions {
  /** YAML file; absent: defaults only. */
  file?: string;
  /**
   * The command talks to the PBX (start, capture, check-config, reload): a live-mode AMI secret
   * is required and an unreadable `ami.secretFile` is a problem. Admin commands (users, tokens,
   * contacts, calls, backup …) leave it false and need no secret: the service user runs them
   * without it (only the service gets it, as a systemd credential). Default false.
   */
  requirePbx?: boolean;
  /** With requirePbx: the file must exist and name the PBX (`ami` section), else NoPbxConfigError. */
  requireFile?: boolean;
  env?: Record<string, string | undefined>;
  /** Flat overrides from the command line, applied last (`ami.port` → 5039). */
  overrides?: Record<string, unknown>;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let obj = target;
  for (const p of parts.slice(0, -1)) {
    const next = obj[p];
    if (typeof next !== "object" || next === null || Array.isArray(next)) obj[p] = {};
    obj = obj[p] as Record<string, unknown>;
  }
  obj[parts[parts.length - 1]!] = value;
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join(".") || "(root)";
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => `${path === "(root)" ? "" : path + "."}${k}: unknown setting`).join("\n  ");
  }
  return `${path}: ${issue.message}`;
}

/** Read, merge and validate. Throws ConfigError listing every problem. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? {};
  const problems: string[] = [];
  let raw: Record<string, unknown> = {};
  if (opts.requireFile && !opts.file) {
    throw new NoPbxConfigError("no config file: pass --config FILE (see config/ctibridge.example.yaml), or run `ctibridge demo`");
  }
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, "utf8");
    } catch (err) {
      throw new ConfigError([`${opts.file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
    }
    try {
      const parsed: unknown = parseYaml(text);
      if (parsed === null || parsed === undefined) raw = {};
      else if (typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new ConfigError([`${opts.file}: expected a YAML mapping at the top level`]);
      } else raw = parsed as Record<string, unknown>;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError([`${opts.file}: not valid YAML (${(err as Error).message.split("\n")[0]})`]);
    }
  }
  // A section whose settings are all commented out is YAML null: it means "the defaults".
  for (const [k, v] of Object.entries(raw)) if (v === null) delete raw[k];
  // A gateway talks to no PBX: it needs no ami section and no AMI secret.
  const cluster = raw.cluster as { role?: unknown } | undefined;
  const gateway = raw.mode === "cluster" && typeof cluster === "object" && cluster !== null && cluster.role === "gateway";
  if (opts.requireFile && opts.file && raw.ami === undefined && !gateway) {
    throw new NoPbxConfigError(
      `${opts.file} has no ami section: name the PBX (ami.host, ami.username, ami.secretFile or CTIBRIDGE_AMI_SECRET; ` +
        "see config/ctibridge.example.yaml), or set ami.mode: simulator for the built-in simulator, or run `ctibridge demo`",
    );
  }
  const credentials = readCredentials(env);
  problems.push(...credentials.problems);
  for (const [k, v] of Object.entries(credentials.values)) setPath(raw, k, v);
  if (env.CTIBRIDGE_AMI_SECRET) setPath(raw, "ami.secret", env.CTIBRIDGE_AMI_SECRET);
  if (env.CTIBRIDGE_JWT_SECRET) setPath(raw, "auth.jwtSecret", env.CTIBRIDGE_JWT_SECRET);
  if (env.CTIBRIDGE_METRICS_TOKEN) setPath(raw, "server.metricsToken", env.CTIBRIDGE_METRICS_TOKEN);
  if (env.CTIBRIDGE_STORE_PASSWORD) setPath(raw, "store.postgres.password", env.CTIBRIDGE_STORE_PASSWORD);
  for (const [k, v] of Object.entries(opts.overrides ?? {})) if (v !== undefined) setPath(raw, k, v);

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(formatIssue(issue));
    throw new ConfigError(problems);
  }
  const config = result.data;
  if (config.ami.secretFile && config.ami.secret === undefined) {
    try {
      config.ami.secret = readFileSync(config.ami.secretFile, "utf8").trim();
    } catch (err) {
      if (opts.requirePbx) problems.push(`ami.secretFile: cannot read ${config.ami.secretFile} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  }
  if (opts.requirePbx && !gateway && config.ami.mode === "live" && !config.ami.secret && !config.ami.secretFile) {
    problems.push("ami.secret: required in live mode (set CTIBRIDGE_AMI_SECRET, the systemd credential ami-secret, ami.secretFile or ami.secret)");
  }
  const pgc = config.store.postgres;
  if (pgc.passwordFile && pgc.password === undefined) {
    try {
      pgc.password = readFileSync(pgc.passwordFile, "utf8").trim();
    } catch (err) {
      if (config.store.kind === "postgres") problems.push(`store.postgres.passwordFile: cannot read ${pgc.passwordFile} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  }
  if (config.store.kind === "postgres" && pgc.caFile && pgc.ssl !== "verify-full") problems.push("store.postgres.caFile: only used with ssl: verify-full");
  problems.push(...deviceProblems(config));
  const ids = new Set<string>();
  config.users.forEach((u, i) => {
    if (ids.has(u.id)) problems.push(`users.${i}.id: duplicate user id ${u.id}`);
    ids.add(u.id);
  });
  problems.push(...webhookSecrets(config, env, opts.requirePbx === true));
  problems.push(...clusterProblems(config, env));
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * A device belongs to one user: `PJSIP/1001` (every PBX) collides with any `x:PJSIP/1001` of
 * another user, `hamburg:PJSIP/1001` only with the same PBX's. Standalone has one PBX: a
 * qualified device is refused there (it would map to nobody or to the wrong user silently).
 */
function deviceProblems(config: Config): string[] {
  const p: string[] = [];
  const seen = new Map<string, { pbxId: string | null; user: string; raw: string }[]>();
  config.users.forEach((u, i) => {
    for (const d of u.devices) {
      const q = splitDevice(d);
      if (q.pbxId !== null && config.mode === "standalone") {
        p.push(`users.${i}.devices: ${d} names a PBX, but mode is standalone (write ${q.device}, or set mode: cluster)`);
      }
      const list = seen.get(q.device) ?? [];
      const other = list.find((o) => o.user !== u.id && (o.pbxId === null || q.pbxId === null || o.pbxId === q.pbxId));
      if (other) p.push(`users.${i}.devices: ${d} already belongs to user ${other.user}${other.raw === d ? "" : ` (as ${other.raw})`}`);
      list.push({ pbxId: q.pbxId, user: u.id, raw: d });
      seen.set(q.device, list);
    }
  });
  return p;
}

/**
 * Each webhook's signing secret: CTIBRIDGE_WEBHOOK_SECRET_<NAME>, else the systemd credential
 * `webhook-<name>`, else `secret` in the file, else `secretFile`. Names must be unique. A
 * missing or unreadable secret is a problem only for the commands that run the daemon.
 */
function webhookSecrets(config: Config, env: Record<string, string | undefined>, required: boolean): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  config.webhooks.forEach((w, i) => {
    if (names.has(w.name)) problems.push(`webhooks.${i}.name: duplicate webhook name ${w.name}`);
    names.add(w.name);
    const fromEnv = env[secretEnvName(w.name)];
    let fromCredential: string | undefined;
    if (env.CREDENTIALS_DIRECTORY) {
      try {
        fromCredential = readFileSync(`${env.CREDENTIALS_DIRECTORY}/webhook-${w.name}`, "utf8").trim() || undefined;
      } catch {
        // No such credential: the secret comes from elsewhere.
      }
    }
    if (fromEnv || fromCredential) w.secret = fromEnv || fromCredential;
    else if (w.secret === undefined && w.secretFile) {
      try {
        w.secret = readFileSync(w.secretFile, "utf8").trim();
      } catch (err) {
        if (required) problems.push(`webhooks.${i}.secretFile: cannot read ${w.secretFile} (${(err as NodeJS.ErrnoException).code ?? err})`);
        return;
      }
    }
    if (required && (w.secret === undefined || w.secret.length < 16)) {
      problems.push(`webhooks.${i}.secret: required, at least 16 characters (set ${secretEnvName(w.name)}, the credential webhook-${w.name}, secretFile or secret)`);
    }
  });
  return problems;
}

/**
 * A cluster half-configured is refused setting by setting: a role needs `mode: cluster`, NATS
 * servers, and (pbx) its pbxId; a gateway numbers frames by the stream, so no ring debounce.
 */
function clusterProblems(config: Config, env: Record<string, string | undefined>): string[] {
  const c = config.cluster;
  const nats = c.nats;
  if (env.CTIBRIDGE_NATS_PASSWORD) nats.password = env.CTIBRIDGE_NATS_PASSWORD;
  if (env.CTIBRIDGE_NATS_TOKEN) nats.token = env.CTIBRIDGE_NATS_TOKEN;
  const p: string[] = [];
  if (config.mode === "standalone") {
    if (c.role !== undefined) p.push(`cluster.role: set to ${c.role}, but mode is standalone (set mode: cluster)`);
    if (c.pbxId !== undefined) p.push("cluster.pbxId: set, but mode is standalone (set mode: cluster)");
    if (nats.servers.length > 0) p.push("cluster.nats.servers: set, but mode is standalone (set mode: cluster)");
    return p;
  }
  if (c.role === undefined) p.push("cluster.role: required in cluster mode (pbx or gateway)");
  if (nats.servers.length === 0) p.push("cluster.nats.servers: required in cluster mode (e.g. [nats://127.0.0.1:4222])");
  if (c.role === "pbx" && c.pbxId === undefined) p.push("cluster.pbxId: required for role pbx (the PBX this worker serves)");
  if (c.role === "gateway" && c.pbxId !== undefined) p.push("cluster.pbxId: only for role pbx (a gateway serves every PBX)");
  if (c.role === "pbx" && config.store.kind === "postgres") p.push("store.kind: postgres is for gateways in cluster mode (they write the call log from the stream); a pbx worker keeps a scratch SQLite (remove store.kind)");
  if (c.role === "gateway" && config.store.kind === "postgres" && c.archive.concurrency > config.store.postgres.poolSize)
    p.push(`cluster.archive.concurrency: ${c.archive.concurrency} is more than store.postgres.poolSize ${config.store.postgres.poolSize}`);
  // Webhooks are a gateway's: a worker's outbox is a scratch SQLite, lost with the worker.
  if (c.role === "pbx" && config.webhooks.length > 0)
    p.push("webhooks: not on a pbx worker in cluster mode (its outbox is a scratch SQLite, lost when it dies); configure them on the gateways, with store.kind: postgres");
  if (c.role === "gateway" && config.webhooks.length > 0 && config.store.kind !== "postgres")
    p.push("webhooks: need store.kind: postgres on a gateway (the outbox is a table of the call log, written with each call by the archiver)");
  if (c.role === "gateway" && config.webhooks.length > 0 && config.store.kind === "postgres" && !c.archive.enabled)
    p.push("webhooks: this gateway never archives (cluster.archive.enabled: false), so it never writes or delivers them; configure them on the archiving gateways");
  if (c.role === "gateway" && config.server.ringDebounceMs > 0) p.push("server.ringDebounceMs: must be 0 on a gateway (frames are numbered by the stream)");
  if (nats.user !== undefined && nats.password === undefined) p.push("cluster.nats.password: required with cluster.nats.user (or CTIBRIDGE_NATS_PASSWORD)");
  if (nats.password !== undefined && nats.user === undefined) p.push("cluster.nats.user: required with cluster.nats.password");
  const ways = [nats.user !== undefined, nats.token !== undefined, nats.credentialsFile !== undefined].filter(Boolean).length;
  if (ways > 1) p.push("cluster.nats: one of user/password, token or credentialsFile");
  if (nats.credentialsFile !== undefined) {
    try {
      readFileSync(nats.credentialsFile);
    } catch (err) {
      p.push(`cluster.nats.credentialsFile: cannot read ${nats.credentialsFile} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  }
  return p;
}

/** What check-config says a process of this config connects to. */
export function describeRole(config: Config): string {
  if (config.mode === "standalone") {
    const pbx = config.ami.mode === "simulator" ? "the built-in PBX simulator" : `AMI ${config.ami.host}:${config.ami.port}`;
    const store = config.store.kind === "postgres" ? "SQLite, call log archived to PostgreSQL" : "SQLite";
    return `role: standalone (${pbx}, ${store}, WebSocket/REST on ${config.server.host}:${config.server.port})`;
  }
  const nats = `NATS ${config.cluster.nats.servers.join(", ")} (replicas ${config.cluster.nats.replicas})`;
  if (config.cluster.role === "pbx") {
    return `role: pbx worker for ${config.cluster.pbxId} (AMI ${config.ami.host}:${config.ami.port}, ${nats}, lease ${config.cluster.leaseTtlMs} ms)`;
  }
  const archive = config.store.kind !== "postgres" ? "no call log (store.kind sqlite)" : config.cluster.archive.enabled ? "archives the stream into the call log when it holds the archive lease" : "reads the call log, never archives";
  return `role: gateway (${nats}, WebSocket/REST on ${config.server.host}:${config.server.port}, ${archive})`;
}

/** The config as printed by check-config: secrets replaced. */
export function redactConfig(config: Config): unknown {
  const copy = structuredClone(config) as Config;
  if (copy.ami.secret !== undefined) copy.ami.secret = "[redacted]";
  if (copy.store.postgres.password !== undefined) copy.store.postgres.password = "[redacted]";
  if (copy.auth.jwtSecret !== undefined) copy.auth.jwtSecret = "[redacted]";
  if (copy.server.metricsToken !== undefined) copy.server.metricsToken = "[redacted]";
  for (const w of copy.webhooks) if (w.secret !== undefined) w.secret = "[redacted]";
  if (copy.cluster.nats.password !== undefined) copy.cluster.nats.password = "[redacted]";
  if (copy.cluster.nats.token !== undefined) copy.cluster.nats.token = "[redacted]";
  return copy;
}

/** Paths pino must never print. */
export const REDACT_PATHS = ["secret", "*.secret", "*.Secret", "password", "*.password", "*.nats.password", "*.nats.token", "token", "*.token", "authorization", "*.authorization", "jwtSecret", "*.jwtSecret", "*.metricsToken"];
