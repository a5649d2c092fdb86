import { afterEach, describe, expect, it } from "vitest";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { openDb } from "../../src/store/db.js";
import { memoryLogger } from "../../src/log.js";
import { ContactDirectory, type ContactDirectoryDeps } from "../../src/directory/contacts.js";

const numbers = { defaultCountry: "DE", lastDigits: 8, maxExtensionLength: 6 };

const CSV = [
  "name,company,numbers,record_id,url",
  'Anna Schmidt,"Acme, GmbH",+49 30 123456;0171 5551234,CRM-1,https://crm.example/c/1',
  "Bernd Bauer,Acme GmbH,030 123456,CRM-2,",
  ",No Name GmbH,030 999999,CRM-3,",
  "Carla Chef,Beta AG,1001,CRM-4,",
  "Dora Daten,Gamma KG,,CRM-5,",
  "Emil Extra,Delta,0049 89 7654321|0049 89 7654322,CRM-6,javascript:alert(1)",
  "Fritz Fuchs,Epsilon,0049 40 11223344,CRM-7,https://crm.example/c/7,surplus",
  "Gina Global,Zeta,+1 212 555 0100,,",
].join("\n");

function directory(extra: Partial<ContactDirectoryDeps> = {}) {
  const { log, lines } = memoryLogger();
  const dir = new ContactDirectory({ db: openDb(":memory:"), numbers, log, lookupTimeoutMs: 2000, cacheSeconds: 60, ...extra });
  return { dir, lines };
}

describe("ContactDirectory: CSV import and local lookup", () => {
  it("imports good lines and reports bad ones by line number", () => {
    const { dir } = directory();
    const r = dir.importCsv(CSV);
    expect(r.imported).toBe(3);
    expect(r.errors).toEqual([
      { line: 4, message: "name is empty" },
      { line: 5, message: "1001 is an internal extension" },
      { line: 6, message: "no phone number" },
      { line: 7, message: "url must start with http:// or https://" },
      { line: 8, message: "expected 5 fields, found 6" },
    ]);
    expect(dir.list().map((c) => [c.name, c.company, c.recordId, c.numbers])).toEqual([
      ["Anna Schmidt", "Acme, GmbH", "CRM-1", ["+49 30 123456", "0171 5551234"]],
      ["Bernd Bauer", "Acme GmbH", "CRM-2", ["030 123456"]],
      ["Gina Global", "Zeta", null, ["+1 212 555 0100"]],
    ]);
  });

  it("accepts several number/phone columns in any order and case", () => {
    const { dir } = directory();
    const r = dir.importCsv("Phone,NAME,Mobile\n030 5550001,Hans,0171 0000001\n");
    expect(r).toEqual({ imported: 1, errors: [] });
    expect(dir.lookupLocal("+491710000001").status).toBe("single");
    expect(dir.lookupLocal("+49305550001").records[0]?.name).toBe("Hans");
  });

  it("refuses a file without a name or number column", () => {
    const { dir } = directory();
    expect(dir.importCsv("company,numbers\nAcme,030 1\n").errors).toEqual([{ line: 1, message: "header has no name column" }]);
    expect(dir.importCsv("name,company\nA,B\n").errors[0]?.message).toBe("header has no numbers/number/phone column");
    expect(dir.importCsv("").errors).toEqual([{ line: 1, message: "no header row" }]);
  });

  it("re-importing the same record id replaces the contact", () => {
    const { dir } = directory();
    dir.importCsv("name,numbers,record_id\nOld,030 111111,R1\n");
    dir.importCsv("name,numbers,record_id\nNew,030 222222,R1\n");
    expect(dir.list().map((c) => [c.name, c.numbers])).toEqual([["New", ["030 222222"]]]);
    expect(dir.lookupLocal("030 111111").status).toBe("none");
  });

  it("matches on E.164 first, reporting multiple contacts with count and records", () => {
    const { dir } = directory();
    dir.importCsv(CSV);
    const m = dir.lookupLocal("+4930123456");
    expect(m.status).toBe("multiple");
    expect(m.count).toBe(2);
    expect(m.records.map((r) => [r.name, r.matchedOn])).toEqual([
      ["Anna Schmidt", "e164"],
      ["Bernd Bauer", "e164"],
    ]);
    const single = dir.lookupLocal("0049 171 5551234");
    expect(single).toEqual({
      status: "single",
      count: 1,
      records: [{ name: "Anna Schmidt", company: "Acme, GmbH", recordId: "CRM-1", url: "https://crm.example/c/1", matchedOn: "e164" }],
    });
  });

  it("falls back to the last digits when there is no E.164 match", () => {
    const { dir } = directory();
    dir.importCsv(CSV);
    // Same last 8 digits as +1 212 555 0100, different country.
    const m = dir.lookupLocal("+44 20 2555 0100");
    expect(m.status).toBe("single");
    expect(m.records[0]).toMatchObject({ name: "Gina Global", matchedOn: "last_digits" });
  });

  it("never matches extensions, withheld numbers or unknown numbers", () => {
    const { dir } = directory();
    dir.importCsv(CSV + "\nZoe,Z,030 1001\n");
    for (const raw of ["1001", "anonymous", "", "<unknown>", "+4989000000"]) {
      expect(dir.lookupLocal(raw)).toEqual({ status: "none", count: 0, records: [] });
    }
  });

  it("removes a contact", () => {
    const { dir } = directory();
    dir.importCsv(CSV);
    const anna = dir.list().find((c) => c.name === "Anna Schmidt")!;
    expect(dir.remove(anna.id)).toBe(true);
    expect(dir.remove(anna.id)).toBe(false);
    expect(dir.lookupLocal("+4930123456").count).toBe(1);
  });

  it("lookup without a CRM is the local answer with nothing later", () => {
    const { dir } = directory();
    dir.importCsv(CSV);
    const r = dir.lookup("+4930123456");
    expect(r.now.status).toBe("multiple");
    expect(r.later).toBeUndefined();
  });
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  servers = [];
});

