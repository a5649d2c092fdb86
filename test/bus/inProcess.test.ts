import { describe, expect, it } from "vitest";
import { InProcessBus, type BusEvent } from "../../src/bus/index.js";

const pbx = (status: "resynced" | "disconnected"): BusEvent => ({ kind: "pbx", status, info: {} });

describe("InProcessBus", () => {
  it("delivers each fact to every subscriber in subscription order, on the publisher's stack", () => {
    const seen: string[] = [];
    const bus = new InProcessBus(() => undefined);
    bus.subscribe((ev) => seen.push(`store:${ev.kind}`));
    bus.subscribe((ev) => seen.push(`clients:${ev.kind}`));
    bus.publish(pbx("resynced"));
    expect(seen).toEqual(["store:pbx", "clients:pbx"]);
  });

  it("a subscriber that throws is reported and the next one still gets the fact", () => {
    const errors: [string, string][] = [];
    const seen: BusEvent[] = [];
    const bus = new InProcessBus((err, ev) => errors.push([(err as Error).message, ev.kind]));
    bus.subscribe(() => {
      throw new Error("disk full");
    });
    bus.subscribe((ev) => seen.push(ev));
    expect(() => bus.publish(pbx("disconnected"))).not.toThrow();
    expect(errors).toEqual([["disk full", "pbx"]]);
    expect(seen).toEqual([pbx("disconnected")]);
  });

  it("unsubscribe and close stop delivery", async () => {
    const seen: string[] = [];
    const bus = new InProcessBus(() => undefined);
    const off = bus.subscribe(() => seen.push("a"));
    bus.subscribe(() => seen.push("b"));
    off();
    bus.publish(pbx("resynced"));
    await bus.close();
    bus.publish(pbx("resynced"));
    expect(seen).toEqual(["b"]);
  });
});
