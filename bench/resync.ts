/**
 * Resync after a reconnect (issue 12): the daemon had `channels` channels up (channels / 2
 * answered calls, carrier ↔ agent device, bridged) when its AMI link dropped; on the new login
 * it asks for `CoreShowChannels`, applies the listing (a tenth of the calls ended during the
 * outage and are missing from it), closes the vanished calls and tells every client
 * `pbx.resynced`. Measured: from the moment the fake PBX receives the `CoreShowChannels`
 * action (it then writes the whole listing at once, as Asterisk does) to the moment the last
 * client reads `pbx.resynced`; also to the last `call.ended` of a vanished call.
 *
 * Same rig as popLatency.ts: fake PBX + real daemon in this process, the clients (one agent
 * per call, SUPERVISORS supervisors) in a child process. The first listing (before any client)
 * builds the calls; ROUNDS reconnects are measured, each with the full set of calls restored
 * first (a fresh listing on a fresh link).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Daemon } from "../src/roles/standalone.js";
import { createApiToken } from "../src/publish/apiTokens.js";
import { AmiServer, type Fields } from "../src/sim/amiServer.js";
import { encodeMessage } from "../src/sim/replay.js";
import { benchUsers } from "./callMemory.js";
import { benchConfig, percentile, TRUNK } from "./lab.js";
import { clientProcess, clockOffset, linkedDaemon, waitUntil } from "./popLatency.js";
import type { Bench, BenchContext, BenchResult } from "./registry.js";

const FIRST_DEVICE = 2000;
const SUPERVISORS = 10;
const ROUNDS = 5;
const EPOCH = 1_795_500_000;

function listed(i: number, generation: number, device: boolean): Fields {
  const n = generation * 1_000_000 + 2 * i;
  const hex = (x: number) => x.toString(16).padStart(8, "0");
  const dev = `PJSIP/${FIRST_DEVICE + i}`;
  const caller = `+49301${String(3_000_000 + i)}`;
  return [
    ["Event", "CoreShowChannel"],
    ["Channel", device ? `${dev}-${hex(n + 1)}` : `${TRUNK}-${hex(n)}`],
    ["ChannelState", "6"],
    ["ChannelStateDesc", "Up"],
    ["CallerIDNum", device ? String(FIRST_DEVICE + i) : caller],
    ["CallerIDName", device ? `User ${i}` : caller],
    ["ConnectedLineNum", device ? caller : String(FIRST_DEVICE + i)],
    ["ConnectedLineName", device ? caller : `User ${i}`],
    ["Language", "en"],
    ["AccountCode", ""],
    ["Context", device ? "from-internal" : "from-carrier"],
    ["Exten", "4930555000"],
    ["Priority", "1"],
    ["Uniqueid", `${EPOCH}.${device ? n + 1 : n}`],
    ["Linkedid", `${EPOCH}.${n}`],
    ["Application", device ? "AppDial" : "Dial"],
    ["ApplicationData", device ? "(Outgoing Line)" : `${dev},30,tT`],
    ["Duration", "00:00:42"],
    ["BridgeId", `b-${generation}-${i}`],
  ];
}

export function resyncBench(channels: number): Bench {
  const calls = channels / 2;
  const name = `resync-${channels}`;
  return {
    name,
    title: `resync of ${channels} channels (${calls} calls, a tenth vanished) after a reconnect, ${calls + SUPERVISORS} clients`,
    async run(ctx: BenchContext): Promise<BenchResult> {
      const started = process.hrtime.bigint();
      const users = benchUsers(calls, FIRST_DEVICE);
      const sups = Array.from({ length: SUPERVISORS }, (_, i) => ({ id: `s${i}`, name: `Supervisor ${i}`, role: "supervisor", devices: [] }));
      const pbx = new AmiServer({ record: true });
      let listing: Buffer[] = [];
      let asked: bigint | null = null;
      // A vanished call that comes back is a new call (new ids): the tracker keeps an ended call's ids a while.
      const generation = new Array<number>(calls).fill(0);
      const setListing = (keep: (i: number) => boolean) => {
        listing = [];
        for (let i = 0; i < calls; i++) if (keep(i)) listing.push(encodeMessage(listed(i, generation[i]!, false)), encodeMessage(listed(i, generation[i]!, true)));
      };
      pbx.handle("CoreShowChannels", (msg, conn) => {
        asked = process.hrtime.bigint();
        const id = msg.get("ActionID") ?? "";
        const withId = (b: Buffer) => Buffer.from(b.toString("latin1").replace("\r\n", `\r\nActionID: ${id}\r\n`), "latin1");
        conn.socket.write(
          Buffer.concat([
            encodeMessage([["Response", "Success"], ["ActionID", id], ["EventList", "start"], ["Message", "Channels will follow"]]),
            ...listing.map(withId),
            encodeMessage([["Event", "CoreShowChannelsComplete"], ["ActionID", id], ["EventList", "Complete"], ["ListItems", String(listing.length)]]),
          ]),
        );
        return undefined;
      });
      const amiPort = await pbx.listen();
      const config = benchConfig([...users, ...sups], {
        ami: { mode: "live", host: "127.0.0.1", port: amiPort, secret: "bench", pingIntervalMs: 600_000 },
        store: { path: ":memory:" },
        server: { host: "127.0.0.1", port: 0 },
      });
      const { child, ask } = clientProcess();
      let daemon: Daemon | undefined;
      try {
        setListing(() => true);
        const linked = await linkedDaemon(config, pbx);
        daemon = linked.daemon;
        const d = daemon;
        if (d.tracker.activeCalls().length !== calls) throw new Error(`first listing built ${d.tracker.activeCalls().length} calls, expected ${calls}`);
        const url = `ws://127.0.0.1:${linked.port}${config.server.wsPath}`;
        const tokens: string[] = [];
        const watchers: string[] = [];
        d.db.transaction(() => {
          for (const u of users) tokens.push(createApiToken(d.db, u.id, "agent").token);
          for (const u of sups) watchers.push(createApiToken(d.db, u.id, "supervisor").token);
        })();
        const opened = await ask({ type: "open", url, tokens, watchers }, "opened", ctx.timeoutMs / 2);
        if (opened?.n !== calls + SUPERVISORS) throw new Error(`only ${String(opened?.n ?? 0)} clients connected`);
        const offset = await clockOffset(ask);

        const toResynced: number[] = [];
        const toEnded: number[] = [];
        const inDaemon: number[] = [];
        let ended = 0;
        for (let r = 1; r <= ROUNDS; r++) {
          // The same channels stay up, a tenth of them (a different tenth each round) vanished.
          const gone = (i: number) => i % 10 === r % 10;
          setListing((i) => !gone(i));
          await ask({ type: "collect" }, "collected", 5_000);
          asked = null;
          const resynced = new Promise<bigint>((resolve) => {
            const orig = d.cti.pbxStatus.bind(d.cti);
            d.cti.pbxStatus = (kind, info) => {
              if (kind === "resynced") resolve(process.hrtime.bigint());
              orig(kind, info);
            };
          });
          pbx.dropConnections();
          const tDaemon = await Promise.race([resynced, sleep(15_000).then(() => null)]);
          if (tDaemon === null || asked === null) throw new Error(`round ${r}: no resync within 15 s`);
          await waitUntil(() => d.ami?.isConnected === true, "AMI link", 10_000);
          await sleep(300);
          const got = (await ask({ type: "collect" }, "collected", 5_000))!;
          const types = got.types as Record<string, [number, string]>;
          const [nResynced, lastResynced] = types["pbx.resynced"] ?? [0, "0"];
          const [nEnded, lastEnded] = types["call.ended"] ?? [0, "0"];
          if (nResynced !== calls + SUPERVISORS) throw new Error(`round ${r}: ${nResynced} clients read pbx.resynced, expected ${calls + SUPERVISORS}`);
          const t0 = asked as bigint;
          toResynced.push(Number(BigInt(lastResynced) - offset - t0) / 1e6);
          toEnded.push(Number(BigInt(lastEnded) - offset - t0) / 1e6);
          inDaemon.push(Number(tDaemon - t0) / 1e6);
          ended += nEnded;
          // Put the vanished calls back (a fresh link with the full listing) for the next round.
          for (let i = 0; i < calls; i++) if (gone(i)) generation[i] = r;
          setListing(() => true);
          pbx.dropConnections();
          await waitUntil(() => d.ami?.isConnected === true && d.tracker.activeCalls().length === calls, "calls restored", 15_000);
          await sleep(300);
        }
        const sorted = [...toResynced].sort((a, b) => a - b);
        const ms = (x: number) => x.toFixed(1);
        const notes = [
          `${channels} channels listed (${calls} calls) per reconnect, ${calls / 10} vanished; ${calls} agent + ${SUPERVISORS} supervisor clients`,
          `listing asked → last client read pbx.resynced: ${toResynced.map(ms).join(" / ")} ms (min / median / max ${ms(sorted[0]!)} / ${ms(percentile(sorted, 50))} / ${ms(sorted[sorted.length - 1]!)})`,
          `listing asked → daemon emits pbx.resynced: ${inDaemon.map(ms).join(" / ")} ms; → last call.ended read: ${toEnded.map(ms).join(" / ")} ms (${ended} call.ended frames)`,
        ];
        return {
          name,
          metrics: {
            messages: channels,
            seconds: Number(process.hrtime.bigint() - started) / 1e9,
            extra: {
              channels,
              calls,
              clients: calls + SUPERVISORS,
              resyncMinMs: sorted[0]!,
              resyncMedianMs: percentile(sorted, 50),
              resyncMaxMs: sorted[sorted.length - 1]!,
              daemonMedianMs: percentile([...inDaemon].sort((a, b) => a - b), 50),
            },
          },
          notes,
        };
      } finally {
        child.kill();
        await daemon?.stop().catch(() => undefined);
        await pbx.close();
      }
    },
  };
}
