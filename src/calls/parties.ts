/** Call parties: the number as the PBX gave it, E.164 when possible, and a display form. */
import { deviceResource } from "../directory/devices.js";
import { normalizeForDisplay, type NumberOptions } from "../directory/numbers.js";
import type { Party } from "./model.js";
import { intern } from "./strings.js";

const NO_NAME = new Set(["", "<unknown>", "unknown", "anonymous", "Anonymous"]);

export interface PartyDirectory {
  userForDevice: (device: string) => string | null;
  deviceForExtension: (ext: string) => string | null;
}

/**
 * Build a party. `device` marks one of our phones (its extension is the device resource when
 * the caller id says nothing better); an internal extension is looked up to its user.
 */
export function makeParty(raw: string, name: string, opts: NumberOptions, dir: PartyDirectory, device?: string | null): Party {
  const number = raw === "<unknown>" ? "" : raw;
  if (device) {
    const ext = /^[0-9*#]+$/.test(number) ? number : deviceResource(device);
    const userId = dir.userForDevice(device);
    const display = NO_NAME.has(name) || name === ext ? ext : name;
    return { raw: ext, e164: null, display, name: display === ext ? null : name, extension: ext, userId };
  }
  const { n, display } = normalizeForDisplay(number, opts);
  const cleanName = NO_NAME.has(name) || name === number ? null : name;
  if (n.isExtension) {
    const dev = dir.deviceForExtension(number);
    const userId = dev ? dir.userForDevice(dev) : null;
    return { raw: number, e164: null, display: cleanName ?? number, name: cleanName, extension: number, userId };
  }
  // The number is often its own E.164 form: one string, not two. The formatted forms are
  // interned: a DID's recur on every call, and a display is a rope of its parts (strings.ts).
  const e164 = n.e164 === number ? number : n.e164 === null ? null : intern(n.e164);
  return { raw: number, e164, display: cleanName ?? intern(display), name: cleanName, extension: null, userId: null };
}

/** A party not known yet (the number an Originate will dial, before the PBX says). */
export function unknownParty(): Party {
  return { raw: "", e164: null, display: "", name: null, extension: null, userId: null };
}
