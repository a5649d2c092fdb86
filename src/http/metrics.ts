/** The Prometheus registry: default process metrics plus what each part registers on it. */
import type { ServerResponse } from "node:http";
import { Registry, collectDefaultMetrics } from "prom-client";

export function createRegistry(opts: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "ctibridge_" });
  return registry;
}

export async function serveMetrics(registry: Registry, res: ServerResponse): Promise<void> {
  const text = await registry.metrics();
  res.writeHead(200, { "Content-Type": registry.contentType, "Cache-Control": "no-store" });
  res.end(text);
}
