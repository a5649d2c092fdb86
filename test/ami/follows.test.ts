/**
 * `Response: Follows` replies (the `Command` action on Asterisk 13 and older): raw CLI output up
 * to `--END COMMAND--`, read from replies recorded on real PBXs (test/fixtures/ami-legacy).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { AmiClient } from "../../src/ami/client.js";
import { AmiDecoder, type AmiMessage } from "../../src/ami/codec.js";
import { clientOptions, memoryLogger, next, startFakeAmi, type AmiServer } from "../helpers/fakeAmiServer.js";

const LEGACY = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "ami-legacy");
const bytes = (name: string) => readFileSync(join(LEGACY, `${name}.ami`));
const now = () => 1_000;
const BANNER = Buffer.from("Asterisk Call Manager/1.3\r\n");

function decode(...chunks: Buffer[]): AmiMessage[] {
  const d = new AmiDecoder({ now });
  return [BANNER, ...chunks].flatMap((c) => d.push(c));
}

const VERSION = "Asterisk 11.11.0+xivo.14.15~20140724.155259.ed5592b-wheezy built by root @ wheezy-farm on a x86_64 running Linux on 2014-08-06 19:30:37 UTC";
const QUEUES = [
  "QUEUE_NAME1 has 0 calls (max unlimited) in 'ringall' strategy (2s holdtime, 4s talktime), W:0, C:2, A:3, SL:100.0% within 60s",
  "   Members: ",
  "      111 (Local/111@from-internal/n from Local/111@from-internal/n) with penalty 2 (ringinuse disabled) (realtime) (paused) (Not in use) has taken no calls yet",
  "      222 (Local/222@from-internal/n from Local/222@from-internal/n) with penalty 3 (ringinuse disabled) (realtime) (Not in use) has taken 2 calls (last was 10 secs ago)",
  "   No Callers",
  "",
  "QUEUE_NAME2 has 0 calls (max unlimited) in 'ringall' strategy (0s holdtime, 0s talktime), W:0, C:0, A:0, SL:0.0% within 0s",
  "   No Members",
  "   No Callers",
  "",
];
const EXPECTED = {
  "asterisk11-core-show-version": { id: "action/transaction_uid/1/1", output: [VERSION] },
  "asterisk11-core-show-channels": {
    id: "generated_id",
    output: ["Channel              Location             State   Application(Data)             ", "0 active channels", "0 active calls", "2 calls processed"],
  },
  "asterisk11-queue-show": { id: "queue-show-1", output: QUEUES },
};
const shape = (m: AmiMessage) => ({ keys: [...m.keys], values: [...m.values], output: m.output });
const expected = (name: keyof typeof EXPECTED) => ({
  keys: ["Response", "Privilege", "ActionID"],
  values: ["Follows", "Command", EXPECTED[name].id],
  output: EXPECTED[name].output,
});
const NAMES = Object.keys(EXPECTED) as (keyof typeof EXPECTED)[];
const EVENT = Buffer.from("Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n");

describe("Response: Follows (Asterisk 13 and older)", () => {
  it.each(NAMES)("%s: headers, then the output lines verbatim; no output line becomes a header", (name) => {
    const msgs = decode(bytes(name));
    expect(msgs.map(shape)).toEqual([expected(name)]);
    expect(msgs[0]!.get("Asterisk 11.11.0+xivo.14.15~20140724.155259.ed5592b-wheezy built by root @ wheezy-farm on a x86_64 running Linux on 2014-08-06 19")).toBeUndefined();
    expect(msgs[0]!.rawLines).toBeUndefined();
  });

  it.each(NAMES)("%s: the same message however the bytes are split across reads", (name) => {
    const whole = bytes(name);
    for (let cut = 1; cut < whole.length; cut++) {
      const msgs = decode(whole.subarray(0, cut), whole.subarray(cut), EVENT);
      expect(msgs.map(shape), `cut at ${cut}`).toEqual([expected(name), { keys: ["Event", "Privilege", "Status"], values: ["FullyBooted", "system,all", "Fully Booted"], output: undefined }]);
    }
    // One byte per read.
    const d = new AmiDecoder({ now });
    const out = [BANNER, ...[...whole].map((b) => Buffer.from([b]))].flatMap((c) => d.push(c));
    expect(out.map(shape)).toEqual([expected(name)]);
    expect(d.pendingBytes).toBe(0);
  });

  it("several replies and events in one read stay apart and in order", () => {
    const one = Buffer.concat([EVENT, ...NAMES.map(bytes), EVENT, bytes("asterisk11-queue-show")]);
    const msgs = decode(one);
    expect(msgs.map((m) => m.get("ActionID") ?? m.event)).toEqual(["FullyBooted", ...NAMES.map((n) => EXPECTED[n].id), "FullyBooted", "queue-show-1"]);
    expect(msgs[3]!.output).toEqual(QUEUES);
  });

  it("output that does not end in a newline runs into the marker and is still read", () => {
    const raw = Buffer.from("Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\nNo such command 'core show hi' (type 'core show help core show hi' for other possible commands)--END COMMAND--\r\n\r\n");
    expect(decode(raw).map(shape)).toEqual([
      { keys: ["Response", "Privilege", "ActionID"], values: ["Follows", "Command", "7"], output: ["No such command 'core show hi' (type 'core show help core show hi' for other possible commands)"] },
    ]);
  });

  it("an empty output and an output that starts with a blank line", () => {
    const empty = Buffer.from("Response: Follows\r\nPrivilege: Command\r\nActionID: 5\r\n--END COMMAND--\r\n\r\n");
    const blankFirst = Buffer.from("Response: Follows\r\nPrivilege: Command\r\nActionID: 6\r\n\nName/username: x\n--END COMMAND--\r\n\r\n");
    expect(decode(empty, blankFirst).map((m) => m.output)).toEqual([[], ["", "Name/username: x"]]);
  });

  it("Asterisk 14+ (Response: Success + Output headers) still works, with the same output view", () => {
    const raw = Buffer.from(
      "Response: Success\r\nActionID: 1\r\nMessage: Command output follows\r\nOutput: key  : /family1/key1\r\nOutput: \r\nOutput: key  : /family2/key2\r\nOutput: \r\n\r\n",
    );
    const [m] = decode(raw);
    expect(m!.get("Message")).toBe("Command output follows");
    expect(m!.output).toEqual(["key  : /family1/key1", "", "key  : /family2/key2", ""]);
    expect(m!.getAll("Output")).toEqual(m!.output);
  });

  it("ordinary messages carry no output", () => {
    expect(decode(Buffer.from("Response: Success\r\nMessage: Pong\r\n\r\n"))[0]!.output).toBeUndefined();
  });
});

describe("AmiClient with an Asterisk 13-style PBX", () => {
  let server: AmiServer | undefined;
  let client: AmiClient | undefined;
  afterEach(async () => {
    await client?.stop();
    await server?.close();
  });

  it("resolves a Command action with the output lines of its Follows reply; nothing leaks out as an event", async () => {
    server = await startFakeAmi({ banner: "Asterisk Call Manager/1.3" });
    server.handle("Command", (msg, conn) => {
      const reply = Buffer.from(bytes("asterisk11-queue-show").toString("latin1").replace("ActionID: queue-show-1", `ActionID: ${msg.get("ActionID")}`), "latin1");
      const cut = reply.indexOf("\n\nQUEUE_NAME2") + 1; // the reads split right at the blank line
      conn.socket.write(reply.subarray(0, cut));
      setTimeout(() => conn.socket.write(Buffer.concat([reply.subarray(cut), EVENT])), 20);
      return undefined;
    });
    const { log } = memoryLogger();
    client = new AmiClient(clientOptions(server.port, log));
    const events: AmiMessage[] = [];
    client.on("event", (m) => void events.push(m));
    const up = next(client, "connected");
    client.start();
    await up;
    const booted = next<[AmiMessage]>(client, "event");
    const r = await client.action("Command", [["Command", "queue show"]]);
    expect(r.response.get("Response")).toBe("Follows");
    expect(r.response.output).toEqual(QUEUES);
    await booted;
    expect(events.map((e) => e.event)).toEqual(["FullyBooted"]);
  });
});

describe("ctibridge decode of a Follows reply", () => {
  it("prints the output lines as `output`", async () => {
    const { decodeToLines } = await import("../../src/ami/capture.js");
    const lines: string[] = [];
    await decodeToLines(join(LEGACY, "asterisk11-core-show-version.ami"), (l) => void lines.push(l));
    expect(lines.map((l) => JSON.parse(l))).toEqual([{ Response: "Follows", Privilege: "Command", ActionID: "action/transaction_uid/1/1", output: [VERSION] }]);
  });
});
