/** The CLI in-process, with a fake `io` (no process.exit, output captured). */
import { buildCli, type CliIo } from "../../src/cli/cli.js";

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ out: string; err: string; code: number }> {
  let out = "";
  let err = "";
  let code = 0;
  const io: CliIo = {
    env,
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    isTTY: false,
    onSignal: () => undefined,
    exit: (c) => {
      throw new Exit(c);
    },
  };
  try {
    await buildCli(io).parseAsync(["node", "ctibridge", ...args]);
  } catch (e) {
    if (e instanceof Exit) code = e.code;
    else if ((e as { exitCode?: number }).exitCode !== undefined) code = (e as { exitCode: number }).exitCode;
    else throw e;
  }
  return { out, err, code };
}
