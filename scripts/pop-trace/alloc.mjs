import { readFileSync } from "node:fs";
const p = JSON.parse(readFileSync(process.argv[2] ?? "/tmp/alloc.heapprofile"));
const self = new Map(), stacks = new Map(); let total = 0;
const walk = (n, path) => {
  const f = n.callFrame; const name = `${f.functionName || "(anon)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
  const here = [...path, name];
  if (n.selfSize > 0) { self.set(name, (self.get(name) ?? 0) + n.selfSize); total += n.selfSize;
    const key = here.slice(-6).join(" < ".replace("<","<")); stacks.set(key, (stacks.get(key) ?? 0) + n.selfSize); }
  for (const c of n.children) walk(c, here);
};
walk(p.head, []);
const N = Number(process.argv[3] ?? 1000);
console.log("total", (total / 1024 / 1024).toFixed(1), "MB;", (total / N / 1024).toFixed(1), "KB per pop");
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log((v / N).toFixed(0).padStart(7), "B/pop", k);
console.log("--- top stacks");
for (const [k, v] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log((v / N).toFixed(0).padStart(7), k.split(" < ").reverse().join(" < "));
