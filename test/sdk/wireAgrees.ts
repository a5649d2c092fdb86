/**
 * The SDK's hand-written wire types (packages/client/src/wire.ts, no runtime dependency) and the
 * protocol schema's inferred types (src/publish/schema.ts) are the same types: checked by the
 * compiler in `npm test`'s typecheck, so neither side can drift.
 */
import type * as S from "../../src/publish/schema.js";
import type * as W from "../../packages/client/src/wire.js";

type Eq<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const agrees: [
  Eq<S.Call, W.Call>,
  Eq<S.Leg, W.Leg>,
  Eq<S.Party, W.Party>,
  Eq<S.AgentState, W.AgentState>,
  Eq<S.UserInfo, W.UserInfo>,
  Eq<S.ServerMessage, W.ServerMessage>,
  Eq<S.ClientMessage, W.ClientMessage>,
  Eq<S.CommandData, W.CommandData>,
] = [true, true, true, true, true, true, true, true];
