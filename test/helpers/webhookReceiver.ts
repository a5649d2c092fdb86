/**
 * A webhook receiver on 127.0.0.1: a real HTTP server that records every request (headers,
 * raw body) in arrival order and answers as the test says: a status, or `hang` (never answer,
 * the sender's timeout fires). It can stop listening (connection refused) and listen again
 * on the same port (the target recovers).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface Received {
  n: number;
  headers: IncomingMessage["headers"];
  body: string;
  json: { id: string; type: string; ts: string; webhook: string; call: { callId: string } & Record<string, unknown> } & Record<string, unknown>;
  /** What the receiver answered: a status, or "hang". */
  answer: number | "hang";
}

export type Answer = number | "hang";

export class WebhookReceiver {
  readonly received: Received[] = [];
  port = 0;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly held: ServerResponse[] = [];
  /** Decides the answer to each request (n: 0-based arrival number). Default 200. */
  answer: (n: number, r: Omit<Received, "answer" | "n">) => Answer = () => 200;

  async listen(port = this.port): Promise<number> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const n = this.received.length;
        const r = { headers: req.headers, body, json: JSON.parse(body) as Received["json"] };
        const answer = this.answer(n, r);
        this.received.push({ n, ...r, answer });
        if (answer === "hang") return void this.held.push(res);
        res.writeHead(answer, { "content-type": "text/plain" });
        res.end(answer >= 200 && answer < 300 ? "ok" : "receiver says no");
      });
    });
    server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this.port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Answer every held request now with `status`. */
  release(status = 200): void {
    for (const res of this.held.splice(0)) if (!res.destroyed) res.writeHead(status).end("ok");
  }

  /** Stop listening and drop every connection (the port then refuses). */
  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((r) => s.close(() => r()));
  }

  /** Received requests that got a 2xx. */
  delivered(): Received[] {
    return this.received.filter((r) => typeof r.answer === "number" && r.answer >= 200 && r.answer < 300);
  }
}
