/**
 * Applies one call-log record fact (bus RecordFact: an annotation, a wrap-up row) to a CallStore.
 * Every write is idempotent and commutes with the others of its call (a fact redelivered after a
 * newer one changes nothing newer; an end before its start still ends it), so the standalone
 * mirror and the cluster's stream archiver share it.
 */
import type { RecordFact } from "../bus/index.js";
import type { CallStore } from "./index.js";
import type { NewOutboxRow } from "./outbox.js";

/** `outbox`: webhook rows the fact makes (an annotation's `call.annotated`), written with it. */
export async function applyRecord(store: CallStore, r: RecordFact, outbox: readonly NewOutboxRow[] = []): Promise<void> {
  switch (r.op) {
    case "annotate":
      await store.annotate(r.callId, r.entry, r.merged, outbox);
      return;
    case "wrapUpStart":
      return store.wrapUpStart(r.row);
    case "wrapUpPaused":
      return store.wrapUpSetPaused(r.callId, r.userId, r.paused);
    case "wrapUpEnd":
      return store.wrapUpEnd(r.callId, r.userId, r.endedAt, r.seconds, r.reason, r.since ?? undefined);
  }
}
