import { describe, expect, it } from "vitest";
import { displayNumber, normalizeNumber } from "../../src/directory/numbers.js";

const DE = { defaultCountry: "DE", lastDigits: 8, maxExtensionLength: 6 };
const GB = { ...DE, defaultCountry: "GB" };
const US = { ...DE, defaultCountry: "US" };

describe("normalizeNumber", () => {
  it.each([
    ["+4930123456", DE, "+4930123456"],
    ["004930123456", DE, "+4930123456"],
    ["030123456", DE, "+4930123456"],
    ["+49 (0)30 123456", DE, "+4930123456"],
    ["+49 30 / 123-456", DE, "+4930123456"],
    ["0049 (0)30 123456", DE, "+4930123456"],
    ["4930123456", DE, "+4930123456"],
    ["01701234567", DE, "+491701234567"],
    ["020 7946 0018", GB, "+442079460018"],
    ["+44 20 7946 0018", GB, "+442079460018"],
    ["07700 900123", GB, "+447700900123"],
    ["(415) 555-2671", US, "+14155552671"],
    ["+1 415 555 2671", US, "+14155552671"],
    ["0309876543", DE, "+49309876543"],
  ])("%s (%s) → %s", (raw, opts, e164) => {
    const n = normalizeNumber(raw, opts);
    expect(n).toMatchObject({ raw, e164, isExtension: false, isWithheld: false });
    expect(n.lastDigits).toBe(e164.replace(/\D/g, "").slice(-8));
  });

  it.each(["1001", "100", "123456", "*8", "**1001"])("keeps the extension %s untouched", (raw) => {
    expect(normalizeNumber(raw, DE)).toEqual({ raw, e164: null, lastDigits: null, isExtension: true, isWithheld: false });
  });

  it.each(["anonymous", "Anonymous", "<unknown>", "", "  ", "restricted"])("recognises withheld %j", (raw) => {
    const n = normalizeNumber(raw, DE);
    expect(n).toEqual({ raw, e164: null, lastDigits: null, isExtension: false, isWithheld: true });
    expect(displayNumber(n)).toBe("Anonymous");
  });

  it("never drops a number it cannot normalise", () => {
    const n = normalizeNumber("sip:alice@example.com", DE);
    expect(n).toMatchObject({ raw: "sip:alice@example.com", e164: null, isExtension: false });
    expect(displayNumber(n)).toBe("sip:alice@example.com");
    expect(normalizeNumber("12345678901234567890", DE).e164).toBeNull();
  });

  it("formats E.164 for display", () => {
    expect(displayNumber(normalizeNumber("+4930123456", DE))).toBe("+49 30 123456");
  });
});
