/**
 * Each user's message sequence (after hello + snapshot, without pong, agent.state and queue.state) when a
 * recorded trace is replayed through the daemon: asserted exactly by test/e2e/scenarios.test.ts,
 * and compared for the agents (sam, the supervisor, is not connected live) when
 * test/live/scenarios.test.ts runs the same scenario on the lab PBX.
 */
const R = "call.ringing";
const A = "call.answered";
const E = "call.ended";
const M = "call.missed";
const T = "call.transferred";
const H = "call.held";
const stopped = (reason: string) => `call.ringing_stopped(${reason})`;

export const RECORDED_FRAMES: [string, Record<string, string[]>][] = [
  [
    "06-ringgroup-answered",
    {
      alice: [R, stopped("answered_elsewhere"), E],
      bob: [R, A, E],
      carol: [R, stopped("answered_elsewhere"), E],
      // Both losing legs stop within one AMI read: two facts, both delivered. The supervisor's
      // copy: one call.ringing for the call, then a call.updated for each further leg ringing.
      sam: [R, "call.updated", "call.updated", stopped("answered_elsewhere"), stopped("answered_elsewhere"), A, E],
    },
  ],
  [
    "07-queue-support-answered",
    { alice: [R, A, E], bob: [R, stopped("answered_elsewhere"), E], sam: [R, "call.updated", stopped("answered_elsewhere"), A, E] },
  ],
  ["09-queue-sales-local-members", { dave: [R, A, E], sam: [R, A, E] }],
  [
    "16-blind-transfer-refer",
    {
      alice: [R, A, "call.transferred", E],
      bob: [R, A, E],
      // One call.ringing per call and client: bob's ring is not a second pop for the supervisor.
      sam: [R, A, "call.transferred", A, E],
    },
  ],
  ["26-blind-transfer-ami-redirect", { alice: [R, A, T, E], bob: [R, A, E], sam: [R, A, T, A, E] }],
  ["27-blind-transfer-ami-blindtransfer", { alice: [R, A, T, E], bob: [R, A, E], sam: [R, A, T, A, E] }],
  ["28-attended-transfer-dtmf", { alice: [R, A, H, T, E], carol: [R, A, T, E], sam: [R, A, H, A, T, E] }],
  ["29-attended-transfer-dtmf-abandoned", { alice: [R, A, H, "call.resumed", E], carol: [R, stopped("caller_hangup"), E], sam: [R, A, H, "call.resumed", stopped("caller_hangup"), E] }],
  ["30-attended-transfer-ami-atxfer", { alice: [R, A, H, T, E], carol: [R, A, T, E], sam: [R, A, H, A, T, E] }],
  ["40-attended-transfer-dtmf-complete-while-ringing", { alice: [R, A, H, T, E], carol: [R, T, A, E], sam: [R, A, H, T, A, E] }],
  ["43-attended-transfer-dtmf-target-declines", { alice: [R, A, H, "call.resumed", E], carol: [R, stopped("declined"), E], sam: [R, A, H, stopped("declined"), "call.resumed", E] }],
  ["03-inbound-missed-caller-abandon", { alice: [R, stopped("caller_hangup"), E, M], sam: [R, stopped("caller_hangup"), E, M] }],
  ["04-inbound-missed-dial-timeout", { alice: [R, stopped("timeout"), E, M], sam: [R, stopped("timeout"), E, M] }],
  [
    "08-queue-support-abandoned",
    {
      alice: [R, stopped("caller_hangup"), E, M],
      bob: [R, stopped("caller_hangup"), E, M],
      sam: [R, "call.updated", stopped("caller_hangup"), stopped("caller_hangup"), E, M],
    },
  ],
  ["37-queue-sales-member-ringout", { dave: [R, stopped("timeout"), E], eve: [R, A, E], sam: [R, stopped("timeout"), A, E] }],
  [
    "38-queue-support-ringout-then-answered",
    {
      // Rung again after ringing out: a new pop; the supervisor observes the call once (call.updated as legs ring).
      alice: [R, stopped("timeout"), R, stopped("answered_elsewhere"), E],
      bob: [R, stopped("timeout"), R, A, E],
      sam: [R, "call.updated", stopped("timeout"), stopped("timeout"), "call.updated", stopped("answered_elsewhere"), A, E],
    },
  ],
  [
    "39-ringgroup-external-answered",
    {
      alice: [R, stopped("answered_elsewhere"), E],
      bob: [R, stopped("answered_elsewhere"), E],
      sam: [R, "call.updated", A, stopped("answered_elsewhere"), stopped("answered_elsewhere"), E],
    },
  ],
  // Parking: one call; the retriever (bob) gets the caller's pop; the slot dial sends nothing.
  ["32-park-ami-retrieved", { alice: [R, A, "call.updated", E], bob: [R, A, E], sam: [R, A, "call.updated", A, E] }],
  ["33-park-refer-timeout", { alice: [R, A, "call.updated", "call.updated", R, A, E], sam: [R, A, "call.updated", "call.updated", A, E] }],
  ["34-park-dtmf-caller-hangup", { alice: [R, A, "call.updated", E], sam: [R, A, "call.updated", E] }],
  // Pickup: the picker gets the caller's pop; the *8 / **1002 dial sends nothing of its own.
  ["35-pickup-group", { alice: [R, stopped("picked_up_elsewhere"), E], carol: [R, A, E], sam: [R, "call.updated", stopped("picked_up_elsewhere"), A, E] }],
  [
    "36-pickup-directed",
    {
      alice: [R, stopped("picked_up_elsewhere"), E],
      bob: [R, stopped("picked_up_elsewhere"), E],
      carol: [R, stopped("picked_up_elsewhere"), E],
      frank: [R, A, E],
      sam: [R, "call.updated", "call.updated", "call.updated", stopped("picked_up_elsewhere"), stopped("picked_up_elsewhere"), stopped("picked_up_elsewhere"), A, E],
    },
  ],
  [
    "41-pickup-queue-call",
    {
      alice: [R, stopped("picked_up_elsewhere"), E],
      bob: [R, stopped("picked_up_elsewhere"), E],
      carol: [R, A, E],
      sam: [R, "call.updated", "call.updated", stopped("picked_up_elsewhere"), stopped("picked_up_elsewhere"), A, E],
    },
  ],
];
