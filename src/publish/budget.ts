/**
 * What one connection's frames may cost (server.limits): a token bucket of `frameBurst` tokens
 * refilled at `framesPerSecond`. A refused frame is dropped before it is parsed; the first
 * refusal after an accepted frame is answered (`error` `rate_limited`), the ones after it are
 * not, so the error replies cannot be used as an amplifier either. Refusals draw on a second
 * bucket (`closeAfterRefused`, draining at the same rate): a client that keeps sending far past
 * its budget is closed 4029.
 */
import type { Config } from "../config.js";
import { TokenBucket } from "../tokenBucket.js";

export type Verdict = "ok" | "refuse" | "drop" | "close";

export class FrameBudget {
  private readonly frames: TokenBucket;
  private readonly strikes: TokenBucket;
  /** A `rate_limited` error went out since the last accepted frame. */
  private told = false;

  constructor(limits: Config["server"]["limits"], now: number) {
    this.frames = new TokenBucket(limits.frameBurst, limits.framesPerSecond, now);
    this.strikes = new TokenBucket(limits.closeAfterRefused, limits.framesPerSecond, now);
  }

  /** `ok`: go on; `refuse`: answer rate_limited; `drop`: ignore silently; `close`: close 4029. */
  admit(cost: number, now: number): Verdict {
    if (this.frames.take(cost, now)) {
      this.told = false;
      return "ok";
    }
    if (!this.strikes.take(1, now)) return "close";
    if (this.told) return "drop";
    this.told = true;
    return "refuse";
  }
}
