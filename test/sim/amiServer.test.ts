import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { AmiDecoder, header, type AmiMessage } from "../../src/ami/codec.js";
import { chunkPlan, stripTracePreamble } from "../../src/sim/replay.js";
import { traceBytes, traceFiles } from "../helpers/traces.js";
import { next, startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";

let server: AmiServer;
afterEach(async () => server?.close());

/** A bare client: raw bytes in, decoded messages out, `until` resolves on a predicate. */
function rawClient(port: number) {
  const socket: Socket = connect(port, "127.0.0.1");
  const decoder = new AmiDecoder();
  const msgs: AmiMessage[] = [];
  const chunks: Buffer[] = [];
  const waiters: Array<() => void> = [];
  socket.on("data", (c: Buffer) => {
    chunks.push(c);
    msgs.push(...decoder.push(c));
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((r) => socket.on("close", () => r()));
  const until = (pred: () => boolean): Promise<void> =>
    pred() ? Promise.resolve() : new Promise((r) => waiters.push(() => void until(pred).then(r)));
  const send = (text: string) => socket.write(text.replace(/\n/g, "\r\n") + "\r\n");
  return { socket, decoder, msgs, chunks, closed, until, send };
}

describe("AmiServer", () => {
  it("greets with the banner and answers Login, Ping, CoreSettings, Filter, Logoff", async () => {
    server = await startFakeAmi({ now: () => 1_700_000_000_000 });
    const c = rawClient(server.port);
    c.send("Action: Login\nUsername: u\nSecret: s\nActionID: 1\n");
    c.send("Action: Ping\nActionID: 2\n");
    c.send("Action: CoreSettings\nActionID: 3\n");
    c.send("Action: Filter\nOperation: Add\nFilter: Event: Hangup\nActionID: 4\n");
    c.send("Action: Logoff\nActionID: 5\n");
    await c.closed;
    expect(c.decoder.bannerVersion).toBe("11.0.0");
    expect(c.msgs.map((m) => [header(m, "ActionID"), header(m, "Response")])).toEqual([["1", "Success"], ["2", "Success"], ["3", "Success"], ["4", "Success"], ["5", "Goodbye"]]);
    expect(c.msgs[1]!.headers).toMatchObject({ Ping: "Pong", Timestamp: "1700000000.000000" });
    expect(header(c.msgs[2]!, "AsteriskVersion")).toBe("22.10.1");
    expect(server.received.map((r) => header(r.action, "Action"))).toEqual(["Login", "Ping", "CoreSettings", "Filter", "Logoff"]);
    expect(server.rawReceived().toString()).toContain("Action: Filter\r\nOperation: Add\r\nFilter: Event: Hangup\r\nActionID: 4\r\n\r\n");
  });

  it("refuses a login like Asterisk: error, then the session ends", async () => {
    server = await startFakeAmi({ acceptLogin: (user) => user === "ok" });
    const c = rawClient(server.port);
    c.send("Action: Login\nUsername: bad\nSecret: x\nActionID: 9\n");
    await c.closed;
    expect(c.msgs.map((m) => m.headers)).toEqual([{ Response: "Error", ActionID: "9", Message: "Authentication failed" }]);
  });

  it("answers nothing but Login before authentication", async () => {
    server = await startFakeAmi();
    const c = rawClient(server.port);
    c.send("Action: Ping\nActionID: 1\n");
    await c.until(() => c.msgs.length === 1);
    expect(c.msgs[0]!.headers).toMatchObject({ Response: "Error", Message: "Permission denied" });
  });

  it("serves canned lists (CoreShowChannels empty by default) and custom handlers", async () => {
    server = await startFakeAmi();
    server.setList("QueueStatus", [[["Event", "QueueParams"], ["Queue", "support"]]]);
    server.handle("Originate", (a) => [["Response", "Success"], ["Message", `Originate to ${header(a, "Exten")} queued`]]);
    const c = rawClient(server.port);
    c.send("Action: Login\nUsername: u\nSecret: s\n");
    c.send("Action: CoreShowChannels\nActionID: a\n");
    c.send("Action: QueueStatus\nActionID: b\n");
    c.send("Action: Originate\nExten: 1001\nActionID: c\n");
    c.send("Action: Bogus\nActionID: d\n");
    await c.until(() => c.msgs.length === 8);
    expect(c.msgs.slice(1).map((m) => [header(m, "ActionID"), header(m, "Response") ?? header(m, "Event"), header(m, "EventList") ?? header(m, "Message")])).toEqual([
      ["a", "Success", "start"],
      ["a", "CoreShowChannelsComplete", "Complete"],
      ["b", "Success", "start"],
      ["b", "QueueParams", undefined],
      ["b", "QueueStatusComplete", "Complete"],
      ["c", "Success", "Originate to 1001 queued"],
      ["d", "Error", "Invalid/unknown command"],
    ]);
  });

  it("replays a trace after its own preamble, in the chunks asked for", async () => {
    server = await startFakeAmi();
    const c = rawClient(server.port);
    c.send("Action: Login\nUsername: u\nSecret: s\n");
    await c.until(() => c.msgs.length === 1);
    const before = c.chunks.reduce((n, b) => n + b.length, 0);
    const bytes = traceBytes("03-inbound-missed-caller-abandon");
    const sent = await server.replay(bytes, { chunkSizes: [1, 7, 300], paceMs: 0 });
    const body = stripTracePreamble(bytes);
    expect(sent).toBe(body.length);
    await c.until(() => c.chunks.reduce((n, b) => n + b.length, 0) === before + body.length);
    expect(Buffer.concat(c.chunks).subarray(-body.length).equals(body)).toBe(true);
  });

  it("drops connections and restarts on the same port", async () => {
    server = await startFakeAmi();
    const port = server.port;
    const a = rawClient(port);
    const seen = next(server, "action");
    a.send("Action: Login\nUsername: u\nSecret: s\n");
    await a.until(() => a.msgs.length === 1);
    await seen;
    server.dropConnections();
    await a.closed;
    await server.restart();
    expect(server.port).toBe(port);
    const b = rawClient(port);
    await b.until(() => b.decoder.bannerVersion !== undefined);
    b.socket.destroy();
  });
});

describe("replay helpers", () => {
  it("strips the banner and the recorder's login response from every trace", () => {
    for (const name of traceFiles()) {
      const bytes = traceBytes(name);
      const body = stripTracePreamble(bytes);
      expect(body.subarray(0, 7).toString(), name).toBe("Event: ");
      expect(bytes.subarray(bytes.length - body.length).equals(body)).toBe(true);
    }
    expect(stripTracePreamble(Buffer.from("Event: X\r\n\r\n")).toString()).toBe("Event: X\r\n\r\n");
  });

  it("plans bounded chunks: fixed sizes cycle, a seed is reproducible, none means one write", () => {
    expect(chunkPlan(10, { chunkSizes: [3, 1] })).toEqual([[0, 3], [3, 4], [4, 7], [7, 8], [8, 10]]);
    expect(chunkPlan(10, {})).toEqual([[0, 10]]);
    const a = chunkPlan(5000, { seed: 3, maxChunk: 100 });
    expect(a).toEqual(chunkPlan(5000, { seed: 3, maxChunk: 100 }));
    expect(a.at(-1)![1]).toBe(5000);
    expect(a.every(([s, e]) => e - s >= 1 && e - s <= 100)).toBe(true);
  });
});
