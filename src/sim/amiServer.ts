/**
 * A real AMI server on TCP: the tests' fake PBX and the built-in simulator's front door.
 *
 * It speaks just enough of Asterisk's manager protocol (banner, Login/Challenge, Ping,
 * CoreSettings, Filter, Logoff, list actions) to exercise a client honestly on loopback,
 * records every action it receives (parsed and raw) and can replay recorded trace bytes.
 */
import { createHash, randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { AmiDecoder, header, type AmiMessage } from "../ami/codec.js";
import { chunkPlan, encodeMessage, stripTracePreamble, type Fields, type ReplayOptions } from "./replay.js";

export type { Fields, ReplayOptions } from "./replay.js";

/** A connected client as the server sees it. */
export interface SimConnection {
  readonly id: number;
  readonly socket: Socket;
  loggedIn: boolean;
  challenge?: string;
  /** Write one message (fields in order). */
  send(fields: Fields): void;
}

/** Return the response fields (ActionID is added), or nothing to stay silent. */
export type ActionHandler = (action: AmiMessage, conn: SimConnection) => Fields | void;

export interface ReceivedAction {
  connId: number;
  action: AmiMessage;
}

export interface AmiServerOptions {
  host?: string;
  port?: number;
  banner?: string;
  /** Accept every login (default), refuse every login, or decide per username/secret. */
  acceptLogin?: boolean | ((username: string, secret: string | undefined) => boolean);
  /** The secret an MD5 `Key` is checked against (MD5 logins are refused without it). */
  md5Secret?: string;
  asteriskVersion?: string;
  /** Bytes written in the very same write as a successful login response. */
  afterLogin?: Buffer;
  /**
   * Send `Event: FullyBooted` right after a successful login, as a booted Asterisk does
   * (default false: byte-exact replays stay as recorded); `boot()` sends it later.
   */
  fullyBooted?: boolean;
  /** Answer Ping (default true); false simulates a hung PBX. */
  answerPing?: boolean;
  now?: () => number;
  /** Keep every action received (tests assert on them); the long-running simulator turns it off. */
  record?: boolean;
}

export interface AmiServerEvents {
  /** Emitted after an action has been recorded and answered. */
  action: [AmiMessage, SimConnection];
}

export class AmiServer extends EventEmitter<AmiServerEvents> {
  readonly received: ReceivedAction[] = [];
  private server: Server | undefined;
  private readonly conns = new Set<SimConnection>();
  private readonly handlers = new Map<string, ActionHandler>();
  private readonly lists = new Map<string, { events: Fields[]; complete: string }>();
  private readonly raw: { connId: number; chunk: Buffer }[] = [];
  private nextId = 1;
  private boundPort: number;
  private booted: boolean;

  constructor(readonly opts: AmiServerOptions = {}) {
    super();
    this.boundPort = opts.port ?? 0;
    this.booted = opts.fullyBooted === true;
    this.setList("CoreShowChannels", []);
  }

  get port(): number {
    return this.boundPort;
  }

  get connections(): readonly SimConnection[] {
    return [...this.conns];
  }

  /** Every byte received (from one connection, or from all), in arrival order. */
  rawReceived(connId?: number): Buffer {
    return Buffer.concat(this.raw.filter((r) => connId === undefined || r.connId === connId).map((r) => r.chunk));
  }

  /** Handle another action (name is case-insensitive, as in Asterisk). */
  handle(action: string, handler: ActionHandler): this {
    this.handlers.set(action.toLowerCase(), handler);
    return this;
  }

  /** Drop a handler set with handle(): the action gets its built-in answer again. */
  unhandle(action: string): this {
    this.handlers.delete(action.toLowerCase());
    return this;
  }

  /** Canned list action: `EventList: start`, the events, then `<Action>Complete`. */
  setList(action: string, events: Fields[], completeEvent = `${action}Complete`): this {
    this.lists.set(action.toLowerCase(), { events, complete: completeEvent });
    return this;
  }

  async listen(): Promise<number> {
    const server = createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.boundPort, this.opts.host ?? "127.0.0.1", () => resolve());
    });
    this.boundPort = (server.address() as AddressInfo).port;
    return this.boundPort;
  }

  /** Write bytes to every logged-in client, chunked and optionally paced. */
  async replay(bytes: Buffer, opts: ReplayOptions = {}): Promise<number> {
    const body = opts.raw ? bytes : stripTracePreamble(bytes);
    const targets = [...this.conns].filter((c) => c.loggedIn);
    for (const [start, end] of chunkPlan(body.length, opts)) {
      for (const c of targets) if (!c.socket.destroyed) c.socket.write(body.subarray(start, end));
      if (opts.paceMs !== undefined) await sleep(opts.paceMs);
    }
    return body.length;
  }

  /** Asterisk has finished loading: `FullyBooted` to every logged-in client, and after each later login. */
  boot(): void {
    this.booted = true;
    this.broadcast([["Event", "FullyBooted"], ["Privilege", "system,all"], ["Uptime", "1"], ["LastReload", "1"], ["Status", "Fully Booted"]]);
  }

  /** Like a PBX that restarts and is still loading its modules: no FullyBooted until boot(). */
  unboot(): void {
    this.booted = false;
  }

  /** Send one event to every logged-in client. */
  broadcast(fields: Fields): void {
    for (const c of this.conns) if (c.loggedIn) c.send(fields);
  }

  dropConnections(): void {
    for (const c of this.conns) c.socket.destroy();
    this.conns.clear();
  }

  /** Like a PBX restart: close everything, then listen again on the same port. */
  async restart(): Promise<void> {
    await this.close();
    await this.listen();
  }

  async close(): Promise<void> {
    this.dropConnections();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const decoder = new AmiDecoder({ expectBanner: false });
    const conn: SimConnection = {
      id: this.nextId++,
      socket,
      loggedIn: false,
      send: (fields) => {
        if (!socket.destroyed) socket.write(encodeMessage(fields));
      },
    };
    this.conns.add(conn);
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.conns.delete(conn));
    socket.write(`${this.opts.banner ?? "Asterisk Call Manager/11.0.0"}\r\n`);
    socket.on("data", (chunk: Buffer) => {
      if (this.opts.record !== false) this.raw.push({ connId: conn.id, chunk });
      for (const msg of decoder.push(chunk)) {
        if (this.opts.record !== false) this.received.push({ connId: conn.id, action: msg });
        this.dispatch(msg, conn);
        this.emit("action", msg, conn);
      }
    });
  }

  private dispatch(msg: AmiMessage, conn: SimConnection): void {
    const name = (header(msg, "Action") ?? "").toLowerCase();
    const id = header(msg, "ActionID");
    const reply = (fields: Fields, extra?: Buffer): void => {
      const [first, ...rest] = fields;
      const withId: Fields = id === undefined || !first ? fields : [first, ["ActionID", id], ...rest];
      if (conn.socket.destroyed) return;
      conn.socket.write(extra ? Buffer.concat([encodeMessage(withId), extra]) : encodeMessage(withId));
    };
    const custom = this.handlers.get(name);
    if (custom) {
      const fields = custom(msg, conn);
      if (fields) reply(fields);
      return;
    }
    if (name === "login") return this.login(msg, conn, reply);
    if (name === "challenge") {
      conn.challenge = randomBytes(6).readUIntBE(0, 6).toString().slice(0, 9);
      return reply([["Response", "Success"], ["Challenge", conn.challenge]]);
    }
    if (!conn.loggedIn) return reply([["Response", "Error"], ["Message", "Permission denied"]]);
    const list = this.lists.get(name);
    if (list) return this.sendList(list, id, conn, reply);
    switch (name) {
      case "ping":
        if (this.opts.answerPing === false) return;
        return reply([["Response", "Success"], ["Ping", "Pong"], ["Timestamp", ((this.opts.now ?? Date.now)() / 1000).toFixed(6)]]);
      case "coresettings":
        return reply([
          ["Response", "Success"],
          ["AMIversion", (this.opts.banner ?? "Asterisk Call Manager/11.0.0").split("/")[1] ?? ""],
          ["AsteriskVersion", this.opts.asteriskVersion ?? "22.10.1"],
          ["SystemName", ""],
        ]);
      case "filter":
        return reply([["Response", "Success"], ["Message", "Filter Added Successfully"]]);
      case "logoff":
        reply([["Response", "Goodbye"], ["Message", "Thanks for all the fish."]]);
        conn.socket.end();
        return;
      default:
        return reply([["Response", "Error"], ["Message", "Invalid/unknown command"]]);
    }
  }

  private login(msg: AmiMessage, conn: SimConnection, reply: (f: Fields, extra?: Buffer) => void): void {
    const user = header(msg, "Username") ?? "";
    let ok: boolean;
    if ((header(msg, "AuthType") ?? "").toLowerCase() === "md5") {
      const want = createHash("md5").update(`${conn.challenge ?? ""}${this.opts.md5Secret ?? ""}`).digest("hex");
      ok = conn.challenge !== undefined && this.opts.md5Secret !== undefined && header(msg, "Key") === want;
    } else {
      const accept = this.opts.acceptLogin ?? true;
      ok = typeof accept === "function" ? accept(user, header(msg, "Secret")) : accept;
    }
    if (!ok) {
      // Asterisk ends the session after a failed login (manager.c returns -1).
      reply([["Response", "Error"], ["Message", "Authentication failed"]]);
      conn.socket.end();
      return;
    }
    conn.loggedIn = true;
    const booted = this.booted ? encodeMessage([["Event", "FullyBooted"], ["Privilege", "system,all"], ["Uptime", "1"], ["LastReload", "1"], ["Status", "Fully Booted"]]) : undefined;
    const extra = [booted, this.opts.afterLogin].filter((b): b is Buffer => b !== undefined);
    reply([["Response", "Success"], ["Message", "Authentication accepted"]], extra.length > 0 ? Buffer.concat(extra) : undefined);
  }

  private sendList(
    list: { events: Fields[]; complete: string },
    id: string | undefined,
    conn: SimConnection,
    reply: (f: Fields) => void,
  ): void {
    const idField: Fields = id === undefined ? [] : [["ActionID", id]];
    reply([["Response", "Success"], ["EventList", "start"], ["Message", "Events will follow"]]);
    for (const ev of list.events) {
      const [first, ...rest] = ev;
      conn.send(first ? [first, ...idField, ...rest] : ev);
    }
    conn.send([["Event", list.complete], ...idField, ["EventList", "Complete"], ["ListItems", String(list.events.length)]]);
  }
}
