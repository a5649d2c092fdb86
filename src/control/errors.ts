/**
 * The one table of call-control error codes (`command.result.error.code`). Front ends switch
 * on the code; the message is for people and may carry the PBX's own words.
 */

export const COMMAND_ERRORS = {
  invalid_argument: "the command or its arguments are invalid",
  unknown_action: "no such action",
  disabled: "call control is disabled on this server",
  forbidden: "not allowed for this user",
  not_found: "no such call",
  invalid_state: "the call is not in a state that allows this",
  no_channel: "the call has no live channel this user can act on",
  not_supported: "not supported with this PBX configuration",
  pbx_unavailable: "the PBX is not connected",
  pbx_rejected: "the PBX refused the action",
  pbx_timeout: "the PBX did not answer in time",
  rate_limited: "too many commands of this kind; try again later",
  internal: "internal error",
} as const;

export type CommandErrorCode = keyof typeof COMMAND_ERRORS;

export class CommandError extends Error {
  /** The call the failed command had already created (a dial), for its log line. */
  callId?: string;
  constructor(
    readonly code: CommandErrorCode,
    message: string = COMMAND_ERRORS[code],
  ) {
    super(message);
    this.name = "CommandError";
  }
}

/**
 * Map whatever the AMI side threw (AmiClientError / AmiCodecError, matched by their `code`)
 * onto our table. The PBX's `Message:` is passed on when there is one.
 */
export function fromAmiError(err: unknown): CommandError {
  if (err instanceof CommandError) return err;
  const e = err as { code?: unknown; message?: unknown; response?: { headers?: Record<string, unknown> } };
  const pbxMessage = e.response?.headers?.Message;
  switch (e.code) {
    case "AMI_TIMEOUT":
      return new CommandError("pbx_timeout");
    case "AMI_NOT_CONNECTED":
    case "AMI_DISCONNECTED":
      return new CommandError("pbx_unavailable");
    case "AMI_ACTION_FAILED":
      return new CommandError("pbx_rejected", typeof pbxMessage === "string" ? pbxMessage : COMMAND_ERRORS.pbx_rejected);
    case "AMI_INJECTION":
      return new CommandError("invalid_argument", "a value contains a line break");
    default:
      return new CommandError("internal");
  }
}
