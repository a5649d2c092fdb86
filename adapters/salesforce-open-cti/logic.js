/*
 * The Salesforce side of the softphone as pure functions over ctibridge call objects
 * (docs/protocol.md): where Open CTI is loaded from, what a pop searches for, which record a
 * call belongs to, and the Task an ended call is logged as. softphone.js does the I/O; the
 * functions are tested in Node (test/adapters/salesforceLogic.test.ts).
 */

/**
 * The org origin to load `opencti_min.js` from: the first candidate (the `sfdcIframeOrigin`
 * parameter Salesforce adds to the adapter URL, then the framing ancestors) that is one of the
 * configured org origins; else the first configured one. Never an origin outside the list: the
 * page's CSP would refuse it anyway.
 */
export function pickOrigin(allowed, candidates) {
  for (const c of candidates) if (typeof c === "string" && allowed.includes(c)) return c;
  return allowed[0] ?? null;
}

/** This user's leg of the call (the latest, if the call rang them twice). */
export function myLeg(call, userId) {
  const legs = (call.legs ?? []).filter((l) => l.userId === userId);
  return legs.at(-1) ?? null;
}

/** The other side of the call for this user: the called party if they placed it, else the caller. */
export function otherParty(call, userId) {
  const leg = myLeg(call, userId);
  const placed = leg ? leg.placed : call.direction === "outbound";
  return (placed ? call.to : call.from) ?? null;
}

/** The number to search for and log: E.164 when known, else the raw digits; null when withheld. */
export function partyNumber(party) {
  if (!party) return null;
  const n = party.e164 ?? party.raw ?? "";
  return /[0-9]/.test(n) ? n : null;
}

/** `sforce.opencti.CALL_TYPE` key for a call direction. */
export function callTypeKey(direction) {
  return direction === "outbound" ? "OUTBOUND" : direction === "internal" ? "INTERNAL" : "INBOUND";
}

/**
 * A search term with the characters that would change a Salesforce search's meaning removed
 * (quotes, brackets, operators); a leading + of a number is kept.
 */
