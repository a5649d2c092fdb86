import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AmiClient, backoffDelay } from "../../src/ami/client.js";
import { header, type AmiMessage } from "../../src/ami/codec.js";
import { clientOptions, memoryLogger, next, startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";

// Only timers are fake: sockets really talk on loopback, backoff and pings move when we say.
let server: AmiServer;
let client: AmiClient;
beforeEach(() => void vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
afterEach(async () => {
  await client?.stop();
  await server?.close();
  vi.useRealTimers();
});

type Reconnecting = [{ attempt: number; delayMs: number }];

async function setup(opts: Parameters<typeof startFakeAmi>[0] = {}, over = {}) {
  server = await startFakeAmi(opts);
  const mem = memoryLogger();
  client = new AmiClient(clientOptions(server.port, mem.log, over));
  const delays: Array<{ attempt: number; delayMs: number }> = [];
  client.on("reconnecting", (r) => delays.push(r));
  return { ...mem, delays };
}

describe("backoffDelay", () => {
  it("doubles from the minimum up to the cap, jitter ±20 % never above the cap", () => {
    const mid = [1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffDelay(a, 500, 30_000, () => 0.5));
    expect(mid).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(backoffDelay(1, 500, 30_000, () => 0)).toBe(400);
    expect(backoffDelay(2, 500, 30_000, () => 1)).toBe(1200);
    expect(backoffDelay(50, 500, 30_000, () => 1)).toBe(30_000);
    expect(backoffDelay(10_000, 500, 30_000, () => 0)).toBe(24_000);
  });
});

describe("AmiClient reconnect", () => {
  it("backs off 500, 1000, 2000, 4000, 4000 while the PBX is down, and resets after login", async () => {
    const { delays } = await setup();
    await server.close(); // nothing listens on the port any more: ECONNREFUSED
    for (let i = 0; i < 5; i++) {
      const r = next<Reconnecting>(client, "reconnecting");
      if (i === 0) client.start();
      else await vi.advanceTimersByTimeAsync(delays.at(-1)!.delayMs);
      await r;
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 4000].map((delayMs, i) => ({ attempt: i + 1, delayMs })));
    await server.listen(); // same port again
    const up = next(client, "connected");
    await vi.advanceTimersByTimeAsync(4000);
    await up;
    const again = next<Reconnecting>(client, "reconnecting");
    server.dropConnections();
    expect((await again)[0]).toEqual({ attempt: 1, delayMs: 500 });
  });

  it("reconnects and logs in again after the connection drops", async () => {
    const { delays } = await setup();
    const first = next(client, "connected");
    client.start();
    await first;
    const gone = next<[{ reason: string }]>(client, "disconnected");
    const up = next(client, "connected");
    server.dropConnections();
    expect((await gone)[0].reason).toBe("connection closed");
    await vi.advanceTimersByTimeAsync(delays[0]!.delayMs);
    await up;
    const logins = server.received.filter((r) => header(r.action, "Action") === "Login");
    expect(logins.map((r) => r.connId)).toEqual([1, 2]);
    expect(client.stats.reconnects).toBe(1);
  });

  it("logs in again after a PBX restart on the same port", async () => {
    await setup();
    const first = next(client, "connected");
    client.start();
    await first;
    const port = server.port;
    const reconnecting = next<Reconnecting>(client, "reconnecting");
    await server.restart();
    const [{ delayMs }] = await reconnecting;
    const up = next(client, "connected");
    await vi.advanceTimersByTimeAsync(delayMs);
    await up;
    expect(server.port).toBe(port);
    expect(client.isConnected).toBe(true);
  });

  it("retries wrong credentials at the capped delay, one error log per attempt", async () => {
    const { delays, lines } = await setup({ acceptLogin: false });
    const failures: unknown[] = [];
    client.on("loginFailed", (f) => failures.push(f));
    for (let i = 0; i < 3; i++) {
      const r = next<Reconnecting>(client, "reconnecting");
      if (i === 0) client.start();
      else await vi.advanceTimersByTimeAsync(4000);
      await r;
    }
    expect(delays.map((d) => d.delayMs)).toEqual([4000, 4000, 4000]);
    const errors = lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatchObject({ msg: "ami login failed", username: "ctibridge", host: "127.0.0.1", port: server.port, message: "Authentication failed" });
    expect(failures).toHaveLength(3);
    expect(JSON.stringify(lines)).not.toContain("s3cret-value");
  });

  it("drops a link whose ping goes unanswered, and keeps one that answers", async () => {
    await setup({ answerPing: false }, { pingIntervalMs: 1000, actionTimeoutMs: 500 });
    const first = next(client, "connected");
    client.start();
    await first;
    const pinged = next(server, "action", (m: AmiMessage) => header(m, "Action") === "Ping");
    await vi.advanceTimersByTimeAsync(1000);
    await pinged;
    const gone = next<[{ reason: string }]>(client, "disconnected");
    await vi.advanceTimersByTimeAsync(500);
    expect((await gone)[0].reason).toBe("ping timeout");
  });

  it("a hung PBX (ping timeout) was last known up when its last bytes arrived; a closed link when it closed", async () => {
    let clock = 1_000;
    await setup({ answerPing: false }, { pingIntervalMs: 1000, actionTimeoutMs: 500, now: () => clock });
    const first = next(client, "connected");
    client.start();
    await first;
    clock = 9_000;
    const pinged = next(server, "action", (m: AmiMessage) => header(m, "Action") === "Ping");
    await vi.advanceTimersByTimeAsync(1000);
    await pinged;
    const gone = next<[{ reason: string; upUntil: number }]>(client, "disconnected");
    await vi.advanceTimersByTimeAsync(500);
    expect((await gone)[0]).toEqual({ reason: "ping timeout", upUntil: 1_000 });
    const up = next(client, "connected");
    await vi.advanceTimersByTimeAsync(1000);
    await up;
    clock = 12_000;
    const closed = next<[{ reason: string; upUntil: number }]>(client, "disconnected");
    server.dropConnections();
    expect((await closed)[0]).toEqual({ reason: "connection closed", upUntil: 12_000 });
  });

  it("keeps pinging while pongs come back", async () => {
    await setup({}, { pingIntervalMs: 1000, actionTimeoutMs: 500 });
    const first = next(client, "connected");
    client.start();
    await first;
    let drops = 0;
    client.on("disconnected", () => drops++);
    for (let i = 0; i < 3; i++) {
      const pinged = next(server, "action", (m: AmiMessage) => header(m, "Action") === "Ping");
      await vi.advanceTimersByTimeAsync(1000);
      await pinged;
      await client.action("CoreSettings"); // answered after the pong: the pong has been read
      expect(client.stats.pendingActions).toBe(0);
    }
    await vi.advanceTimersByTimeAsync(999);
    expect(drops).toBe(0);
    expect(server.received.filter((r) => header(r.action, "Action") === "Ping")).toHaveLength(3);
  });

  it("drops and reconnects on an oversized frame", async () => {
    const { lines } = await setup({}, { maxMessageBytes: 1024 });
    const first = next(client, "connected");
    client.start();
    await first;
    const gone = next<[{ reason: string }]>(client, "disconnected");
    const reconnecting = next<Reconnecting>(client, "reconnecting");
    server.connections[0]!.socket.write(`Event: Huge\r\nData: ${"x".repeat(4096)}`);
    expect((await gone)[0].reason).toBe("frame too large");
    await reconnecting;
    expect(lines.find((l) => l.msg === "ami frame too large")).toMatchObject({ level: 50, code: "AMI_FRAME_TOO_LARGE" });
    const up = next(client, "connected");
    await vi.advanceTimersByTimeAsync(500);
    await up;
  });

  it("stop() logs off and ends reconnecting for good", async () => {
    const { delays } = await setup();
    const first = next(client, "connected");
    client.start();
    await first;
    await client.stop();
    expect(server.received.map((r) => header(r.action, "Action"))).toContain("Logoff");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(delays).toEqual([]);
    expect(server.received.filter((r) => header(r.action, "Action") === "Login")).toHaveLength(1);
  });

  it("stop() during backoff cancels the pending reconnect", async () => {
    const { delays } = await setup();
    await server.close();
    const r = next<Reconnecting>(client, "reconnecting");
    client.start();
    await r;
    await client.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(delays).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});
