/**
 * Per-client backpressure (pitfall 8, websockets/ws#1620): while the socket's bufferedAmount is
 * over the bound, messages wait here; superseded `call.updated` snapshots of the same call are
 * coalesced (each carries the full call, so only the newest matters). Transitions are never
 * dropped. When even this queue overflows, the owner closes the client (4008).
 * Everything is synchronous: a slow client can never make publish() wait.
 */

/** The slice of a ws WebSocket this needs (a fake one in unit tests). */
export interface SocketLike {
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: string, cb?: (err?: Error) => void): void;
}

const OPEN = 1;

interface Slot {
  text: string;
  /** Set for call.updated only: the coalescing key. */
  coalesceKey: string | null;
}

export interface ClientQueueOptions {
  maxBufferedBytes: number;
  /** Bytes (UTF-16 length, close enough) allowed to wait here on top of the socket buffer. */
  maxQueuedBytes: number;
  onOverflow: () => void;
  onSent?: () => void;
}

export class ClientQueue {
  private slots: (Slot | null)[] = [];
  private head = 0;
  private live = 0;
  private bytes = 0;
  private readonly byKey = new Map<string, number>();
  private overflowed = false;
  /** One callback for every send: the drain signal, without a closure per message. */
  private readonly sent = (): void => {
    if (this.live > 0) this.pump();
  };

  constructor(private readonly socket: SocketLike, private readonly opts: ClientQueueOptions) {}

  get queuedCount(): number {
    return this.live;
  }

  get queuedBytes(): number {
    return this.bytes;
  }

  /** Send now when the socket has room and nothing waits; otherwise queue (coalescing updates). */
  send(text: string, type: string, callId: string | null): void {
    if (this.overflowed || this.socket.readyState !== OPEN) return;
    if (this.live === 0 && this.socket.bufferedAmount < this.opts.maxBufferedBytes) {
      this.write(text);
      return;
    }
    const coalesceKey = type === "call.updated" && callId !== null ? callId : null;
    if (coalesceKey !== null) {
      const old = this.byKey.get(coalesceKey);
      if (old !== undefined) {
        const slot = this.slots[old]!;
        this.bytes -= slot.text.length;
        this.slots[old] = null;
        this.live--;
      }
      this.byKey.set(coalesceKey, this.slots.length);
    }
    this.slots.push({ text, coalesceKey });
    this.live++;
    this.bytes += text.length;
    if (this.bytes > this.opts.maxQueuedBytes) {
      this.overflowed = true;
      this.clear();
      this.opts.onOverflow();
    }
  }

  /** Move queued messages to the socket while it has room. */
  pump(): void {
    while (this.live > 0 && this.socket.readyState === OPEN && this.socket.bufferedAmount < this.opts.maxBufferedBytes) {
      const slot = this.slots[this.head];
      this.slots[this.head++] = null;
      if (slot === null || slot === undefined) continue;
      this.live--;
      this.bytes -= slot.text.length;
      if (slot.coalesceKey !== null) this.byKey.delete(slot.coalesceKey);
      this.write(slot.text);
    }
    if (this.live === 0) this.reset();
    else if (this.head > 1024 && this.head * 2 > this.slots.length) this.compact();
  }

  clear(): void {
    this.reset();
    this.live = 0;
    this.bytes = 0;
  }

  private write(text: string): void {
    this.socket.send(text, this.sent);
    this.opts.onSent?.();
  }

  private reset(): void {
    this.slots = [];
    this.head = 0;
    this.byKey.clear();
  }

  /** Drop consumed and coalesced slots so a long-lived backlog does not keep growing the array. */
  private compact(): void {
    const kept: Slot[] = [];
    for (let i = this.head; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s) kept.push(s);
    }
    this.slots = kept;
    this.head = 0;
    this.byKey.clear();
    kept.forEach((s, i) => {
      if (s.coalesceKey !== null) this.byKey.set(s.coalesceKey, i);
    });
  }
}
