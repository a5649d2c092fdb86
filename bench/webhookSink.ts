/**
 * The fast webhook receiver of bench/webhooks.ts, in its own process (its CPU never counts
 * against the daemon's): 127.0.0.1 port 0, reads each body, answers 204, counts. Tells the
 * parent its port over IPC; `count` asks how many requests it answered.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

let n = 0;
const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on("end", () => {
    n++;
    res.writeHead(204).end();
  });
});
server.listen(0, "127.0.0.1", () => process.send?.({ type: "port", port: (server.address() as AddressInfo).port }));
process.on("message", (m: { type: string }) => {
  if (m.type === "count") process.send?.({ type: "count", n });
});
process.on("disconnect", () => process.exit(0));
