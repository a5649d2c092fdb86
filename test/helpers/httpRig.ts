/** A real HTTP server (createHttpApi on 127.0.0.1, port 0) with a given config, and a plain request helper. */
import { request, type IncomingHttpHeaders } from "node:http";
import { configSchema } from "../../src/config.js";
import { createHttpApi, type HttpApi } from "../../src/http/server.js";
import { createRegistry } from "../../src/http/metrics.js";
import { memoryLogger } from "../../src/log.js";
import { CtiServer } from "../../src/publish/server.js";
import { openDb, type Db } from "../../src/store/db.js";
import { SECRET, USERS } from "./cti.js";

export interface HttpRig {
  port: number;
  close(): Promise<void>;
}

/** `extra`: other top-level config sections (e.g. `salesforce`). */
export async function startHttp(server: Record<string, unknown>, webDir: string | null, extra: Record<string, unknown> = {}): Promise<HttpRig> {
  const config = configSchema.parse({ auth: { jwtSecret: SECRET }, server: { port: 0, ...server }, ...extra });
  const { log } = memoryLogger("silent");
  const db: Db = openDb(":memory:");
  const users = new Map(USERS.map((u) => [u.id, u]));
  const registry = createRegistry({ defaultMetrics: false });
  const cti = new CtiServer({ config, log, db, directory: { getUser: (id) => users.get(id), listUsers: () => USERS }, activeCalls: () => [], onCommand: async () => ({ ok: true }), version: "9.9.9", registry });
  const api: HttpApi = createHttpApi({
    config, log, cti, registry, version: "9.9.9", webDir,
    health: () => ({ pbx: { connected: true } }),
    listCalls: () => [],
    annotate: () => ({ ok: true, data: {} }),
    annotations: () => ({ ok: true, data: [] }),
  });
  const port = await api.listen();
  return {
    port,
    async close() {
      await cti.close();
      await api.close();
      db.close();
    },
  };
}

export function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method: "GET", path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end();
  });
}