export function searchTerm(value) {
  return String(value ?? "")
    .replace(/[^\p{L}\p{N}+@._ -]/gu, " ")
    .replace(/(?!^)\+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * The searchAndScreenPop arguments for a pop (without callType and callback): the other party's
 * number and the IVR variables named in `ivrNames` (account, ticket …) as alternatives
 * (`A OR B`), the same values as URL parameters for a Visualforce pop, the number as the Phone
 * of a new record. Null when there is nothing to search for (a withheld number, no IVR data).
 */
export function popSearch(call, userId, ivrNames) {
  const number = partyNumber(otherParty(call, userId));
  const terms = [];
  const query = new URLSearchParams({ callId: call.callId });
  if (number) {
    terms.push(searchTerm(number));
    query.set("phone", number);
  }
  for (const name of ivrNames) {
    const v = call.ivr?.[name];
    if (v === undefined || v === null || v === "") continue;
    terms.push(searchTerm(v));
    query.set(name, String(v));
  }
  const unique = [...new Set(terms.filter((t) => t !== ""))];
  if (unique.length === 0) return null;
  return {
    searchParams: unique.join(" OR "),
    queryParams: query.toString(),
    defaultFieldValues: number ? { Phone: number } : {},
  };
}

const WHO = new Set(["Contact", "Lead"]);

/** WhoId/WhatId for one record: a Contact or Lead is the Task's Who, anything else its What. */
function linksFor(type, id, personContactId) {
  if (!id) return {};
  if (WHO.has(type)) return { WhoId: id };
  if (personContactId) return { WhoId: personContactId, WhatId: id };
  return { WhatId: id };
}

/**
 * The record a searchAndScreenPop result points at, as Task links: only when exactly one record
 * matched (several: the agent picks, nothing is guessed). The result maps record ids to
 * `{ Id, Name, RecordType, … }` (Lightning; `object` in older answers), plus `SCREEN_POP_DATA`
 * when deferred.
 */
export function searchLinks(returnValue) {
  if (!returnValue || typeof returnValue !== "object") return {};
  const records = Object.entries(returnValue).filter(([k, v]) => k !== "SCREEN_POP_DATA" && v && typeof v === "object");
  if (records.length !== 1) return {};
  const [key, rec] = records[0];
  return linksFor(rec.RecordType ?? rec.object, rec.Id ?? key, rec.PersonContactId);
}

/** Task links for the record a click-to-dial came from (the onClickToDial payload). */
export function clickLinks(payload) {
  if (!payload) return {};
  return linksFor(payload.objectType, payload.recordId, payload.personAccount ? payload.contactId : undefined);
}

/** Leg outcomes worth a Task: the agent talked, or placed the call (answered or not). */
const LOGGED = new Set(["answered_by_me", "picked_up", "placed"]);

const CALL_TYPE = { inbound: "Inbound", outbound: "Outbound", internal: "Internal" };

/** YYYY-MM-DD of an ISO time in the browser's time zone (Task.ActivityDate is a date). */
export function localDate(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function label(party) {
  if (!party) return "unknown";
  const number = partyNumber(party);
  // A display that is only the number in another format is not a name.
  const name = party.name ?? (party.display && /\p{L}/u.test(party.display) ? party.display : null);
  return name && number ? `${name} (${number})` : (name ?? number ?? party.display ?? "unknown");
}

/**
 * The `saveLog` value for an ended call, or null when this user's part is not worth a Task
 * (rang and was not taken, or no leg of theirs). `links` are WhoId/WhatId; `callIdField` names
 * the field for the ctibridge callId; `ivrNames` go into the description.
 */
export function taskFor(call, userId, { links = {}, callIdField = "CallObject", ivrNames = [] } = {}) {
  const leg = myLeg(call, userId);
  if (!leg || !LOGGED.has(leg.outcome)) return null;
  const other = otherParty(call, userId);
  const subject =
    call.direction === "internal" ? `Internal call with ${label(other)}` : leg.placed ? `Outbound call to ${label(other)}` : `Inbound call from ${label(other)}`;
  const lines = [`ctibridge call ${call.callId}`, `From: ${label(call.from)}`, `To: ${label(call.to)}`];
  if (call.queue) lines.push(`Queue: ${call.queue}`);
  for (const name of ivrNames) if (call.ivr?.[name]) lines.push(`${name}: ${call.ivr[name]}`);
  lines.push(`Outcome: ${call.outcome ?? "unknown"} (${leg.outcome})`);
  if (call.annotation?.comment) lines.push(`Comment: ${call.annotation.comment}`);
  return {
    entityApiName: "Task",
    Subject: subject,
    TaskSubtype: "Call",
    Status: "Completed",
    CallType: CALL_TYPE[call.direction] ?? "Inbound",
    CallDurationInSeconds: Math.round(leg.talkSeconds ?? call.times?.talkSeconds ?? 0),
    CallDisposition: call.annotation?.disposition ?? call.outcome ?? leg.outcome,
    ActivityDate: localDate(call.times?.started ?? leg.ringingAt ?? new Date().toISOString()),
    [callIdField]: call.callId,
    Description: lines.join("\n"),
    ...links,
  };
}

/** A number from Salesforce (`(415) 555-1212`) as ctibridge's `dial` takes it: digits, * # and a leading +. */
export function dialable(number) {
  const n = String(number ?? "").replace(/[\s().\/-]/g, "");
  return /^\+?[0-9*#]+$/.test(n) ? n : null;
}

/** The call the panel shows: this user's active call, a ringing one first. */
export function currentCall(calls, userId) {
  const mine = [...calls].filter((c) => {
    const leg = myLeg(c, userId);
    return leg !== null && leg.state !== "ended" && c.state !== "ended";
  });
  return mine.find((c) => myLeg(c, userId).state === "ringing") ?? mine[0] ?? null;
}

/**
 * The JWT in a token answer: the token itself, or { "token": "…" } (JSON text from Apex, an
 * object from the token endpoint). Empty: the user has no ctibridge identity, said plainly.
 */
export function tokenFrom(answer) {
  let v = answer;
  if (typeof v === "string") {
    const text = v.trim();
    if (text !== "" && !text.startsWith("{") && !text.startsWith('"')) return text;
    v = text === "" ? null : JSON.parse(text);
    if (typeof v === "string" && v !== "") return v;
  }
  if (v && typeof v.token === "string" && v.token !== "") return v.token;
  throw new Error("no ctibridge token for this user (is the Salesforce user mapped to a ctibridge user?)");
}
