/**
 * The standalone bus: a list of subscribers called in order on the publisher's stack, so a call
 * event reaches the store before the WebSocket clients (as before the seam existed). One
 * subscriber's error is logged and the next still runs.
 */
import type { BusEvent, BusHandler, EventBus } from "./index.js";

export class InProcessBus implements EventBus {
  private handlers: BusHandler[] = [];

  constructor(private readonly onError: (err: unknown, ev: BusEvent) => void) {}

  publish(ev: BusEvent): void {
    for (const h of this.handlers) {
      try {
        h(ev);
      } catch (err) {
        this.onError(err, ev);
      }
    }
  }

  subscribe(handler: BusHandler): () => void {
    this.handlers.push(handler);
    return () => {
      this.handlers = this.handlers.filter((h) => h !== handler);
    };
  }

  async close(): Promise<void> {
    this.handlers = [];
  }
}
