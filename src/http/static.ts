/**
 * The reference CTI panel from `web/`: GET/HEAD only, `/` → `/index.html`, and no path may
 * leave the folder (decoded, normalised, then checked against the root). Every response
 * carries the panel's security headers (`panelHeaders`).
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, resolve, sep } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".woff2": "font/woff2",
};

/**
 * The panel's Content-Security-Policy and companions. The panel is two scripts and one
 * stylesheet of its own, no inline code, and talks only to the ctibridge that served it; a
 * caller name or contact record that slipped past its text-only rendering still could not run
 * a script or send data elsewhere. Only the configured CRM origins (`server.allowedOrigins`)
 * may frame it (clickjacking of Dial/Hang up otherwise). Tokens travel in panel URLs
 * (`?token=` with `allowQueryToken`): no Referer leaves the panel.
 */
export function panelHeaders(allowedOrigins: readonly string[]): Record<string, string> {
  const ancestors = ["'self'", ...allowedOrigins].join(" ");
  return {
    "Content-Security-Policy": [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      `frame-ancestors ${ancestors}`,
    ].join("; "),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  };
}

/** The file for a URL path inside root, or null when the path is malformed or escapes it. */
export function resolveStatic(root: string, pathname: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return null;
  if (decoded.endsWith("/")) decoded += "index.html";
  const base = resolve(root);
  const file = resolve(base, "." + decoded);
  return file.startsWith(base + sep) ? file : null;
}

/** Serve a file; false when there is none (the caller answers 404). */
export async function serveStatic(root: string, req: IncomingMessage, res: ServerResponse, pathname: string, headers: Record<string, string> = panelHeaders([])): Promise<boolean> {
  const file = resolveStatic(root, pathname);
  return file === null ? false : serveFile(file, req, res, headers);
}

/** The path the browser build of the client SDK is served at (packages/client). */
export const SDK_PATH = "/sdk/ctibridge-client.js";

/**
 * The SDK file with the panel's headers. A CRM page on an allowed origin may load it as a
 * module script, which browsers fetch with CORS: that origin is echoed, no other.
 */
export function serveSdk(file: string, req: IncomingMessage, res: ServerResponse, headers: Record<string, string>, allowedOrigins: readonly string[]): Promise<boolean> {
  const origin = req.headers.origin;
  const cors: Record<string, string> = origin !== undefined && allowedOrigins.includes(origin) ? { "Access-Control-Allow-Origin": origin, Vary: "Origin" } : {};
  return serveFile(file, req, res, { ...headers, ...cors });
}

/** One file, GET or HEAD; false when it is not there. */
export async function serveFile(file: string, req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): Promise<boolean> {
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) return false;
    size = st.size;
  } catch {
    return false;
  }
  res.writeHead(200, {
    "Content-Type": TYPES[extname(file).toLowerCase()] ?? "application/octet-stream",
    "Content-Length": size,
    "Cache-Control": "no-cache",
    ...headers,
  });
  if (req.method === "HEAD") {
    res.end();
    return true;
  }
  await new Promise<void>((done) => {
    const stream = createReadStream(file);
    stream.on("error", () => {
      res.destroy();
      done();
    });
    stream.on("end", done);
    stream.pipe(res);
  });
  return true;
}
