/**
 * A token bucket: `capacity` tokens at most, refilled at `perSecond`. Time is passed in, so the
 * owner decides the clock (tests inject one) and an idle bucket costs nothing.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly capacity: number,
    readonly perSecond: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.at = now;
  }

  /** Takes `n` tokens (at most the capacity, so a cost above it stays possible) if there are that many. */
  take(n: number, now: number): boolean {
    this.refill(now);
    const cost = Math.min(n, this.capacity);
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** Whether the bucket is back to full (its owner may forget it). */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.capacity;
  }

  private refill(now: number): void {
    if (now <= this.at) return;
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
  }
}
