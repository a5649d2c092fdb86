/** The tracker's view of one Asterisk channel (keyed by Uniqueid). */
import type { Conversation } from "./conversation.js";

export type ChannelRole = "device" | "trunk" | "local" | "other";

const ROOT = 1;
const HUNG_UP = 2;
const LISTED = 4;
/** The role is kept in the flags' higher bits, as its index here. */
const ROLES: readonly ChannelRole[] = ["device", "trunk", "local", "other"];
const ROLE_SHIFT = 3;

/**
 * One channel. Its role and three booleans share one word of flags (two records per open call:
 * 24 B each less than four fields), and `dialled`, set on Local halves only, is not a field of the rest.
 */
export class Chan {
  conv: Conversation | null = null;
  private flags: number;
  /** The channel this one dialled last (a Local `;2` half → the member's phone). */
  declare dialled?: string;

  constructor(
    readonly id: string,
    public name: string,
    role: ChannelRole,
    public device: string | null,
    public state: string,
    root: boolean,
    public exten: string,
  ) {
    this.flags = (ROLES.indexOf(role) << ROLE_SHIFT) | (root ? ROOT : 0);
  }

  get role(): ChannelRole {
    return ROLES[this.flags >> ROLE_SHIFT]!;
  }

  /** The first channel of its linkedid group: the caller or the placing phone. */
  get root(): boolean {
    return (this.flags & ROOT) !== 0;
  }

  get hungUp(): boolean {
    return (this.flags & HUNG_UP) !== 0;
  }
  set hungUp(v: boolean) {
    this.flags = v ? this.flags | HUNG_UP : this.flags & ~HUNG_UP;
  }

  /** Seen in the current resync listing. */
  get listed(): boolean {
    return (this.flags & LISTED) !== 0;
  }
  set listed(v: boolean) {
    this.flags = v ? this.flags | LISTED : this.flags & ~LISTED;
  }
}
