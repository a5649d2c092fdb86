/**
 * docs/protocol.schema.json, generated from the zod schema (schema.ts) by `npm run schema`; a
 * test fails when the committed file is not what this produces. One JSON Schema (draft
 * 2020-12) document whose `$defs` name every frame union and the call object's parts.
 *
 * Unlike the zod schema, which is strict so the tests catch anything undocumented the server
 * sends, the published one lets server → client objects carry additional properties: new
 * fields are not a version change, and a client validating with it must keep working when they
 * appear. Client → server frames stay strict, as the server checks them.
 */
import { z } from "zod";
import * as S from "./schema.js";

/** The named definitions, as `$defs` (every schema with a `meta({ id })` in schema.ts). */
const NAMED: Record<string, z.ZodType> = {
  ServerMessage: S.serverMessage,
  ClientMessage: S.clientMessage,
  Call: S.call,
  Leg: S.leg,
  Party: S.party,
  AnsweredBy: S.phone,
  Times: S.times,
  Transfer: S.transfer,
  Park: S.park,
  Match: S.match,
  ContactRecord: S.contactRecord,
  Annotation: S.annotation,
  AgentState: S.agentState,
  UserInfo: S.userInfo,
  AnnotationEntry: S.annotationEntry,
  RestCalls: S.rest.calls,
  RestAnnotate: S.rest.annotate,
  RestAnnotations: S.rest.annotations,
  RestError: S.rest.error,
};

const CLIENT: ReadonlySet<unknown> = new Set(Object.values(S.clientSchemas));

export function protocolJsonSchema(): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(NAMED)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: "draft-2020-12",
    io: "output",
    uri: (id) => `#/$defs/${id}`,
    override: (ctx) => {
      // Server → client objects may grow; client frames stay strict (the server refuses unknown fields).
      if (ctx.jsonSchema.additionalProperties === false && !CLIENT.has(ctx.zodSchema)) delete ctx.jsonSchema.additionalProperties;
    },
  });
  const defs: Record<string, unknown> = {};
  for (const [id, s] of Object.entries(schemas)) {
    const { $schema: _s, $id: _i, ...rest } = s as Record<string, unknown>;
    defs[id] = rest;
  }
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: `ctibridge WebSocket protocol v${S.PROTOCOL_VERSION}`,
    description:
      "Generated from src/publish/schema.ts by `npm run schema`; do not edit. Frames server → client: #/$defs/ServerMessage; " +
      "client → server: #/$defs/ClientMessage; the call object (WebSocket and GET /api/calls): #/$defs/Call; REST bodies: #/$defs/Rest*. " +
      "Objects may gain fields within a version: ignore unknown fields and unknown frame types (docs/protocol.md, Compatibility).",
    $defs: defs,
  };
}

/** The file's exact text. */
export function protocolJsonSchemaText(): string {
  return `${JSON.stringify(protocolJsonSchema(), null, 2)}\n`;
}
