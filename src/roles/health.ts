/** /healthz: ok only while the PBX link is logged in and the store takes writes (CallLogWriter.checkWritable). */
import type { CallLogWriter } from "../store/callLog.js";

export interface HealthParts {
  pbxUp: boolean;
  /** Since when the PBX link is down (null while up). */
  pbxDownSince: number | null;
  writer: Pick<CallLogWriter, "checkWritable" | "failingSince" | "backlog">;
  /** The archive to the record store (store.kind postgres), when there is one. */
  archive?: { readonly failingSince: number | null; readonly backlog: number } | null;
  activeCalls: number;
  clients: number;
  now: () => number;
}

export function healthReport(p: HealthParts): Record<string, unknown> {
  const iso = (ms: number) => new Date(ms).toISOString();
  p.writer.checkWritable();
  const failing = p.writer.failingSince;
  const archiveFailing = p.archive?.failingSince ?? null;
  return {
    status: p.pbxUp && failing === null && archiveFailing === null ? "ok" : "failing",
    pbx: p.pbxUp ? "connected" : `disconnected since ${iso(p.pbxDownSince ?? p.now())}`,
    store: failing === null ? "ok" : `write failing since ${iso(failing)}, ${p.writer.backlog} calls pending`,
    ...(p.archive ? { archive: archiveFailing === null ? "ok" : `write failing since ${iso(archiveFailing)}, ${p.archive.backlog} calls pending` } : {}),
    activeCalls: p.activeCalls,
    clients: p.clients,
  };
}
