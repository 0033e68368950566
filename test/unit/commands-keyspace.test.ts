/**
 * TTL and keyspace commands: Redis 7.0.15 replies and error texts, glob matching, SCAN cursors.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globMatch } from '../../src/data/glob-match.js';
import { OK, err, makeHarness, type Reply } from './commands-harness.js';

describe('expire commands', () => {
  it('EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT set the expiry; TTL family reports it', async () => {
    const h = makeHarness();
    await h.run('SET', 'k', 'v');
    assert.equal(await h.run('EXPIRE', 'k', '100'), 1);
    assert.equal(await h.run('TTL', 'k'), 100);
    assert.equal(await h.run('PEXPIRE', 'k', '1500'), 1);
    assert.equal(await h.run('TTL', 'k'), 2, 'seconds round half up');
    assert.equal(await h.run('PTTL', 'k'), 1500);
    assert.equal(await h.run('PEXPIRETIME', 'k'), h.clock.now + 1500);
    const at = Math.floor(h.clock.now / 1000) + 60;
    assert.equal(await h.run('EXPIREAT', 'k', String(at)), 1);
    assert.equal(await h.run('EXPIRETIME', 'k'), at);
    assert.equal(await h.run('PEXPIREAT', 'k', String(h.clock.now + 10)), 1);
    assert.equal(await h.run('PTTL', 'k'), 10);
    assert.equal(await h.run('EXPIRE', 'nokey', '10'), 0);
    assert.equal(await h.run('TTL', 'nokey'), -2);
    assert.equal(await h.run('EXPIRETIME', 'nokey'), -2);
  });

  it('a past or negative time deletes the key and replies 1', async () => {
    const h = makeHarness();
    await h.run('SET', 'k', 'v');
    assert.equal(await h.run('EXPIRE', 'k', '-1'), 1);
    assert.equal(await h.run('EXISTS', 'k'), 0);
    await h.run('SET', 'k', 'v');
    assert.equal(await h.run('PEXPIREAT', 'k', '-9223372036854770000'), 1);
    assert.equal(await h.run('TTL', 'k'), -2);
  });

  it('NX/XX/GT/LT decide against the current expiry (no TTL = infinite)', async () => {
    const h = makeHarness();
    await h.run('SET', 'k', 'v');
    assert.equal(await h.run('EXPIRE', 'k', '100', 'XX'), 0);
    assert.equal(await h.run('EXPIRE', 'k', '100', 'GT'), 0);
    assert.equal(await h.run('EXPIRE', 'k', '100', 'LT'), 1);
    assert.equal(await h.run('EXPIRE', 'k', '200', 'NX'), 0);
    assert.equal(await h.run('EXPIRE', 'k', '200', 'LT'), 0);
    assert.equal(await h.run('EXPIRE', 'k', '200', 'GT'), 1);
    assert.equal(await h.run('EXPIRE', 'k', '50', 'XX', 'LT'), 1);
    assert.equal(await h.run('TTL', 'k'), 50);
  });

  it('option and overflow errors use Redis texts and leave the TTL alone', async () => {
    const h = makeHarness();
    await h.run('SET', 'k', 'v');
    assert.deepEqual(await h.run('EXPIRE', 'k', '10', 'NX', 'XX'), err('ERR NX and XX, GT or LT options at the same time are not compatible'));
    assert.deepEqual(await h.run('EXPIRE', 'k', '10', 'GT', 'LT'), err('ERR GT and LT options at the same time are not compatible'));
    assert.deepEqual(await h.run('EXPIRE', 'k', '10', 'xyz'), err('ERR Unsupported option xyz'));
    assert.deepEqual(await h.run('EXPIRE', 'k', ''), err('ERR value is not an integer or out of range'));
    for (const v of ['9223370399119966', '9223372036854776', '10000000000000000', '-9223372036854776']) {
      assert.deepEqual(await h.run('EXPIRE', 'k', v), err("ERR invalid expire time in 'expire' command"), v);
    }
    assert.deepEqual(await h.run('PEXPIRE', 'k', '9223372036854770000'), err("ERR invalid expire time in 'pexpire' command"));
    assert.equal(await h.run('PEXPIREAT', 'k', '9223372036854770000'), 1);
    assert.equal(await h.run('PERSIST', 'k'), 1);
    assert.equal(await h.run('PERSIST', 'k'), 0);
    assert.equal(await h.run('TTL', 'k'), -1);
  });
});

describe('keyspace commands', () => {
  it('DEL/UNLINK count removed keys once; EXISTS counts duplicates; TYPE; TOUCH', async () => {
    const h = makeHarness();
    await h.run('MSET', 'a', '1', 'b', '2');
    assert.equal(await h.run('EXISTS', 'a', 'a', 'c'), 2);
    assert.equal(await h.run('TOUCH', 'a', 'b', 'c'), 2);
    assert.deepEqual(await h.run('TYPE', 'a'), { simple: 'string' });
    assert.deepEqual(await h.run('TYPE', 'c'), { simple: 'none' });
    assert.equal(await h.run('DEL', 'a', 'a', 'c'), 1);
    assert.equal(await h.run('UNLINK', 'b'), 1);
    assert.equal(await h.run('DEL', 'b'), 0);
  });

  it('KEYS matches with Redis glob rules on binary keys', async () => {
    const h = makeHarness();
    await h.run('MSET', 'foo', '1', 'fao', '1', 'fxo', '1', 'f*o', '1', 'bar', '1', 'k\xff', '1', '', 'empty');
    const sorted = async (p: string): Promise<Reply> => ((await h.run('KEYS', p)) as string[]).sort();
    assert.deepEqual(await sorted('f?o'), ['f*o', 'fao', 'foo', 'fxo']);
    assert.deepEqual(await sorted('f[ao]o'), ['fao', 'foo']);
    assert.deepEqual(await sorted('f[^ao]o'), ['f*o', 'fxo']);
    assert.deepEqual(await sorted('f[a-o]o'), ['fao', 'foo']);
    assert.deepEqual(await sorted('f\\*o'), ['f*o']);
    assert.deepEqual(await sorted('k\xff'), ['k\xff']);
    assert.equal(((await h.run('KEYS', '*')) as string[]).length, 7, 'KEYS * includes the empty key');
  });

  it('glob matcher: ranges reversed, unterminated class, nested stars stay fast', () => {
    assert.equal(globMatch('[z-a]', 'm'), true);
    assert.equal(globMatch('a[bc', 'ab'), true);
    assert.equal(globMatch('a[bc', 'a['), false);
    // As in Redis, the matcher itself does not match '' with '*'; KEYS/SCAN special-case "*".
    assert.equal(globMatch('*', ''), false);
    assert.equal(globMatch('a\\', 'a\\'), true);
    const t0 = Date.now();
    assert.equal(globMatch('a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(40)), false);
    assert.equal(globMatch('*?'.repeat(50000), 'a'.repeat(50000)), false);
    assert.ok(Date.now() - t0 < 2000);
  });

  it('SCAN walks every key once with an integer cursor, honours MATCH, COUNT, TYPE', async () => {
    const h = makeHarness();
    const all = new Set<string>();
    for (let i = 0; i < 95; i++) {
      await h.run('SET', `key:${i}`, 'v');
      all.add(`key:${i}`);
    }
    const seen: string[] = [];
    let cursor = '0';
    do {
      const r = (await h.run('SCAN', cursor, 'COUNT', '10')) as [string, string[]];
      assert.match(r[0], /^[0-9]+$/);
      cursor = r[0];
      seen.push(...r[1]);
    } while (cursor !== '0');
    assert.equal(seen.length, 95);
    assert.deepEqual(new Set(seen), all);
    const m = (await h.run('SCAN', '0', 'MATCH', 'key:1?', 'COUNT', '1000')) as [string, string[]];
    assert.equal(m[1].length, 10);
    const t = (await h.run('SCAN', '0', 'TYPE', 'list', 'COUNT', '1000')) as [string, string[]];
    assert.deepEqual(t[1], []);
    assert.deepEqual(await h.run('SCAN', '0', 'COUNT', '0'), err('ERR syntax error'));
    assert.deepEqual(await h.run('SCAN', 'abc'), err('ERR invalid cursor'));
    assert.deepEqual(await h.run('SCAN', '0', 'MATCH'), err('ERR syntax error'));
  });

  it('RANDOMKEY returns an existing key or nil', async () => {
    const h = makeHarness();
    assert.equal(await h.run('RANDOMKEY'), null);
    await h.run('SET', 'only', 'v');
    assert.equal(await h.run('RANDOMKEY'), 'only');
  });

  it('RENAME/RENAMENX move value and TTL; errors on a missing source', async () => {
    const h = makeHarness();
    await h.run('SET', 'a', '1', 'EX', '100');
    await h.run('SET', 'b', '2', 'EX', '5');
    assert.deepEqual(await h.run('RENAME', 'a', 'b'), OK);
    assert.equal(await h.run('GET', 'b'), '1');
    assert.equal(await h.run('TTL', 'b'), 100);
    assert.equal(await h.run('EXISTS', 'a'), 0);
    assert.deepEqual(await h.run('RENAME', 'a', 'c'), err('ERR no such key'));
    assert.deepEqual(await h.run('RENAME', 'b', 'b'), OK);
    assert.deepEqual(await h.run('RENAME', 'zz', 'zz'), err('ERR no such key'));
    await h.run('SET', 'c', '3');
    assert.equal(await h.run('RENAMENX', 'b', 'c'), 0);
    assert.equal(await h.run('RENAMENX', 'b', 'd'), 1);
    assert.equal(await h.run('RENAMENX', 'd', 'd'), 0);
  });

  it('COPY copies value and TTL, honours REPLACE and refuses other databases', async () => {
    const h = makeHarness();
    await h.run('SET', 'a', '1', 'EX', '100');
    assert.equal(await h.run('COPY', 'a', 'b'), 1);
    assert.equal(await h.run('TTL', 'b'), 100);
    await h.run('SET', 'a', '2');
    assert.equal(await h.run('COPY', 'a', 'b'), 0);
    assert.equal(await h.run('COPY', 'a', 'b', 'REPLACE'), 1);
    assert.equal(await h.run('GET', 'b'), '2');
    assert.equal(await h.run('COPY', 'nokey', 'b', 'REPLACE'), 0);
    assert.deepEqual(await h.run('COPY', 'a', 'a'), err('ERR source and destination objects are the same'));
    assert.deepEqual(await h.run('COPY', 'a', 'c', 'DB', 'x'), err('ERR value is not an integer or out of range'));
    assert.deepEqual(await h.run('COPY', 'a', 'c', 'DB', '3'), err('ERR DB index is out of range'));
    assert.equal(await h.run('COPY', 'a', 'c', 'DB', '0'), 1);
    assert.deepEqual(await h.run('COPY', 'a', 'c', 'bogus'), err('ERR syntax error'));
  });

  it('OBJECT ENCODING follows Redis string encodings; unknown subcommands are refused', async () => {
    const h = makeHarness();
    await h.run('MSET', 'i', '12345', 'e', 'hello', 'r', 'x'.repeat(45));
    assert.equal(await h.run('OBJECT', 'ENCODING', 'i'), 'int');
    assert.equal(await h.run('OBJECT', 'ENCODING', 'e'), 'embstr');
    assert.equal(await h.run('OBJECT', 'ENCODING', 'r'), 'raw');
    assert.equal(await h.run('OBJECT', 'ENCODING', 'none'), null);
    assert.equal(await h.run('OBJECT', 'REFCOUNT', 'i'), 1);
    assert.equal(await h.run('OBJECT', 'IDLETIME', 'i'), 0);
    assert.match(((await h.run('OBJECT', 'FREQ', 'i')) as { error: string }).error, /^ERR An LFU maxmemory policy is not selected/);
    const lfu = makeHarness({ maxmemoryPolicy: 'allkeys-lfu' });
    await lfu.run('SET', 'k', 'v');
    assert.equal(await lfu.run('OBJECT', 'FREQ', 'k'), 0);
    assert.match(((await lfu.run('OBJECT', 'IDLETIME', 'k')) as { error: string }).error, /^ERR An LFU maxmemory policy is selected/);
  });
});
