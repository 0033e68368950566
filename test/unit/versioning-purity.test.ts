import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const DIR = new URL('../../src/core/versioning/', import.meta.url).pathname;

test('versioning is sans-IO: no clock, randomness, timers or node: modules in src/core/versioning', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 4);
  const banned = [/\bDate\b/, /Math\.random/, /\bsetTimeout\b|\bsetInterval\b|\bsetImmediate\b/, /performance\.now/, /from ['"]node:/, /\bprocess\./];
  for (const f of files) {
    const src = readFileSync(join(DIR, f), 'utf8');
    for (const re of banned) assert.ok(!re.test(src), `${f} matches ${re}`);
  }
});