async function crm(handler: Handler): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? "");
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/lookup?phone={e164}&raw={raw}`, requests };
}

const json = (body: unknown): Handler => (_req, res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

describe("ContactDirectory: CRM lookup", () => {
  it("a slow CRM: pending now, its answer later", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const srv = await crm((req, res) => void gate.then(() => json([{ name: "Acme Corp", recordId: "A-1", url: "https://crm/a1" }])(req, res)));
    const { dir } = directory({ lookupUrl: srv.url });
    const r = dir.lookup("+49 30 9876543");
    expect(r.now).toEqual({ status: "pending", count: 0, records: [] });
    release();
    expect(await r.later).toEqual({
      status: "single",
      count: 1,
      records: [{ name: "Acme Corp", company: null, recordId: "A-1", url: "https://crm/a1", matchedOn: "e164" }],
    });
    expect(srv.requests).toEqual(["/lookup?phone=%2B49309876543&raw=%2B49%2030%209876543"]);
  });

  it("accepts { records: [...] } with numeric ids", async () => {
    const srv = await crm(json({ records: [{ name: "A", id: 7 }, { name: "B", company: "Co" }] }));
    const { dir } = directory({ lookupUrl: srv.url });
    const m = await dir.lookup("+49309876543").later;
    expect(m?.status).toBe("multiple");
    expect(m?.records.map((x) => [x.name, x.recordId, x.company])).toEqual([
      ["A", "7", null],
      ["B", null, "Co"],
    ]);
  });

  it("a failing CRM resolves to the local answer and logs a warning", async () => {
    const srv = await crm((_req, res) => {
      res.writeHead(500);
      res.end("boom");
    });
    const { dir, lines } = directory({ lookupUrl: srv.url });
    dir.importCsv(CSV);
    const r = dir.lookup("+4930123456");
    expect(r.now.status).toBe("multiple");
    expect((await r.later)?.count).toBe(2);
    expect(lines.find((l) => l.msg === "crm lookup failed")).toMatchObject({ level: "warn", status: 500 });
  });

  it("a CRM that never answers times out to the local answer", async () => {
    const srv = await crm(() => undefined);
    const { dir, lines } = directory({ lookupUrl: srv.url, lookupTimeoutMs: 50 });
    expect(await dir.lookup("+49309876543").later).toEqual({ status: "none", count: 0, records: [] });
    expect(lines.find((l) => l.msg === "crm lookup failed")).toMatchObject({ reason: "timeout" });
  });

  it("invalid JSON from the CRM resolves to the local answer", async () => {
    const srv = await crm((_req, res) => res.end("<html>"));
    const { dir } = directory({ lookupUrl: srv.url });
    expect((await dir.lookup("+49309876543").later)?.status).toBe("none");
  });

  it("a cached answer comes at once, without a request; it expires", async () => {
    const srv = await crm(json([{ name: "Acme Corp" }]));
    let t = 1_000_000;
    const { dir } = directory({ lookupUrl: srv.url, now: () => t });
    await dir.lookup("+49309876543").later;
    const second = dir.lookup("0309876543");
    expect(second.later).toBeUndefined();
    expect(second.now.records[0]?.name).toBe("Acme Corp");
    expect(srv.requests).toHaveLength(1);
    t += 61_000;
    expect(dir.lookup("+49309876543").later).toBeDefined();
  });

  it("one request for concurrent lookups of the same number; none for extensions", async () => {
    const srv = await crm(json([]));
    const { dir } = directory({ lookupUrl: srv.url });
    const a = dir.lookup("+49309876543");
    const b = dir.lookup("+49309876543");
    await Promise.all([a.later, b.later]);
    expect(srv.requests).toHaveLength(1);
    expect(dir.lookup("1001")).toEqual({ now: { status: "none", count: 0, records: [] } });
    expect(dir.lookup("anonymous").later).toBeUndefined();
  });
});
