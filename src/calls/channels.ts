/** The tracker's view of one Asterisk channel (keyed by Uniqueid). */
import type { Conversation } from "./conversation.js";

export type ChannelRole = "device" | "trunk" | "local" | "other";

export interface Chan {
  id: string;
  name: string;
  role: ChannelRole;
  device: string | null;
  state: string;
  /** The first channel of its linkedid group: the caller or the placing phone. */
  root: boolean;
  exten: string;
  hungUp: boolean;
  conv: Conversation | null;
  /** Seen in the current resync listing. */
  listed: boolean;
  /** The channel this one dialled last (a Local `;2` half → the member's phone). */
  dialled?: string;
}
