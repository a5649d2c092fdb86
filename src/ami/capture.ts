/**
 * Support tooling: `ctibridge capture` records the raw bytes a PBX sends on one AMI
 * connection (the same format as test/fixtures/ami/*.ami), and `ctibridge decode` turns
 * such a file into one JSON line per message, streaming (captures can be gigabytes).
 */
import { createReadStream, createWriteStream } from "node:fs";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { AmiDecoder, encodeAction, header, type AmiMessage } from "./codec.js";
import type { AmiClientOptions } from "./client.js";
import { loginFields, openAmiSocket } from "./transport.js";

export type CaptureAmiOptions = Pick<
  AmiClientOptions,
  "host" | "port" | "username" | "secret" | "tls" | "md5Login" | "actionTimeoutMs" | "connectTimeoutMs" | "maxMessageBytes" | "connect"
>;

export interface CaptureOptions {
  ami: CaptureAmiOptions;
  out: string;
  /** Stop after this many seconds; absent: until the signal aborts. */
  durationS?: number;
  signal?: AbortSignal;
  log: Logger;
}

/** One message as a plain JSON object: headers as keys, repeated headers as arrays. */
export function messageToJson(msg: AmiMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { ...msg.headers };
  if (msg.chanVariables) out.ChanVariable = msg.chanVariables;
  if (msg.destChanVariables) out.DestChanVariable = msg.destChanVariables;
  if (msg.rawLines) out.rawLines = msg.rawLines;
  // A `Response: Follows` reply's command output (Asterisk 14+'s `Output:` headers are above).
  if (msg.get("Response") === "Follows" && msg.output) out.output = msg.output;
  return out;
}

/** Stream a capture file and write each message as one JSON line; resolves with the count. */
export async function decodeToLines(path: string, write: (line: string) => void): Promise<number> {
  // No cap worth the name here: a capture is trusted input, but keep memory bounded.
  const decoder = new AmiDecoder({ maxMessageBytes: 64 * 1024 * 1024, now: () => 0 });
  let count = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) {
    for (const msg of decoder.push(chunk as Buffer)) {
      write(JSON.stringify(messageToJson(msg)));
      count++;
    }
  }
  return count;
}

/**
 * Connect, log in with `Events: on`, and write every received byte (banner included) to
 * `out` until the duration elapses or the signal aborts; then Logoff and wait briefly for
 * the Goodbye so the capture ends like the recorded traces do.
 */
export async function captureAmi(opts: CaptureOptions): Promise<{ bytes: number }> {
  const { ami, log } = opts;
  const file = createWriteStream(opts.out);
  const decoder = new AmiDecoder({ maxMessageBytes: ami.maxMessageBytes });
  const socket = openAmiSocket(ami);
  let bytes = 0;
  let sentLogin = false;
  let loggedIn = false;
  const timers: ReturnType<typeof setTimeout>[] = [];
  const stopSignals: Array<() => void> = [];
  const challenge = deferred<string>();
  const login = async (s: Socket, a: CaptureAmiOptions) => {
    let ch: string | undefined;
    if (a.md5Login) {
      s.write(encodeAction("Challenge", [["AuthType", "MD5"], ["ActionID", "capture-challenge"]]));
      ch = await challenge.promise;
    }
    s.write(encodeAction("Login", [...loginFields(a.username, a.secret ?? "", ch), ["ActionID", "capture-login"]]));
  };

  const done = new Promise<void>((resolve, reject) => {
    let finished = false;
    const finish = (err?: Error) => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearTimeout(t);
      for (const off of stopSignals) off();
      socket.destroy();
      file.end(() => (err ? reject(err) : resolve()));
    };
    const logoff = () => {
      if (!loggedIn || socket.destroyed) return finish();
      socket.write(encodeAction("Logoff", [["ActionID", "capture-logoff"]]));
      timers.push(setTimeout(() => finish(), ami.actionTimeoutMs));
    };
    timers.push(setTimeout(() => !sentLogin && finish(new Error(`no AMI banner from ${ami.host}:${ami.port}`)), ami.connectTimeoutMs));
    if (opts.durationS !== undefined) timers.push(setTimeout(logoff, opts.durationS * 1000));
    if (opts.signal) {
      if (opts.signal.aborted) timers.push(setTimeout(logoff, 0));
      const onAbort = () => logoff();
      opts.signal.addEventListener("abort", onAbort, { once: true });
      stopSignals.push(() => opts.signal!.removeEventListener("abort", onAbort));
    }
    socket.on("error", (err) => finish(err));
    socket.on("close", () => finish());
    socket.on("data", (chunk: Buffer) => {
      file.write(chunk);
      bytes += chunk.length;
      let msgs: AmiMessage[];
      try {
        msgs = decoder.push(chunk);
      } catch (err) {
        return finish(err as Error);
      }
      if (!sentLogin && decoder.bannerVersion !== undefined) {
        sentLogin = true;
        void login(socket, ami).catch((err: Error) => finish(err));
      }
      for (const m of msgs) {
        const id = header(m, "ActionID");
        if (id === "capture-login" && header(m, "Response") === "Success") {
          loggedIn = true;
          log.info({ host: ami.host, port: ami.port, out: opts.out }, "ami capture started");
        } else if (id === "capture-login") {
          log.error({ username: ami.username, host: ami.host, port: ami.port, message: header(m, "Message") }, "ami login failed");
          finish(new Error(`AMI login failed for ${ami.username} at ${ami.host}:${ami.port}`));
        } else if (id === "capture-challenge") {
          challenge.resolve(header(m, "Challenge") ?? "");
        } else if (id === "capture-logoff") finish();
      }
    });
  });
  await done;
  log.info({ out: opts.out, bytes }, "ami capture finished");
  return { bytes };
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
