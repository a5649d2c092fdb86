/**
 * The skeleton of docs/benchmarks.md, written the first time the benchmark runs. After that
 * the file belongs to people (explanations can be edited freely); report.ts only appends rows
 * under RESULTS_HEADING. When the way of measuring changes, describe the new method under a
 * new id and bump METHOD_ID, so old rows stay readable as what they were.
 */

export const METHOD_ID = "m2";
export const RESULTS_HEADING = "## Results: AMI codec";
export const ENGINE_HEADING = "## Results: call engine and screen pop";
export const DOS_HEADING = "## Results: amplification attack";
/** Columns of the call-engine table (reportEngine.ts fills the row). */
export const ENGINE_TABLE_HEAD = `| date (UTC) | commit | machine | method | tracker events/s (in memory) | tracker CPU µs/event | domain events | tracker-tcp events/s | RSS bytes per open call (heap) | pop 100/100 p50 / p99 / max ms | pop 1000/1000 p50 / p99 / max ms | burst p99 ms 100 / 1000 | frames/s, 1000 supervisor clients | targets (events/s / bytes/call / p99 100 / p99 1000) |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|`;

export function docTemplate(): string {
  return `# Benchmarks

\`npm run bench\` builds the project and runs \`node --expose-gc dist/bench/run.js\`; one run
takes well under two minutes on two cores and appends one row to the table at the end of this
file. \`node --expose-gc dist/bench/run.js --only codec,asterisk-manager\` runs a subset (names:
\`raw\`, \`codec\`, \`codec-memory\`, \`asterisk-manager\`); \`--messages N\` changes the stream size;
\`--no-record\` skips the row. It is not part of \`npm test\`.

Targets (issue 2): our codec decodes at least **4×** as many messages per second as
\`asterisk-manager\` on the same stream, and the decoding process peaks under **100 MB** RSS.
DESIGN §7 gives this hardware's reference points: a Buffer-scanning parser about 225,000
events/s, \`asterisk-manager\` about 48,000, raw loopback TCP about 1.7 GB/s.

## Method m1

**The stream.** The recorded traces numbered 01-25 in \`test/fixtures/ami/*.ami\` (22 real
Asterisk 22 connections; later recordings are left out so rows stay comparable), each with its banner line and Login response removed, concatenated in name
order, and the whole set repeated with renumbered ids (\`src/sim/renumber.ts\`: uniqueids,
linkedids, channel-name suffixes and UUIDs move to a fresh band per copy) until it holds about
300,000 messages. It is written copy by copy to a temporary file and deleted after the run; no
measuring process ever holds it whole (except \`codec-memory\`, see below).

**The feeder.** A separate Node process listening on 127.0.0.1, port 0. Per connection it
writes the banner \`Asterisk Call Manager/11.0.0\`, waits for the client's \`Action: Login\`,
answers \`Response: Success\` with the client's ActionID, then writes the stream file to the
socket, reading it 1 MiB at a time whenever the socket drains (a \`fs.ReadStream\` pipe capped the
ceiling near 0.4 GB/s), and closes. Being another process, its CPU and memory never count
against the client.

**The measurements.** Each runs in a fresh child process (started with \`--expose-gc\`; the
heap is collected just before the clock starts), one after the other, against the same feeder:

| name | what the child does | reported |
|---|---|---|
| \`raw\` | connects, logs in, counts the bytes of every read and discards them; five rounds, the fastest reported (one round is a few hundred ms, where scheduler noise swings 2×) | bytes/s: the ceiling no parser can beat on this socket |
| \`codec\` | the same, and passes every read to \`AmiDecoder.push\` (src/ami/codec.ts), counting and dropping the messages | messages/s, CPU µs per message (user + system time of the process from connect to end of stream, \`process.cpuUsage\`), peak RSS |
| \`codec-memory\` | reads the stream file into 64 KiB Buffers first (not timed), then times \`AmiDecoder.push\` over them | messages/s of pure decoding, no socket; its RSS holds the whole stream and is not reported |
| \`asterisk-manager\` | \`asterisk-manager@0.2.0\` as its users run it: \`Manager(port, '127.0.0.1', user, secret, true)\` connects and logs in by itself, a \`managerevent\` listener receives the events; messages are counted on its \`rawevent\` (one per parsed message) | messages/s, CPU µs per message, peak RSS |

Message counts include the Login response; a count that differs from the stream's is printed
as a note. Peak RSS is \`process.memoryUsage.rss()\` sampled every 5 ms by a timer and on every
8th read of the data path (every 1,024th message for asterisk-manager); the RSS before the
connection is shown next to it. "ours ÷ asterisk-manager" divides the two loopback-TCP
messages/s figures (the target); "by CPU µs/msg" divides asterisk-manager's CPU time per
message by ours, which other load on the machine disturbs much less than wall time, so it is
the better cross-check when the two wall-clock figures were taken under different load. Every loop is bounded: the stream by a copy count, each measurement by a
time budget after which its process is killed.

**Reading the numbers.** Loopback on a shared machine is noisy; compare rows from the same
machine, and ratios rather than absolute rates. The machine column records \`nproc\`, the CPU
model, memory and the Node version. The date is UTC; the commit gets \`+wip\` when
\`src/ami/\`, \`src/sim/\` or \`bench/\` had uncommitted changes.

${RESULTS_HEADING}

| date (UTC) | commit | machine | method | stream | raw TCP read | ours TCP msgs/s | ours CPU µs/msg | ours peak RSS | ours in-memory msgs/s | asterisk-manager msgs/s | ours ÷ a-m | ours ÷ a-m by CPU µs/msg | targets (ratio / RSS) |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|

${ENGINE_HEADING}

${ENGINE_TABLE_HEAD}
`;
}
