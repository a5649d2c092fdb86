/**
 * The wire protocol, defined once: every frame server → client and client → server, and the
 * call object (WebSocket, REST `GET /api/calls`), as zod schemas. The server's outgoing types
 * (protocol.ts) are inferred from them, so the compiler checks the server against the schema;
 * the server does not validate what it sends (tests and clients do), it validates only incoming
 * frames (incoming.ts). `npm run schema` writes docs/protocol.schema.json from this file, and
 * docs/protocol.md lists every enum below (a test compares them).
 *
 * Objects are strict: a field the schema does not name fails validation, so nothing reaches the
 * wire undocumented. Clients must still ignore unknown fields (the compatibility policy in
 * docs/protocol.md): the published JSON Schema therefore allows additional properties.
 */
import { z } from "zod";
import type * as M from "../calls/model.js";
import { DEVICE_STATES } from "../calls/pbxEvents.js";
import { ACTION_NAMES, type ActionName, type ArgSchemas } from "../control/args.js";
import { COMMAND_ERRORS, type CommandErrorCode } from "../control/errors.js";

export const PROTOCOL_VERSION = 1;
/** The subprotocols this server speaks, oldest first; the highest one offered is selected. */
export const SUBPROTOCOLS = ["ctibridge.v1"] as const;
/** The subprotocol a browser asks for today. */
export const SUBPROTOCOL = SUBPROTOCOLS[SUBPROTOCOLS.length - 1]!;

// ---- enums -----------------------------------------------------------------------------------

export const direction = z.enum(["inbound", "outbound", "internal"]);
export const callState = z.enum(["dialing", "ringing", "connected", "on_hold", "ended"]);
export const callOutcome = z.enum(["answered", "abandoned", "unanswered", "busy", "failed", "voicemail"]);
export const legState = z.enum(["dialing", "ringing", "connected", "on_hold", "ended"]);
export const legOutcome = z.enum(["placed", "answered_by_me", "picked_up", "answered_elsewhere", "missed", "declined", "unanswered"]);
export const endReason = z.enum(["hangup", "unknown_end", "merged"]);
export const ringStopReason = z.enum(["answered", "answered_elsewhere", "caller_hangup", "timeout", "declined", "picked_up_elsewhere", "ended"]);
export const deviceState = z.enum(DEVICE_STATES);
export const matchStatus = z.enum(["none", "single", "multiple", "pending"]);
export const role = z.enum(["agent", "supervisor"]);
/** What an agent is doing, in one word (calls/model.ts AgentActivity, by precedence). */
export const agentActivity = z.enum(["offline", "idle", "ringing", "talking", "on_hold", "wrap_up", "paused"]);
export const doneReason = z.enum(["marked", "called_back"]);

/** Every `error` code (and REST error), with the HTTP status REST answers it with. */
export const ERROR_CODES = {
  bad_message: 400,
  unknown_type: 400,
  invalid_argument: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  invalid_state: 409,
  rate_limited: 429,
  pbx_unavailable: 503,
  internal: 500,
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;
export const errorCode = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]);
/** `command.result.error.code`: the call-control table (control/errors.ts). */
export const commandErrorCode = z.enum(Object.keys(COMMAND_ERRORS) as [CommandErrorCode, ...CommandErrorCode[]]);
export const commandAction = z.enum(ACTION_NAMES);

/** WebSocket close codes the server uses. */
export const CLOSE_CODES = { shuttingDown: 1001, unauthorized: 4001, tokenExpired: 4003, tooSlow: 4008, superseded: 4009, rateLimited: 4029 } as const;
export const closeCode = z.union(Object.values(CLOSE_CODES).map((c) => z.literal(c)) as [z.ZodLiteral<number>, ...z.ZodLiteral<number>[]]);

/** The enums docs/protocol.md lists (`<!-- enum NAME -->` blocks), by name. */
export const ENUMS: Record<string, readonly (string | number)[]> = {
  direction: direction.options,
  callState: callState.options,
  callOutcome: callOutcome.options,
  legState: legState.options,
  legOutcome: legOutcome.options,
  endReason: endReason.options,
  ringStopReason: ringStopReason.options,
  deviceState: deviceState.options,
  matchStatus: matchStatus.options,
  agentActivity: agentActivity.options,
  doneReason: doneReason.options,
  errorCode: errorCode.options,
  commandErrorCode: commandErrorCode.options,
  commandAction: commandAction.options,
  closeCode: Object.values(CLOSE_CODES),
};

