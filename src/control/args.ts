/**
 * Argument schemas of the allowed actions. Every value that can reach the PBX is refused
 * when it holds CR, LF or NUL (header injection: a second, hostile AMI action hidden in a
 * value); the codec refuses them again. Destinations are digits, `*`, `#` and a leading `+`.
 */
import { z } from "zod";

const LINE_BREAK = /[\r\n\0]/;
const NUL = /\0/;

/** One-line text: no CR, LF or NUL. */
const line = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !LINE_BREAK.test(s), { error: "line breaks are not allowed" });

const callId = line(128).min(1);
const queue = line(64).regex(/^[A-Za-z0-9_.@-]+$/, { error: "expected a queue name" });
const device = line(128).min(1);

/**
 * A number to dial: spaces, dashes, dots, slashes and parentheses are dropped (people paste
 * `+49 (30) 123-456`), then it must be `+`? followed by digits, `*`, `#`.
 */
export function destination(maxDigits: number) {
  return line(64)
    .transform((s) => s.replace(/[ ().\-/]/g, ""))
    .pipe(
      z
        .string()
        .min(1, { error: "empty destination" })
        .max(maxDigits, { error: `at most ${maxDigits} digits` })
        .regex(/^\+?[0-9*#]+$/, { error: "only digits, *, # and a leading + are allowed" }),
    );
}

/**
 * An annotation, the same on the WebSocket and REST: an absent field keeps its stored value,
 * `null` clears it. A CRM note may span lines: it goes to the call log, never to the PBX.
 */
const annotationFields = {
  recordId: line(256).min(1).nullable().optional(),
  comment: z
    .string()
    .max(4000)
    .refine((s) => !NUL.test(s), { error: "NUL is not allowed" })
    .nullable()
    .optional(),
  disposition: line(64).min(1).nullable().optional(),
};
const ANNOTATION_EMPTY = "give a recordId, a comment or a disposition";
const givesAField = (a: { recordId?: unknown; comment?: unknown; disposition?: unknown }) =>
  a.recordId !== undefined || a.comment !== undefined || a.disposition !== undefined;

/** The body of `POST /api/calls/:id/annotate`: the `call.annotate` arguments without `callId`. */
export const annotationBody = z.strictObject(annotationFields).refine(givesAField, { error: ANNOTATION_EMPTY });

/** The body of `POST /api/calls/:id/done`: `{}` or `{ user }` (supervisors). */
export const doneBody = z.strictObject({ user: line(128).min(1).optional() });

export function argSchemas(maxDigits: number) {
  const to = destination(maxDigits);
  return {
    dial: z.strictObject({ to, device: device.optional() }),
    hangup: z.strictObject({ callId }),
    transfer: z.strictObject({ callId, to, kind: z.enum(["blind", "attended"]) }),
    hold: z.strictObject({ callId }),
    unhold: z.strictObject({ callId }),
    "queue.pause": z.strictObject({ queue: queue.optional(), reason: line(80).optional() }),
    "queue.unpause": z.strictObject({ queue: queue.optional() }),
    "queue.login": z.strictObject({ queue, device: device.optional() }),
    "queue.logout": z.strictObject({ queue, device: device.optional() }),
    "call.annotate": z.strictObject({ callId, ...annotationFields }).refine(givesAField, { error: ANNOTATION_EMPTY }),
    "call.done": z.strictObject({ callId, user: line(128).min(1).optional() }),
    "agent.ready": z.strictObject({}),
  } as const;
}

export type ArgSchemas = ReturnType<typeof argSchemas>;
export type ActionName = keyof ArgSchemas;
export type ArgsOf<A extends ActionName> = z.output<ArgSchemas[A]>;

/** `path: message` of the first problem, for `invalid_argument`. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return "invalid arguments";
  const path = issue.path.map(String).join(".");
  return path === "" ? issue.message : `${path}: ${issue.message}`;
}
