import { describe, expect, it } from "vitest";
import { deviceResource, parseChannel } from "../../src/directory/devices.js";

describe("parseChannel", () => {
  it.each([
    ["PJSIP/1001-0000002a", "PJSIP/1001"],
    ["PJSIP/100-0000002a", "PJSIP/100"],
    ["PJSIP/123456-0000002a", "PJSIP/123456"],
    ["PJSIP/carrier-0000000c", "PJSIP/carrier"],
    ["PJSIP/my-trunk-0000000c", "PJSIP/my-trunk"],
    ["SIP/1001-00000001", "SIP/1001"],
    ["IAX2/peer-4617", "IAX2/peer"],
    ["DAHDI/1-1", "DAHDI/1"],
    ["DAHDI/i1/0301234-1", "DAHDI/i1/0301234"],
    ["PJSIP/1001-00000001<ZOMBIE>", "PJSIP/1001"],
  ])("%s → device %s", (name, device) => {
    expect(parseChannel(name)).toEqual({ kind: "device", device, tech: name.split("/")[0] });
  });

  it("treats Local channels as glue", () => {
    expect(parseChannel("Local/1004@agents-0000001a;1")).toEqual({ kind: "local", device: "Local/1004@agents", tech: "Local" });
    expect(parseChannel("Local/1004@agents-0000001a;2").kind).toBe("local");
  });

  it("ignores conference announcers and odd names", () => {
    expect(parseChannel("CBAnn/800-00000001").kind).toBe("other");
    expect(parseChannel("Message/ast_msg_queue").kind).toBe("other");
    expect(parseChannel("garbage").kind).toBe("other");
  });

  it("gives the extension of a device", () => {
    expect(deviceResource("PJSIP/1001")).toBe("1001");
  });
});