// ---- the call object -------------------------------------------------------------------------

const iso = z.iso.datetime();
const obj = z.strictObject;

export const party = obj({
  raw: z.string().describe("As the PBX gave it (`+4930123456`, `1001`, `anonymous`, or empty)"),
  e164: z.string().nullable().describe("E.164 when the number normalises; null for extensions and withheld numbers"),
  display: z.string().describe("What a person reads: the name if known, else the formatted number"),
  name: z.string().nullable().describe("Caller-ID name when it is more than the number"),
  extension: z.string().nullable().optional().describe("The internal extension when the party is one of our phones"),
  userId: z.string().nullable().optional().describe("The user behind the party when it is one of ours"),
}).meta({ id: "Party" });

/** A phone of ours (`userId`, `device`), or a number outside the PBX (`external`). */
export const phone = obj({
  userId: z.string().nullable(),
  device: z.string().nullable(),
  external: z.string().optional(),
}).meta({ id: "AnsweredBy" });

export const times = obj({
  started: iso,
  ringing: iso.nullable(),
  answered: iso.nullable(),
  ended: iso.nullable(),
  waitSeconds: z.number().nullable(),
  talkSeconds: z.number().nullable(),
  endEstimated: z.literal(true).optional().describe("Present when `ended` is an estimate (endReason unknown_end)"),
}).meta({ id: "Times" });

export const leg = obj({
  userId: z.string().nullable(),
  device: z.string(),
  state: legState,
  outcome: legOutcome.nullable(),
  placed: z.boolean(),
  ringingAt: iso.nullable(),
  answeredAt: iso.nullable(),
  endedAt: iso.nullable(),
  waitSeconds: z.number().nullable(),
  talkSeconds: z.number().nullable(),
  missedUncertain: z.literal(true).optional().describe("Present when the call ended unseen while this leg rang: possibly missed"),
  transferred: z.literal(true).optional().describe("Present on the leg of the agent who transferred the call and left it"),
  wrapUpSeconds: z.number().optional().describe("Present once this agent's after-call work for the call ended: how long it lasted"),
  done: z.boolean().optional().describe("REST history only: a missed leg called back or dismissed"),
}).meta({ id: "Leg" });

export const transfer = obj({
  kind: z.enum(["blind", "attended"]),
  via: z.literal("redirect").optional(),
  by: phone.nullable(),
  to: obj({ raw: z.string(), userId: z.string().nullable(), device: z.string().nullable() }),
  originalCaller: party,
  at: iso,
}).meta({ id: "Transfer" });

export const park = obj({
  by: phone.nullable(),
  slot: z.string(),
  at: iso,
  retrievedBy: phone.nullable(),
  retrievedAt: iso.nullable(),
  timedOut: z.boolean(),
  abandoned: z.boolean(),
}).meta({ id: "Park" });

export const contactRecord = obj({
  name: z.string(),
  company: z.string().nullable(),
  recordId: z.string().nullable(),
  url: z.string().nullable(),
  matchedOn: z.enum(["e164", "last_digits"]),
}).meta({ id: "ContactRecord" });

export const match = obj({ status: matchStatus, count: z.number().int().min(0), records: z.array(contactRecord) }).meta({ id: "Match" });

/** The merge of every annotation so far (a cleared field is absent); `by`/`at` of the latest. */
export const annotation = obj({
  recordId: z.string().optional(),
  comment: z.string().optional(),
  disposition: z.string().optional(),
  by: z.string(),
  at: iso,
}).meta({ id: "Annotation" });

export const call = obj({
  callId: z.string(),
  pbxId: z.string().optional().describe("The PBX the call runs on (cluster mode only)"),
  linkedIds: z.array(z.string()).describe("The Asterisk linkedids this conversation absorbed"),
  direction,
  state: callState,
  from: party,
  to: party,
  did: z.string().nullable().describe("The DID dialled (inbound calls): E.164 when it normalises, else as the PBX gave it"),
  didRaw: z.string().nullable().describe("The DID exactly as the PBX gave it"),
  queue: z.string().nullable(),
  legs: z.array(leg),
  answeredBy: phone.nullable(),
  times,
  outcome: callOutcome.nullable(),
  hangupCause: obj({ code: z.number().int(), text: z.string() }).nullable(),
  endReason: endReason.nullable(),
  transfer: transfer.nullable(),
  park: park.nullable(),
  ivr: z.record(z.string(), z.string()).describe("Allow-listed channel variables (IVR data: account, ticket …)"),
  recording: z.string().nullable(),
  restored: z.boolean().describe("Rebuilt from a PBX channel listing after a reconnect or restart"),
  clickToDial: z.boolean(),
  conference: z.string().nullable(),
  match: match.nullable(),
  annotation: annotation.nullable(),
  mergedInto: z.string().nullable().describe("Set when this call was absorbed by another: it goes on under that callId"),
  consultationFor: party.optional().describe("Only in a consultation target's copy: the customer the colleague is calling about"),
  popUrl: z.string().nullable().describe("pop.urlTemplate rendered for this call; null without a template"),
}).meta({ id: "Call" });

