/** One attempt (post.ts) against a real server on 127.0.0.1: redirects, large bodies, timeouts. */
import http, { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { post } from "../../src/webhooks/post.js";

let server: Server | null = null;
afterEach(() => new Promise<void>((r) => (server ? (server.closeAllConnections(), server.close(() => r())) : r())));

async function serve(handler: http.RequestListener): Promise<URL> {
  server = createServer(handler);
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
}

const attempt = (url: URL, timeoutMs = 2000) => post({ url, body: '{"id":"x"}', headers: { "content-type": "application/json" }, timeoutMs, agent: new http.Agent({ keepAlive: true }) });

describe("one webhook attempt", () => {
  it("a 2xx is success; the body sent is the body given", async () => {
    let got = "";
    const url = await serve((req, res) => {
      req.on("data", (c) => (got += c));
      req.on("end", () => res.writeHead(202).end("accepted"));
    });
    expect(await attempt(url)).toEqual({ ok: true, status: 202 });
    expect(got).toBe('{"id":"x"}');
  });

  it("a redirect is not followed: a failed attempt naming where it pointed", async () => {
    let requests = 0;
    const url = await serve((req, res) => {
      requests++;
      req.resume();
      res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end();
    });
    expect(await attempt(url)).toEqual({ ok: false, status: 302, error: "HTTP 302 redirect not followed (to http://169.254.169.254/latest/meta-data/)" });
    expect(requests).toBe(1);
  });

  it("a huge error body is cut: at most 4 KiB read, 200 characters kept", async () => {
    const url = await serve((req, res) => {
      req.resume();
      res.writeHead(500);
      res.write("e".repeat(64 * 1024));
      // Never ends: only the cap can finish the attempt.
    });
    const r = await attempt(url, 10_000);
    expect(r.ok).toBe(false);
    expect(r).toMatchObject({ status: 500 });
    expect((r as { error: string }).error).toBe(`HTTP 500: ${"e".repeat(200)}`);
  });

  it("no answer within the timeout is a failure", async () => {
    const url = await serve(() => undefined);
    expect(await attempt(url, 100)).toEqual({ ok: false, status: null, error: "timeout after 100 ms" });
  });

  it("a status line but no end of body within the timeout is a failure too", async () => {
    const url = await serve((req, res) => {
      req.resume();
      res.writeHead(200);
      res.write("partial");
    });
    expect(await attempt(url, 200)).toMatchObject({ ok: false });
  });
});
