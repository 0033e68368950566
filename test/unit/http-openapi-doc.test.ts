/**
 * docs/openapi.json (linked from the README) is the document the nodes serve at /openapi.json:
 * regenerated with `UPDATE_OPENAPI=1 node --import tsx --test test/unit/http-openapi-doc.test.ts`
 * after changing a route or schema. The version field is ignored (it follows package.json).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createHttpApi } from '../../src/http/app.js';
import { silentLogger } from '../../src/server/logger.js';

const FILE = new URL('../../docs/openapi.json', import.meta.url);

const api = createHttpApi({ logger: silentLogger(), metrics: { contentType: 'text/plain', text: () => Promise.resolve('') }, isServing: () => true });

function generated(): Record<string, unknown> {
  return api.openapi();
}

function withoutVersion(doc: Record<string, unknown>): unknown {
  const info = { ...(doc['info'] as Record<string, unknown>) };
  delete info['version'];
  return { ...doc, info };
}

describe('http openapi document', () => {
  it('openapi: docs/openapi.json matches the document the server generates', () => {
    const doc = generated();
    if (process.env['UPDATE_OPENAPI'] === '1') writeFileSync(FILE, `${JSON.stringify(doc, null, 2)}\n`);
    const committed = JSON.parse(readFileSync(FILE, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(withoutVersion(committed), withoutVersion(doc), 'regenerate with UPDATE_OPENAPI=1 (see the header)');
  });

  it('openapi: every operation documents its responses, and every error status uses the registry error schema', () => {
    const paths = generated()['paths'] as Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: { properties?: Record<string, unknown> } }> }> }>>;
    let ops = 0;
    for (const [path, methods] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(methods)) {
        ops++;
        assert.ok(Object.keys(op.responses).length > 0, `${method} ${path}`);
        for (const [status, r] of Object.entries(op.responses)) {
          if (Number(status) < 400 || path === '/healthz' || path === '/readyz') continue;
          assert.ok(r.content?.['application/json']?.schema.properties?.['error'] !== undefined, `${method} ${path} ${status} has the error schema`);
        }
      }
    }
    assert.equal(ops, api.routes.length, 'one operation per route');
  });
});
