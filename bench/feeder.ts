/**
 * The loopback "PBX" that serves the benchmark stream: a banner, a `Response: Success` to
 * whatever Login the client sends (asterisk-manager will not start without it), then the
 * stream file piped to the socket, then FIN.
 *
 * It runs in its own process so that the sender's CPU time and memory never count against
 * the client being measured; the file comes from the page cache, so it is not the bottleneck.
 */
import { fork, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BANNER, loginResponse } from "./stream.js";

const LOGIN_TIMEOUT_MS = 5_000;
/** A login is a few hundred bytes; anything bigger is not a client we are benchmarking. */
const MAX_LOGIN_BYTES = 16 * 1024;
const READ_BYTES = 1024 * 1024;

export interface Feeder {
  readonly port: number;
  stop(): void;
}

/** Starts the feeder child process and resolves once it listens on 127.0.0.1. */
export function startFeeder(streamPath: string): Promise<Feeder> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [streamPath], { stdio: "inherit" });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error("feeder did not start within 10 s"));
    }, 10_000);
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`feeder exited early (code ${code})`)));
    child.once("message", (msg: unknown) => {
      clearTimeout(timer);
      const port = (msg as { port?: unknown }).port;
      if (typeof port !== "number") return reject(new Error("feeder sent no port"));
      child.removeAllListeners("exit");
      resolve({ port, stop: () => child.kill() });
    });
  });
}

function serve(streamPath: string): void {
  const server = createServer((socket) => handle(socket, streamPath));
  server.listen(0, "127.0.0.1", () => {
    const addr = server.address();
    process.send?.({ port: typeof addr === "object" && addr ? addr.port : 0 });
  });
  // The parent going away (normal end or crash) ends the feeder too.
  process.on("disconnect", () => process.exit(0));
}

function handle(socket: Socket, streamPath: string): void {
  socket.setNoDelay(true);
  socket.on("error", () => socket.destroy());
  socket.write(BANNER);
  let pending = "";
  const timer = setTimeout(() => socket.destroy(), LOGIN_TIMEOUT_MS);
  const onData = (chunk: Buffer) => {
    pending += chunk.toString("latin1");
    const end = pending.search(/\r?\n\r?\n/);
    if (end < 0) {
      if (pending.length > MAX_LOGIN_BYTES) socket.destroy();
      return;
    }
    clearTimeout(timer);
    socket.off("data", onData);
    // Whatever the client sends after its Login (asterisk-manager sends nothing) is drained.
    socket.resume();
    const actionId = /^ActionID: *(.*?)\r?$/im.exec(pending.slice(0, end))?.[1];
    socket.write(loginResponse(actionId));
    pump(socket, streamPath);
  };
  socket.on("data", onData);
}

/**
 * Writes the file to the socket, reading it synchronously 1 MiB at a time whenever the socket
 * accepts more. Page-cache reads of that size take well under a millisecond, so the sender
 * outruns the fastest reader; a fs.ReadStream pipe, measured, capped loopback near 0.4 GB/s.
 */
function pump(socket: Socket, streamPath: string): void {
  const fd = openSync(streamPath, "r");
  let done = false;
  const finish = () => {
    if (!done) closeSync(fd);
    done = true;
  };
  socket.once("close", finish);
  const next = (): void => {
    while (!done) {
      const buf = Buffer.allocUnsafe(READ_BYTES);
      const n = readSync(fd, buf, 0, READ_BYTES, null);
      if (n === 0) {
        finish();
        socket.end();
        return;
      }
      if (!socket.write(n === READ_BYTES ? buf : buf.subarray(0, n))) {
        socket.once("drain", next);
        return;
      }
    }
  };
  next();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const path = process.argv[2];
  if (path === undefined) throw new Error("usage: feeder.js STREAM_FILE");
  serve(path);
}
