/**
 * Tidy check: src/core is sans-IO and deterministic. No wall clock (Date, performance), no
 * ambient randomness (Math.random, crypto), no timers, no process, and no node:* or other IO
 * modules — time arrives as ticks, randomness through the injected Random, IO as effects.
 * Comments are stripped first so a header may name what the code must not use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const core = join(root, 'src/core');

/** Third-party packages core may import: pure computation only. */
const ALLOWED_PACKAGES = new Set(['cluster-key-slot', 'msgpackr']);

const FORBIDDEN: readonly [RegExp, string][] = [
  [/\bDate\b/, 'Date'],
  [/Math\.random/, 'Math.random'],
  [/\bperformance\b/, 'performance'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask|clearTimeout|clearInterval)\b/, 'timers'],
  [/\bprocess\./, 'process'],
  [/\bcrypto\b/, 'crypto'],
  [/\brequire\s*\(/, 'require'],
];

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

export function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

export function violations(src: string): string[] {
  const code = stripComments(src);
  const out: string[] = [];
  for (const [re, name] of FORBIDDEN) if (re.test(code)) out.push(name);
  for (const m of code.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
    const spec = m[1] as string;
    if (spec.startsWith('.')) continue;
    if (!ALLOWED_PACKAGES.has(spec)) out.push(`import '${spec}'`);
  }
  return out;
}

test('core purity: no file under src/core reads clocks, randomness, timers, process or node:* modules', () => {
  const files = walk(core, []);
  assert.ok(files.length >= 5, 'src/core has files to check');
  const bad: string[] = [];
  for (const f of files) {
    const v = violations(readFileSync(f, 'utf8'));
    if (v.length > 0) bad.push(`${relative(root, f)}: ${v.join(', ')}`);
  }
  assert.deepEqual(bad, []);
});

test('core purity: the check itself flags each forbidden use and ignores comments', () => {
  assert.deepEqual(violations('const t = Date.now();'), ['Date']);
  assert.deepEqual(violations('const r = Math.random();'), ['Math.random']);
  assert.deepEqual(violations('setTimeout(f, 1);'), ['timers']);
  assert.deepEqual(violations("import { readFileSync } from 'node:fs';"), ["import 'node:fs'"]);
  assert.deepEqual(violations("import x from 'fs';"), ["import 'fs'"]);
  assert.deepEqual(violations("import { pack } from 'msgpackr';\nimport { a } from './a.js';"), []);
  assert.deepEqual(violations('/** never reads Date or Math.random */\n// setTimeout is banned\nconst x = 1;'), []);
});
