/** The two error classes of the SDK; both carry a `code` a program can switch on. */

/**
 * A connection-level problem or a server `error` frame not tied to a command. Codes: the
 * server's error codes (`rate_limited`, `invalid_argument` …), and the SDK's own
 * `unauthorized` (HTTP 401/403 on the upgrade, close 4001), `token_expired` (4003 with a fixed
 * token), `superseded` (4009), `token_failed` (getToken threw), `bad_frame`, `listener_failed`.
 */
export class CtiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "CtiError";
  }
}

/**
 * A command that did not succeed: the server's code (`forbidden`, `not_found`, `pbx_rejected`
 * …), or `timeout` (no result within commandTimeoutMs), `disconnected` (the socket dropped, or
 * was not open, before a result), `too_many_pending` (maxPendingCommands in flight).
 */
export class CommandError extends CtiError {
  constructor(
    code: string,
    message: string,
    readonly commandId: string | null,
  ) {
    super(code, message);
    this.name = "CommandError";
  }
}
