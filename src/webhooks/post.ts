/**
 * One webhook attempt: POST the body, wait for the status line within the timeout, read at
 * most a small part of the response body (kept for `last_error`), never follow a redirect.
 */
import http from "node:http";
import https from "node:https";

export type PostResult = { ok: true; status: number } | { ok: false; status: number | null; error: string };

/** Response bytes read (and kept as the error text of a failure); past it the connection is dropped. */
const BODY_CAP = 4096;

export interface PostOptions {
  url: URL;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  agent: http.Agent;
  /** Receives the request so that stop() can abort it. */
  track?: (abort: () => void) => void;
}

export function post(o: PostOptions): Promise<PostResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const mod = o.url.protocol === "https:" ? https : http;
    const req = mod.request(o.url, { method: "POST", agent: o.agent, headers: { ...o.headers, "content-length": String(Buffer.byteLength(o.body)) } }, (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        if (size < BODY_CAP) chunks.push(c);
        size += c.length;
        if (size > BODY_CAP) {
          res.destroy();
          finish();
        }
      });
      const finish = () => {
        const text = Buffer.concat(chunks).toString("utf8").slice(0, 200);
        if (status >= 200 && status < 300) done({ ok: true, status });
        else if (status >= 300 && status < 400) done({ ok: false, status, error: `HTTP ${status} redirect not followed${res.headers.location ? ` (to ${res.headers.location})` : ""}` });
        else done({ ok: false, status, error: `HTTP ${status}${text ? `: ${text.replace(/\s+/g, " ").trim()}` : ""}` });
      };
      res.on("end", finish);
      res.on("error", () => finish());
      res.on("close", finish);
    });
    const timer = setTimeout(() => {
      req.destroy();
      done({ ok: false, status: null, error: `timeout after ${o.timeoutMs} ms` });
    }, o.timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) => done({ ok: false, status: null, error: err.code ?? err.message }));
    o.track?.(() => {
      req.destroy();
      done({ ok: false, status: null, error: "aborted" });
    });
    req.end(o.body);
  });
}
