import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AmiClient, AmiClientError, type AmiClientOptions } from "../../src/ami/client.js";
import { loadConfig } from "../../src/config.js";
import { header, type AmiMessage } from "../../src/ami/codec.js";
import { traceBytes } from "../helpers/traces.js";
import { clientOptions, countEventLines, memoryLogger, next, startFakeAmi, traceBody, type AmiServer } from "../helpers/fakeAmiServer.js";

// Only timers are fake: sockets really talk on loopback, backoff and pings move when we say.
let server: AmiServer;
let client: AmiClient;
beforeEach(() => void vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
afterEach(async () => {
  await client?.stop();
  await server?.close();
  vi.useRealTimers();
});

async function connected(opts: Parameters<typeof startFakeAmi>[0] = {}, over = {}) {
  server = await startFakeAmi(opts);
  const mem = memoryLogger();
  client = new AmiClient(clientOptions(server.port, mem.log, over));
  const up = next<[{ amiVersion?: string; asteriskVersion?: string }]>(client, "connected");
  client.start();
  const [info] = await up;
  return { ...mem, info };
}

describe("AmiClient login", () => {
  it("is built from config.ami and a logger", async () => {
    server = await startFakeAmi();
    const { log } = memoryLogger();
    const opts: AmiClientOptions = { ...loadConfig({ overrides: { "ami.port": server.port } }).ami, log };
    client = new AmiClient(opts);
    const up = next(client, "connected");
    client.start();
    await up;
    const gone = next<[{ reason: string }]>(client, "disconnected");
    await client.stop();
    expect((await gone)[0].reason).toBe("stopped");
  });

  it("reads the banner, logs in, asks CoreSettings and reports both versions", async () => {
    const { info, lines } = await connected();
    expect(info).toEqual({ amiVersion: "11.0.0", asteriskVersion: "22.10.1" });
    expect(server.rawReceived().toString()).toBe(
      "Action: Login\r\nUsername: ctibridge\r\nSecret: s3cret-value\r\nEvents: on\r\nActionID: t-1\r\n\r\n" +
        "Action: CoreSettings\r\nActionID: t-2\r\n\r\n",
    );
    expect(lines.find((l) => l.msg === "ami connected")).toMatchObject({ host: "127.0.0.1", port: server.port, asteriskVersion: "22.10.1" });
    expect(JSON.stringify(lines)).not.toContain("s3cret-value");
  });

  it("adds one Filter action per configured event, and FullyBooted (the daemon waits for it)", async () => {
    await connected({}, { eventFilter: ["Newchannel", "Hangup"] });
    const sent = server.received.map((r) => [header(r.action, "Action"), header(r.action, "Filter")]);
    expect(sent).toEqual([["Login", undefined], ["Filter", "Event: Newchannel"], ["Filter", "Event: Hangup"], ["Filter", "Event: FullyBooted"], ["CoreSettings", undefined]]);
  });

  it("tells when the PBX is fully booted: at login, or when its boot completes later", async () => {
    await connected({ fullyBooted: true });
    expect(await client.whenBooted(10)).toBe(true);
    await client.stop();
    await server.close();
    await connected({});
    const booted = client.whenBooted(5_000);
    server.boot();
    expect(await booted).toBe(true);
  });

  it("logs in with the MD5 challenge when asked", async () => {
    await connected({ md5Secret: "s3cret-value" }, { md5Login: true });
    const login = server.received.find((r) => header(r.action, "Action") === "Login")!.action;
    expect(header(login, "AuthType")).toBe("MD5");
    expect(header(login, "Secret")).toBeUndefined();
    expect(header(login, "Key")).toMatch(/^[0-9a-f]{32}$/);
  });

  it("loses none of the events that share a read with the login response", async () => {
    const body = traceBody(traceBytes("24-burst-30-concurrent"));
    server = await startFakeAmi({ afterLogin: body });
    const { log } = memoryLogger();
    client = new AmiClient(clientOptions(server.port, log));
    const seen: AmiMessage[] = [];
    client.on("event", (m) => seen.push(m));
    const up = next(client, "connected");
    client.start();
    await up;
    expect(seen.length).toBe(countEventLines(body));
    expect(seen.length).toBe(2768 - 0); // the README's count for this trace
    expect(client.stats).toMatchObject({ events: 2768, reconnects: 0 });
  });

  it("emits a replayed trace's events in order, whatever the chunking", async () => {
    await connected();
    const body = traceBody(traceBytes("09-queue-sales-local-members"));
    const seen: string[] = [];
    client.on("event", (m) => seen.push(header(m, "Event")!));
    const done = next(client, "event", (m: AmiMessage) => header(m, "Event") === "Sentinel");
    await server.replay(body, { seed: 42, maxChunk: 700 });
    server.broadcast([["Event", "Sentinel"]]);
    await done;
    const expected = body.toString("latin1").split("\r\n").filter((l) => l.startsWith("Event: ")).map((l) => l.slice(7));
    expect(seen).toEqual([...expected, "Sentinel"]);
  });

  it("warns and skips a message with neither Event nor Response", async () => {
    const { lines } = await connected();
    const done = next(client, "event");
    server.broadcast([["Foo", "bar"]]);
    server.broadcast([["Event", "After"]]);
    await done;
    expect(lines.filter((l) => l.msg === "ami message without event or response skipped")).toHaveLength(1);
  });
});

describe("AmiClient actions", () => {
  it("resolves a plain action with its response", async () => {
    await connected();
    const r = await client.action("Ping");
    expect(header(r.response, "Ping")).toBe("Pong");
    expect(r.events).toEqual([]);
  });

  it("collects a list action's events until …Complete and does not emit them", async () => {
    await connected();
    const chans = [[["Event", "CoreShowChannel"], ["Channel", "PJSIP/1001-00000001"]], [["Event", "CoreShowChannel"], ["Channel", "PJSIP/carrier-00000002"]]] as const;
    server.setList("CoreShowChannels", chans as never);
    const emitted: AmiMessage[] = [];
    client.on("event", (m) => emitted.push(m));
    const r = await client.action("CoreShowChannels");
    expect(r.events.map((e) => header(e, "Channel"))).toEqual(["PJSIP/1001-00000001", "PJSIP/carrier-00000002"]);
    expect(header(r.complete!, "Event")).toBe("CoreShowChannelsComplete");
    expect(header(r.complete!, "ListItems")).toBe("2");
    expect(emitted).toEqual([]);
  });

  it("returns Command output lines intact", async () => {
    await connected();
    server.handle("Command", () => [["Response", "Success"], ["Output", "Channel  Location"], ["Output", "PJSIP/1001-0000002a  s@from-internal:1"], ["Output", "1 active channel"]]);
    const r = await client.action("Command", [["Command", "core show channels"]]);
    expect(r.response.headers.Output).toEqual(["Channel  Location", "PJSIP/1001-0000002a  s@from-internal:1", "1 active channel"]);
  });

  it("rejects Response: Error with AMI_ACTION_FAILED and the message", async () => {
    await connected();
    server.handle("Hangup", () => [["Response", "Error"], ["Message", "No such channel"]]);
    await expect(client.action("Hangup", [["Channel", "PJSIP/9-1"]])).rejects.toMatchObject({ code: "AMI_ACTION_FAILED", message: expect.stringContaining("No such channel") });
  });

  it("times out an unanswered action without dropping the link", async () => {
    await connected();
    server.handle("Originate", () => undefined);
    const seen = next(server, "action", (m: AmiMessage) => header(m, "Action") === "Originate");
    const p = client.action("Originate", [["Channel", "PJSIP/1001"]], { timeoutMs: 300 });
    const failed = expect(p).rejects.toMatchObject({ code: "AMI_TIMEOUT" });
    await seen;
    await vi.advanceTimersByTimeAsync(300);
    await failed;
    expect(client.isConnected).toBe(true);
  });

  it("rejects every pending action with AMI_DISCONNECTED when the link drops", async () => {
    await connected();
    server.handle("Originate", () => undefined);
    const seen = next(server, "action", (m: AmiMessage) => header(m, "Action") === "Originate");
    const a = client.action("Originate", [["Channel", "PJSIP/1001"]]);
    const b = client.action("Originate", [["Channel", "PJSIP/1002"]]);
    const both = Promise.allSettled([a, b]);
    await seen;
    server.dropConnections();
    const results = await both;
    expect(results.map((r) => (r.status === "rejected" ? (r.reason as AmiClientError).code : "ok"))).toEqual(["AMI_DISCONNECTED", "AMI_DISCONNECTED"]);
  });

  it("refuses actions while not connected and header injection always", async () => {
    await connected();
    await expect(client.action("Originate", [["Channel", "PJSIP/1\r\nAction: Command"]])).rejects.toMatchObject({ code: "AMI_INJECTION" });
    await client.stop();
    await expect(client.action("Ping")).rejects.toMatchObject({ code: "AMI_NOT_CONNECTED" });
  });
});
