/**
 * Devices qualified with their PBX (cluster mode): what a PBX worker maps, and the PBXs a
 * user's devices name (the gateway's command routing).
 */
import { describe, expect, it } from "vitest";
import { devicesOn, pbxsOf, splitDevice, usersForPbx } from "../../src/directory/pbxDevices.js";

describe("PBX-qualified devices", () => {
  it("splits at a ':' before the '/' only", () => {
    expect(splitDevice("hamburg:PJSIP/1001")).toEqual({ pbxId: "hamburg", device: "PJSIP/1001" });
    expect(splitDevice("PJSIP/1001")).toEqual({ pbxId: null, device: "PJSIP/1001" });
    expect(splitDevice("PJSIP/10:01")).toEqual({ pbxId: null, device: "PJSIP/10:01" });
  });

  it("a worker maps the plain devices and its own qualified ones, stripped, and every user", () => {
    const users = [
      { id: "alice", devices: ["hamburg:PJSIP/1001", "PJSIP/2001", "berlin:PJSIP/1009"] },
      { id: "xavier", devices: ["berlin:PJSIP/1001"] },
      { id: "bob", devices: ["PJSIP/1002"] },
      { id: "sam", devices: [] },
    ];
    expect(usersForPbx(users, "hamburg")).toEqual([
      { id: "alice", devices: ["PJSIP/1001", "PJSIP/2001"] },
      { id: "xavier", devices: [] },
      { id: "bob", devices: ["PJSIP/1002"] },
      { id: "sam", devices: [] },
    ]);
    expect(usersForPbx(users, "berlin").map((u) => u.devices)).toEqual([["PJSIP/2001", "PJSIP/1009"], ["PJSIP/1001"], ["PJSIP/1002"], []]);
    expect(devicesOn(["PJSIP/1001", "hamburg:PJSIP/1001"], "hamburg")).toEqual(["PJSIP/1001"]);
  });

  it("names the PBXs of a user's devices", () => {
    expect(pbxsOf(["hamburg:PJSIP/1001", "berlin:PJSIP/1", "hamburg:PJSIP/2"])).toEqual({ named: ["hamburg", "berlin"], anyPlain: false });
    expect(pbxsOf(["PJSIP/1", "berlin:PJSIP/1"])).toEqual({ named: ["berlin"], anyPlain: true });
  });
});