export const wrapUpState = obj({
  callId: z.string(),
  since: iso,
  until: iso.nullable().describe("When it ends by itself; null: until the agent is ready (agent.ready or a disposition)"),
}).meta({ id: "WrapUp" });

export const agentState = obj({
  pbxId: z
    .string()
    .optional()
    .describe("Cluster mode: the PBX this state comes from; absent when the user has devices on several PBXs and the state is merged over them"),
  deviceState: deviceState.nullable(),
  queues: z.array(
    obj({
      queue: z.string(),
      loggedIn: z.boolean(),
      paused: z.boolean(),
      reason: z.string().nullable(),
      pbxId: z.string().optional().describe("Cluster mode: the PBX of this queue (two PBXs may both have a queue of this name)"),
    }),
  ),
  activity: agentActivity,
  wrapUp: wrapUpState.nullable().describe("The running after-call work, if any"),
}).meta({ id: "AgentState" });

/** One queue as the supervisor board shows it: `GET /api/queues` items and the `queue.state` frame. */
export const queueInfo = obj({
  queue: z.string(),
  pbxId: z.string().optional().describe("Cluster mode: the PBX of this queue (two PBXs may both have a queue of this name)"),
  members: z.array(
    obj({
      userId: z.string().nullable(),
      name: z.string(),
      interface: z.string(),
      deviceState: deviceState.nullable(),
      loggedIn: z.boolean(),
      paused: z.boolean(),
      reason: z.string().nullable(),
      inCall: z.boolean(),
      activity: agentActivity.nullable(),
    }),
  ),
  waiting: z.number().int().min(0).describe("Live calls of the queue not answered yet"),
  longestWaitSeconds: z.number().nullable(),
  callers: z.array(obj({ callId: z.string(), from: party, since: iso, waitSeconds: z.number() })),
  today: obj({ answered: z.number().int().min(0), abandoned: z.number().int().min(0), avgWaitSeconds: z.number().nullable() }).describe(
    "Ended calls of the queue started since local midnight (agents.timezone)",
  ),
}).meta({ id: "QueueInfo" });

export const popTiming = z.enum(["ringing", "answered"]);
export const userInfo = obj({
  id: z.string(),
  name: z.string(),
  role,
  devices: z.array(z.string()),
  popTiming: popTiming.describe("When this user's screen pops (users[].popTiming, default pop.timing): a client pops calls found in a snapshot by it"),
}).meta({ id: "UserInfo" });

// ---- server → client -------------------------------------------------------------------------

const envelope = {
  v: z.literal(1),
  seq: z.number().int().min(0).describe("Global, monotonic; replies to one client repeat the latest seq. Keep the highest for resume"),
  ts: iso.describe("The time of the fact (for call events: of the AMI message behind it)"),
  userId: z.string().describe("The recipient"),
};
const frame = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) => obj({ ...envelope, type: z.literal(type), ...shape });

const callFrame = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  frame(type, { call, pop: z.boolean().describe("Open the screen pop now (the recipient's pop timing)"), ...shape });

export const CALL_MESSAGE_TYPES = [
  "call.dialing",
  "call.ringing",
  "call.ringing_stopped",
  "call.answered",
  "call.held",
  "call.resumed",
  "call.transferred",
  "call.updated",
  "call.ended",
  "call.missed",
] as const;

export const callMessage = z.discriminatedUnion("type", [
  callFrame("call.dialing", {}),
  callFrame("call.ringing", {}),
  callFrame("call.ringing_stopped", { reason: ringStopReason }),
  callFrame("call.answered", {}),
  callFrame("call.held", {}),
  callFrame("call.resumed", {}),
  callFrame("call.transferred", {}),
  callFrame("call.updated", {}),
  callFrame("call.ended", {}),
  callFrame("call.missed", { callbackNumber: z.string().describe("The number to call back: E.164 when known, else raw") }),
]);

