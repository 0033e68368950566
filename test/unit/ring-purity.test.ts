import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const dir = new URL('../../src/core/ring/', import.meta.url).pathname;

test('ring core is sans-IO: no node:* imports, Date, Math.random or timers', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 5);
  for (const f of files) {
    const src = readFileSync(join(dir, f), 'utf8');
    for (const banned of [/from 'node:/, /\bDate\b/, /Math\.random/, /setTimeout|setInterval|setImmediate/, /\bprocess\./, /\bBuffer\b/]) {
      assert.doesNotMatch(src, banned, `${f} uses ${banned}`);
    }
  }
});
