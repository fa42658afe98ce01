// node bench/profile-top.ts FILE.cpuprofile [N]: the functions a V8 CPU profile spent its samples in — self time
// and total (inclusive) time, top N (default 30) — without opening DevTools. For the profiles BENCH_CPU_PROF
// writes (bench:jobs, bench:gateway).
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const [file, top = '30'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-top.ts FILE.cpuprofile [N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
};
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
profile.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const name = (n: Node) => {
  const where = n.callFrame.url.replace(/^.*\/(node_modules\/)?/, '');
  return `${n.callFrame.functionName || '(anonymous)'} ${where}:${n.callFrame.lineNumber + 1}`;
};
const selfBy = new Map<string, number>();
const totalBy = new Map<string, number>();
let all = 0;
for (const [id, us] of self) {
  all += us;
  selfBy.set(name(byId.get(id)!), (selfBy.get(name(byId.get(id)!)) ?? 0) + us);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const k = name(byId.get(at)!);
    if (seen.has(k)) continue;
    seen.add(k);
    totalBy.set(k, (totalBy.get(k) ?? 0) + us);
  }
}
const ms = (us: number) => `${(us / 1000).toFixed(1)} ms`.padStart(9);
console.log(`${ms(all)} sampled`);
console.log('\nself:');
for (const [k, us] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, Number(top)))
  console.log(`${ms(us)}  ${k}`);
console.log('\ntotal:');
for (const [k, us] of [...totalBy].sort((a, b) => b[1] - a[1]).slice(0, Number(top)))
  console.log(`${ms(us)}  ${k}`);
