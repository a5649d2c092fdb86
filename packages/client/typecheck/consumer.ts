// A program that uses the package as a CRM project would: resolved through package.json
// `exports`/`types` to dist/ctibridge-client.d.ts (test/package.test.ts compiles it).
import { connect, CommandError, type Call, type ConnectionStatus, type CtiClient, type ServerMessage } from "@ctibridge/client";

const client: CtiClient = connect({ url: "ws://127.0.0.1:8080/ws", getToken: async () => "jwt", instance: "tab-1", reconnect: { minMs: 500, maxMs: 30_000 }, commandTimeoutMs: 10_000 });
const status: ConnectionStatus = client.status;
const off = client.on("pop", ({ call }: { call: Call }) => void call.popUrl);
client.on("message", (m: ServerMessage) => void (m.type === "call.ringing" && m.call.legs[0]?.state));
client.on("ended", ({ call, message }) => void (message === null ? call.state : message.seq));
async function run(): Promise<string> {
  try {
    const { callId } = await client.dial("+4930123456", { device: "PJSIP/1001" });
    await client.transfer(callId, "1002", { kind: "attended" });
    await client.queuePause({ queue: "support", reason: "lunch", paused: true });
    await client.annotate(callId, { recordId: "C-1", comment: null });
    return callId;
  } catch (err) {
    if (err instanceof CommandError) return `${err.code} ${err.commandId ?? ""}`;
    throw err;
  }
}
void run;
void status;
off();
client.close();
