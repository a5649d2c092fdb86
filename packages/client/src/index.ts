/** @ctibridge/client: the ctibridge WebSocket protocol for browsers and Node (see docs/sdk.md). */
export { connect } from "./client.js";
export type { ClientOptions, CtiClient, LogLevel, WebSocketConstructor, WebSocketLike } from "./client.js";
export { CommandError, CtiError } from "./errors.js";
export type { ClientEvents, ConnectionStatus, EventName, Listener } from "./events.js";
export { backoffDelay } from "./backoff.js";
export { SUBPROTOCOL } from "./wire.js";
export type * from "./wire.js";
