import { describe, expect, it } from "vitest";
import { Directory } from "../../src/directory/users.js";
import { openDb } from "../../src/store/db.js";

// applyConfig replaces the listed users' devices in one statement (issue 12); same end state as one per user.
describe("directory: config users applied in one pass", () => {
  it("a device moved to a user listed before its old owner stays with the new owner", () => {
    const db = openDb(":memory:");
    const dir = new Directory({ db });
    const amy = { id: "amy", name: "Amy", role: "agent" as const };
    const ben = { id: "ben", name: "Ben", role: "agent" as const };
    dir.applyConfig([{ ...amy, devices: [] }, { ...ben, devices: ["PJSIP/1001"] }]);
    expect(dir.userForDevice("PJSIP/1001")).toBe("ben");
    // The desk moves from Ben to Amy; Amy comes first in the file.
    dir.applyConfig([{ ...amy, devices: ["PJSIP/1001"] }, { ...ben, devices: [] }]);
    expect(dir.getUser("amy")?.devices).toEqual(["PJSIP/1001"]);
    expect(dir.getUser("ben")?.devices).toEqual([]);
    expect(dir.userForDevice("PJSIP/1001")).toBe("amy");
    db.close();
  });

  it("each user gets exactly its own devices back from the database", () => {
    const db = openDb(":memory:");
    const dir = new Directory({ db });
    const users = Array.from({ length: 50 }, (_, i) => ({ id: `u${i}`, name: `U${i}`, role: "agent" as const, devices: [`PJSIP/${3000 + i}`, `PJSIP/${4000 + i}`] }));
    dir.applyConfig(users);
    for (const u of users) expect(dir.getUser(u.id)?.devices).toEqual(u.devices);
    dir.applyConfig(users.map((u) => ({ ...u, devices: u.devices.slice(1) })));
    for (const u of users) expect(dir.getUser(u.id)?.devices).toEqual(u.devices.slice(1));
    db.close();
  });
});
