/** The WebSocket server as a bus subscriber: each fact to the CtiServer method that sends it. */
import type { CtiServer } from "../publish/server.js";
import type { BusHandler } from "./index.js";

export type CtiSink = Pick<CtiServer, "publish" | "agentState" | "pbxStatus" | "callDone" | "queueState">;

export function ctiSubscriber(cti: CtiSink): BusHandler {
  return (ev) => {
    switch (ev.kind) {
      case "call":
        return cti.publish(ev.event);
      case "agent":
        return cti.agentState(ev.userId, ev.state);
      case "pbx":
        return cti.pbxStatus(ev.status, ev.info);
      case "done":
        return cti.callDone(ev.done);
      case "queue":
        return cti.queueState(ev.queue);
      case "record":
      case "view":
        return; // the store's and the gateways' views, not the clients'
    }
  };
}