/** What a successful command answers in `data`, by action (actions not listed answer none). */
export const commandData = {
  dial: obj({ callId: z.string(), channelId: z.string() }),
  queuePause: obj({ devices: z.array(obj({ device: z.string(), interface: z.string().optional(), ok: z.boolean(), error: z.string().optional() })) }),
  annotate: obj({ annotation }),
  done: obj({ callId: z.string(), users: z.array(z.string()), doneAt: iso }),
  ready: obj({ wrapUp: obj({ callId: z.string(), userId: z.string(), since: iso, endedAt: iso, seconds: z.number(), reason: z.string() }) }),
};

export const commandResult = z.discriminatedUnion("ok", [
  frame("command.result", { id: z.string(), ok: z.literal(true), data: z.union([commandData.dial, commandData.queuePause, commandData.annotate, commandData.done, commandData.ready]).optional() }),
  frame("command.result", { id: z.string(), ok: z.literal(false), error: obj({ code: commandErrorCode, message: z.string() }) }),
]);

export const serverMessage = z
  .discriminatedUnion("type", [
    frame("hello", {
      server: obj({ name: z.literal("ctibridge"), version: z.string() }),
      protocol: z.literal(PROTOCOL_VERSION),
      subprotocol: z.enum(SUBPROTOCOLS).nullable().describe("The subprotocol selected from the client's offer; null when it offered none"),
      connectionId: z.string(),
      user: userInfo,
      expiresAt: iso.nullable().describe("The token's exp (the server closes with 4003 then); null for API keys"),
    }),
    frame("snapshot", { calls: z.array(call) }),
    callMessage,
    frame("call.claimed", {
      callId: z.string(),
      by: z.string().describe("The connectionId (from hello) that claimed the pop"),
      byMe: z.boolean().describe("This connection claimed it: the acknowledgement of its claim"),
    }),
    frame("agent.state", { agent: z.string(), state: agentState }),
    frame("call.done", {
      callId: z.string(),
      user: z.string().describe("The user whose missed leg was closed"),
      doneAt: iso,
      by: z.string().describe("Who marked it, or who called back"),
      reason: doneReason,
    }),
    frame("queue.state", { queue: queueInfo }).describe("Supervisors: one queue's figures changed (not journaled; coalesced per queue)"),
    frame("pbx.disconnected", { reason: z.string().nullable() }),
    frame("pbx.resynced", { calls: z.number().int().min(0).nullable() }),
    frame("pbx.failover", {
      pbxId: z.string().describe("The PBX whose active worker changed"),
      calls: z.number().int().min(0).nullable().describe("Calls the new worker took over (rebuilt from the PBX's listing)"),
    }).describe("Cluster mode: another PBX worker became active for this PBX; its calls keep their callIds and times"),
    frame("resync_required", { afterSeq: z.number().int().min(0), oldestSeq: z.number().int().min(0).nullable() }),
    commandResult,
    frame("error", { code: errorCode, message: z.string(), ref: z.string().optional() }),
    frame("pong", {}),
  ])
  .meta({ id: "ServerMessage" });

// ---- client → server -------------------------------------------------------------------------

const id = z.string().min(1).max(128);

export const clientSchemas = {
  resume: obj({ type: z.literal("resume"), afterSeq: z.number().int().min(0) }),
  claim: obj({ type: z.literal("claim"), callId: id }),
  subscribe: obj({ type: z.literal("subscribe"), users: z.array(id).max(1000).optional(), queues: z.array(id).max(1000).optional() }),
  /** `id` is required: the `command.result` carries it back. `args` are checked per action (control/args.ts). */
  command: obj({ type: z.literal("command"), id, action: z.string().regex(/^[a-z][a-z0-9_.]{0,63}$/), args: z.unknown().optional() }),
  ping: obj({ type: z.literal("ping") }),
} as const;

export const clientMessage = z
  .discriminatedUnion("type", [clientSchemas.resume, clientSchemas.claim, clientSchemas.subscribe, clientSchemas.command, clientSchemas.ping])
  .meta({ id: "ClientMessage" });

// ---- REST (same tokens, docs/protocol.md "REST") ------------------------------------------------

/** One entry of a call's annotation history: the fields as sent (null: cleared), who and when. */
export const annotationEntry = obj({
  by: z.string(),
  at: iso,
  recordId: z.string().nullable().optional(),
  comment: z.string().nullable().optional(),
  disposition: z.string().nullable().optional(),
}).meta({ id: "AnnotationEntry" });

