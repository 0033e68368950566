/**
 * `node --import tsx bench/cpuprofile-summary.ts FILE.cpuprofile [--top 25]`: where a profile's
 * time went, as self time per function and per source file (node --cpu-prof output). Paths are
 * shown relative to the repository; Node internals and dependencies keep their own names.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export function summarizeProfile(p: Profile, root: string): { total: number; byFunction: Array<[string, number]>; byFile: Array<[string, number]> } {
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const hits = n.hitCount ?? 0;
    if (hits === 0) continue;
    total += hits;
    const url = n.callFrame.url.replace(/^file:\/\//, '').replace(root, '') || '(native/vm)';
    const name = `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
    fn.set(name, (fn.get(name) ?? 0) + hits);
    file.set(url, (file.get(url) ?? 0) + hits);
  }
  const sort = (m: Map<string, number>): Array<[string, number]> => [...m].sort((a, b) => b[1] - a[1]);
  return { total, byFunction: sort(fn), byFile: sort(file) };
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' } }, allowPositionals: true });
  const path = positionals[0];
  if (path === undefined) throw new Error('usage: cpuprofile-summary.ts FILE.cpuprofile [--top N]');
  const top = Number(values.top);
  const root = new URL('..', import.meta.url).pathname;
  const s = summarizeProfile(JSON.parse(readFileSync(path, 'utf8')) as Profile, root);
  const pct = (n: number): string => `${((n / s.total) * 100).toFixed(1).padStart(5)} %`;
  process.stdout.write(`samples: ${s.total}\n\nself time by file:\n`);
  for (const [k, v] of s.byFile.slice(0, top)) process.stdout.write(`${pct(v)}  ${k}\n`);
  process.stdout.write('\nself time by function:\n');
  for (const [k, v] of s.byFunction.slice(0, top)) process.stdout.write(`${pct(v)}  ${k}\n`);
}

main();
