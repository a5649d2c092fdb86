/**
 * Offline replay: run the tracker over raw AMI captures, exactly as the daemon would over a
 * live connection. Several files are consecutive AMI connections of one daemon: between
 * them the link drops, and the next file's listing (if any) resyncs the tracker.
 */
import { createReadStream } from "node:fs";
import { AmiDecoder, type AmiMessage, type DecoderOptions } from "./ami/codec.js";
import { skipUnneeded, toPbxEvent } from "./ami/events.js";
import type { Config } from "./config.js";
import { Directory } from "./directory/users.js";
import type { AnyCallEvent } from "./calls/model.js";
import { isTime } from "./calls/outcomes.js";
import { CallTracker, trackerDepsFromConfig } from "./calls/tracker.js";

export interface ReplayResult {
  events: AnyCallEvent[];
  tracker: CallTracker;
}

/** A tracker wired for replay: deterministic call ids, the config's users, trunks and policy. */
export function replayTracker(config: Config, onEvent: (ev: AnyCallEvent) => void, directory?: Directory): CallTracker {
  const dir = directory ?? new Directory({});
  if (!directory) dir.applyConfig(config.users);
  let n = 0;
  return new CallTracker({
    ...trackerDepsFromConfig(config, dir),
    onEvent,
    newCallId: () => `call-${String(++n).padStart(4, "0")}`,
  });
}

/**
 * Messages of a capture, in order. The captures carry no clock of their own
 * (`timestampevents` is off by default), so `receivedAt` is a virtual clock: the first
 * `EventTV`/`SessionTV` (or `Timestamp`) of the file, advanced 1 ms per message to keep order.
 */
export async function* readCapture(path: string, skipEvent?: DecoderOptions["skipEvent"]): AsyncGenerator<AmiMessage> {
  let clock = 0;
  let anchored = false;
  let firstEvent = true;
  const decoder = new AmiDecoder({ now: () => clock, skipEvent });
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) {
    for (const msg of decoder.push(chunk as Buffer)) {
      if (!anchored) {
        const tv = msg.get("EventTV") ?? msg.get("SessionTV");
        // timestampevents = yes: the first event's `Timestamp` sets the clock (a later one may be garbage).
        const ts = firstEvent ? msg.get("Timestamp") : undefined;
        if (msg.event !== undefined) firstEvent = false;
        const t = tv !== undefined ? Date.parse(tv.replace(/([+-]\d\d)(\d\d)$/, "$1:$2")) : ts ? Number(ts) * 1000 : NaN;
        if (isTime(t)) {
          anchored = true;
          clock = Math.max(clock, t);
        }
      }
      clock += 1;
      yield msg.withReceivedAt(clock);
    }
  }
}

/** Replay files as consecutive connections; returns every domain event in order. */
export async function replayFiles(paths: string[], config: Config): Promise<ReplayResult> {
  const events: AnyCallEvent[] = [];
  const tracker = replayTracker(config, (ev) => events.push(ev));
  let lastAt = 0;
  for (const [i, path] of paths.entries()) {
    let listing = false;
    for await (const msg of readCapture(path, skipUnneeded(tracker.wantsVariable))) {
      lastAt = Math.max(lastAt, msg.receivedAt);
      const name = msg.event;
      if (i > 0 && !listing && name === "CoreShowChannel") {
        listing = true;
        tracker.beginResync();
      }
      const ev = toPbxEvent(msg, tracker.wantsVariable);
      if (ev) tracker.handle({ ...ev, at: Math.max(ev.at, lastAt) });
      if (listing && name === "CoreShowChannelsComplete") {
        listing = false;
        tracker.endResync(lastAt);
      }
    }
  }
  return { events, tracker };
}
