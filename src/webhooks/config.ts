/**
 * The `webhooks:` settings (docs/webhooks.md): one entry per CRM back end that wants call
 * events POSTed to it. The URL is operator configuration, never user input (docs/security.md).
 */
import { z } from "zod";

/** The event types a webhook may ask for: the call-level domain events a CRM back end acts on, and annotations. */
export const WEBHOOK_EVENTS = [
  "call.dialing",
  "call.ringing",
  "call.answered",
  "call.held",
  "call.resumed",
  "call.transferred",
  "call.ended",
  "call.missed",
  "call.annotated",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

const httpUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return (u.protocol === "http:" || u.protocol === "https:") && u.username === "" && u.password === "" && u.hostname !== "";
    } catch {
      return false;
    }
  },
  { error: "expected an http:// or https:// URL without user:password (put credentials in the signature secret)" },
);

const ms = (def: number) => z.number({ error: "expected a number of milliseconds" }).int().min(1).default(def);

export const webhookSchema = z
  .object({
    /** Names the target in the outbox, the payload (`webhook`), logs, metrics and the secret's env/credential name. */
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, { error: "expected 1-40 of a-z 0-9 _ - (starting with a letter or digit)" }),
    url: httpUrl,
    /** Which events: call.dialing, call.ringing, call.answered, call.held, call.resumed, call.transferred, call.ended, call.missed, call.annotated. */
    events: z.array(z.enum(WEBHOOK_EVENTS, { error: `expected one of ${WEBHOOK_EVENTS.join(", ")}` })).min(1, { error: "name at least one event" }),
    /** Only calls with a leg (or party) of one of these users; absent: every call. */
    users: z.array(z.string().min(1)).optional(),
    /**
     * HMAC-SHA256 key for `X-Ctibridge-Signature`, at least 16 characters. Prefer the environment
     * (CTIBRIDGE_WEBHOOK_SECRET_<NAME>), the systemd credential `webhook-<name>` or `secretFile`.
     */
    secret: z.string().min(16, { error: "expected at least 16 characters" }).optional(),
    secretFile: z.string().optional(),
    /** One attempt (connect, request, response headers) must finish within this. */
    timeoutMs: ms(10_000),
    /** Attempts in all before the event is dead (whichever of maxAttempts and retryForHours comes first). */
    maxAttempts: z.number().int().min(1).max(10_000).default(100),
    /** How long after the event (or a `webhooks retry`) attempts go on before it is dead. */
    retryForHours: z.number({ error: "expected a number of hours" }).positive().max(24 * 365).default(24),
    /** First retry after about this long, doubling each time (±20 % jitter) ... */
    minDelayMs: ms(1_000),
    /** ... up to this interval. */
    maxDelayMs: ms(3_600_000),
    /** Requests in flight to this target at once (events of one call always go one at a time, in order). */
    concurrency: z.number().int().min(1).max(256).default(4),
  })
  .strict();

export type WebhookConfig = z.infer<typeof webhookSchema>;

/** The environment variable that may hold a webhook's secret: `crm-main` → CTIBRIDGE_WEBHOOK_SECRET_CRM_MAIN. */
export function secretEnvName(name: string): string {
  return `CTIBRIDGE_WEBHOOK_SECRET_${name.toUpperCase().replace(/-/g, "_")}`;
}
