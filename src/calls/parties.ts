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
  return externalParty(number, cleanName, n.e164, display, opts);
}

/** External parties by number options, then by number and name (a bound, not a cache policy). */
const externalParties = new WeakMap<NumberOptions, Map<string, Party>>();
const EXTERNAL_MAX = 1024;

/**
 * A party outside the PBX depends on its number and name only: one frozen object for the calls
 * that share it (the DID of every inbound call, a regular caller), not a copy each (72 B and
 * its strings per call).
 */
function externalParty(number: string, name: string | null, e164: string | null, display: string, opts: NumberOptions): Party {
  let byKey = externalParties.get(opts);
  if (!byKey) externalParties.set(opts, (byKey = new Map()));
  const key = name === null ? number : `${number}\u0000${name}`;
  let party = byKey.get(key);
  if (!party) {
    if (byKey.size >= EXTERNAL_MAX) byKey.clear();
    // The number is often its own E.164 form: one string, not two. The formatted forms are
    // interned: a display is a rope of its parts (strings.ts).
    const raw = intern(number);
    const e = e164 === number ? raw : e164 === null ? null : intern(e164);
    party = Object.freeze({ raw, e164: e, display: name ?? intern(display), name, extension: null, userId: null });
    byKey.set(key, party);
  }
  return party;
}

/** A party not known yet (the number an Originate will dial, before the PBX says). */
export function unknownParty(): Party {
  return { raw: "", e164: null, display: "", name: null, extension: null, userId: null };
}