export const rest = {
  /** `GET /api/calls`: newest first; legs carry `done`. */
  calls: obj({ calls: z.array(call), next: z.string().nullable().describe("Cursor for `before=` to get the next (older) page; null on the last page") }).meta({ id: "RestCalls" }),
  /** `POST /api/calls/:callId/done`. */
  done: obj({ ok: z.literal(true), data: commandData.done }).meta({ id: "RestDone" }),
  /** `GET /api/queues` (supervisors). */
  queues: obj({ timezone: z.string(), todayFrom: iso, queues: z.array(queueInfo) }).meta({ id: "RestQueues" }),
  /** `GET /api/directory`: the users, for a transfer picker. */
  directory: obj({ users: z.array(obj({ id: z.string(), name: z.string(), role, devices: z.array(z.string()), extensions: z.array(z.string()) })) }).meta({ id: "RestDirectory" }),
  /** `POST /api/calls/:callId/annotate`. */
  annotate: obj({ ok: z.literal(true), data: commandData.annotate }).meta({ id: "RestAnnotate" }),
  /** `GET /api/calls/:callId/annotations`: oldest first. */
  annotations: obj({ annotations: z.array(annotationEntry) }).meta({ id: "RestAnnotations" }),
  /** Any REST error, with the HTTP status of ERROR_CODES (or 405, 413). */
  error: obj({ error: obj({ code: z.union([errorCode, commandErrorCode]), message: z.string() }) }).meta({ id: "RestError" }),
};

// ---- types -----------------------------------------------------------------------------------

export type Party = z.infer<typeof party>;
export type Leg = z.infer<typeof leg>;
export type Call = z.infer<typeof call>;
export type AgentState = z.infer<typeof agentState>;
export type UserInfo = z.infer<typeof userInfo>;
export type Annotation = z.infer<typeof annotation>;
export type QueueInfo = z.infer<typeof queueInfo>;
export type ServerMessage = z.infer<typeof serverMessage>;
export type CallMessage = z.infer<typeof callMessage>;
export type ClientMessage = z.infer<typeof clientMessage>;
export type ClientMessageType = keyof typeof clientSchemas;
/** What a successful command answers in `data` (dial, queue.pause/unpause, call.annotate). */
export type CommandData = z.infer<(typeof commandData)[keyof typeof commandData]>;
/** The `args` of each command action as a client sends them (checked by control/args.ts). */
export type CommandArgs = { [A in ActionName]: z.input<ArgSchemas[A]> };
/** A command's outcome, before it is framed as `command.result`. */
export type CommandOutcome = { ok: true; data?: CommandData } | { ok: false; error: { code: CommandErrorCode; message: string } };

// The engine's types (calls/model.ts) and the schema must agree field for field: the server
// builds frames from the model, so a field added on one side only fails to compile here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Expect<T extends true> = T;
type SameShape<A, B> = Same<A, B> extends true ? Same<keyof A, keyof B> : false;
export type SchemaAgreesWithModel = [
  Expect<Same<M.Direction, z.infer<typeof direction>>>,
  Expect<Same<M.CallState, z.infer<typeof callState>>>,
  Expect<Same<M.CallOutcome, z.infer<typeof callOutcome>>>,
  Expect<Same<M.LegState, z.infer<typeof legState>>>,
  Expect<Same<M.LegOutcome, z.infer<typeof legOutcome>>>,
  Expect<Same<M.EndReason, z.infer<typeof endReason>>>,
  Expect<Same<M.RingStopReason, z.infer<typeof ringStopReason>>>,
  Expect<SameShape<M.Party, Party>>,
  Expect<SameShape<M.Leg & { done?: boolean }, Leg>>,
  Expect<SameShape<M.Times, z.infer<typeof times>>>,
  Expect<SameShape<M.AnsweredBy, z.infer<typeof phone>>>,
  Expect<SameShape<M.Transfer, z.infer<typeof transfer>>>,
  Expect<SameShape<M.Park, z.infer<typeof park>>>,
  Expect<SameShape<M.Match, z.infer<typeof match>>>,
  Expect<SameShape<M.ContactRecord, z.infer<typeof contactRecord>>>,
  Expect<SameShape<M.Annotation, Annotation>>,
  Expect<SameShape<M.AnnotationEntry, z.infer<typeof annotationEntry>>>,
  Expect<SameShape<M.AgentState, AgentState>>,
  Expect<Same<keyof M.Call | "popUrl", keyof Call>>,
  Expect<Same<ActionName, z.infer<typeof commandAction>>>,
];
