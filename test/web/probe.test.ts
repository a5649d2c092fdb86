import { it } from "vitest";
import { PanelRig, traceParts } from "./panelRig.js";
it("probe", async () => {
  const rig = new PanelRig();
  try {
    const d = await rig.start();
    const c = d.connect("alice");
    await new Promise((r) => setTimeout(r, 300));
    const [a] = traceParts("08-queue-support-abandoned", [/^Event: QueueCallerAbandon/m]);
    await d.replay(a!); await new Promise((r) => setTimeout(r, 500));
    for (const m of (c as any).messages) console.log(m.type, m.pop, JSON.stringify(m.call?.legs), m.call?.state, JSON.stringify(m.call?.match), JSON.stringify(m.call?.from));
  } finally { await rig.close(); }
}, 60000);
