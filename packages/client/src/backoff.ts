/** Reconnect delays: exponential with full jitter (a uniform draw below the capped exponential). */
export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

/** The delay before reconnect attempt `attempt` (0-based): random × min(maxMs, minMs × 2^attempt). */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number): number {
  const ceiling = Math.min(o.maxMs, o.minMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}
