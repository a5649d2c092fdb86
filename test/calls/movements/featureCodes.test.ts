import { describe, expect, it } from "vitest";
import { featureMatcher, patternRegExp } from "../../../src/calls/movements/featureCodes.js";
import { configSchema } from "../../../src/config.js";

describe("feature codes (dialplan patterns)", () => {
  it.each([
    ["*8", "*8", true],
    ["*8", "*89", false],
    ["_**X.", "**1002", true],
    ["_**X.", "**", false],
    ["_**X.", "**x1", false],
    ["_70[1-9]", "701", true],
    ["_70[1-9]", "700", false],
    ["_71X", "719", true],
    ["_7[13]N", "732", true],
    ["_7[13]N", "721", false],
    ["_9!", "9", true],
    ["720", "720", true],
  ])("%s matches %s: %s", (pattern, dialled, want) => {
    expect(patternRegExp(pattern).test(dialled)).toBe(want);
  });

  it("the defaults are Asterisk's pickup codes and parking spaces 701-720; an empty dial never matches", () => {
    const isFeature = featureMatcher(configSchema.parse({}).calls.featureCodes);
    expect(["*8", "**1002", "701", "715", "720"].map(isFeature)).toEqual([true, true, true, true, true]);
    expect(["", "7000", "721", "1002", "800", "+4930123456"].map(isFeature)).toEqual([false, false, false, false, false, false]);
  });

  it("a broken pattern is a configuration error, not a crash at start", () => {
    const r = configSchema.safeParse({ calls: { featureCodes: ["_7[12"] } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/dialplan pattern/);
  });
});
