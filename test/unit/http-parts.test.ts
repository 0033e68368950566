/**
 * The small parts of the HTTP API, client and CLI on their own: key path encoding both ways
 * (property: any bytes round-trip), the route table's matching rules, the bounded hot-key
 * counters, the client's ring parsing, the CLI progress bar and table.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeKeyPath } from '../../src/client/client.js';
import { parseRing, replicasFor } from '../../src/client/ring.js';
import { ProgressBar, table } from '../../src/cli/commands/common.js';
import { decodeKeyPath } from '../../src/http/app.js';
import { HotKeys } from '../../src/http/hot-keys.js';
import { Router, type RouteSpec } from '../../src/http/router.js';

describe('http parts', () => {
  it('key paths: any bytes encoded by the client decode on the server to the same latin1 key', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
      const b = Buffer.from(bytes);
      const path = encodeKeyPath(b);
      assert.match(path, /^[A-Za-z0-9._~%-]+$/);
      assert.equal(decodeKeyPath(path), b.toString('latin1'));
    }));
    assert.equal(decodeKeyPath('a/b%2Fc'), 'a/b/c');
    assert.throws(() => decodeKeyPath('bad%G1'), { code: 'ERR_SYNTAX' });
    assert.throws(() => decodeKeyPath('bad%4'), { code: 'ERR_SYNTAX' });
  });

  it('router: a trailing parameter takes the rest of the path (slashes included), literal routes match exactly, wrong methods list Allow', () => {
    const h = (): void => undefined;
    const r = (method: RouteSpec['method'], path: string): RouteSpec => ({ method, path, summary: '', tag: '', responses: {}, handle: h });
    const router = new Router([r('GET', '/v1/kv/{key}'), r('PUT', '/v1/kv/{key}'), r('GET', '/v1/keys'), r('POST', '/v1/batch/get')]);
    const m = router.match('GET', '/v1/kv/a/b');
    assert.equal(m.kind, 'found');
    assert.equal(m.kind === 'found' ? m.param : '', 'a/b');
    assert.equal(router.match('HEAD', '/v1/keys').kind, 'found');
    assert.deepEqual(router.match('DELETE', '/v1/kv/x'), { kind: 'method_not_allowed', allow: 'GET, PUT, HEAD' });
    assert.deepEqual(router.match('GET', '/v1/batch/get'), { kind: 'method_not_allowed', allow: 'POST' });
    assert.equal(router.match('GET', '/v1/keysx').kind, 'not_found');
    assert.throws(() => new Router([r('GET', '/a/{x}/b')]), RangeError);
    assert.throws(() => new Router([r('GET', '/a'), r('GET', '/a')]), RangeError);
  });

  it('hot keys: counters stay bounded, and a key more frequent than total/capacity is always reported', () => {
    const hk = new HotKeys(8);
    for (let i = 0; i < 5000; i++) {
      hk.record(`cold:${i}`);
      if (i % 3 === 0) hk.record('hot');
    }
    const top = hk.top(100);
    assert.ok(top.length <= 8);
    assert.equal(top[0]?.key, 'hot');
    assert.ok((top[0]?.count ?? 0) >= 1667, 'never underestimates');
    hk.reset();
    assert.deepEqual(hk.top(5), []);
    assert.throws(() => new HotKeys(0), RangeError);
  });

  it('client ring: ranges must cover every slot in order; addresses without an HTTP port are not routable', () => {
    const ring = parseRing({
      current: { epoch: 4, ranges: [{ first: 0, last: 9999, replicas: ['a', 'b'] }, { first: 10000, last: 16383, replicas: ['b', 'c'] }] },
      nodes: { a: { host: '127.0.0.1', http_port: 1 }, b: { host: '::1', http_port: 2 }, c: { host: 'h', http_port: 0 } },
    });
    assert.equal(ring.epoch, 4);
    assert.deepEqual(replicasFor(ring, 'user:1'), { slot: 10778, replicas: ['b', 'c'] });
    assert.equal(ring.urls.get('b'), 'http://[::1]:2');
    assert.equal(ring.urls.has('c'), false);
    assert.throws(() => parseRing({ current: { epoch: 1, ranges: [{ first: 1, last: 16383, replicas: [] }] } }), { code: 'ERR_BAD_RESPONSE' });
    assert.throws(() => parseRing({ current: { epoch: 1, ranges: [{ first: 0, last: 100, replicas: [] }] } }), { code: 'ERR_BAD_RESPONSE' });
    assert.throws(() => parseRing({}), { code: 'ERR_BAD_RESPONSE' });
  });

  it('cli: the progress bar redraws in place on a terminal and prints one line per 10% elsewhere; --json silences it', () => {
    let tty = '';
    const onTty = new ProgressBar({ stdout: (t) => { tty += t; }, stderr: () => undefined, env: {}, isTty: true }, false, 10);
    onTty.update(5, 10, 'streaming');
    onTty.update(10, 10, 'streaming');
    onTty.done();
    assert.equal(tty, '\r[#####-----]  50%  streaming\u001b[K\r[##########] 100%  streaming\u001b[K\n');
    let log = '';
    const plain = new ProgressBar({ stdout: (t) => { log += t; }, stderr: () => undefined, env: {} }, false, 10);
    for (let i = 0; i <= 100; i++) plain.update(i, 100, 'streaming  slots');
    assert.equal(log.split('\n').filter((l) => l !== '').length, 11);
    let quiet = '';
    const json = new ProgressBar({ stdout: (t) => { quiet += t; }, stderr: () => undefined, env: {}, isTty: true }, true);
    json.update(1, 2, 'x');
    json.done();
    assert.equal(quiet, '');
    assert.equal(table([['a', 'bb', 'c'], ['ccc', 'd', 'e']]), 'a    bb  c\nccc  d   e\n');
  });
});
