/**
 * The cluster node's storage layout (src/cluster/host/host-storage.ts) over the memory engine:
 * namespaces stay apart, scans page strictly after a key over user records only, hints keep
 * their owner, purge is compare-and-delete, and engine failures become `failed` results.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostStorage, META } from '../../src/cluster/host/host-storage.js';
import type { StorageOp, StorageResult } from '../../src/core/messages.js';
import { nodeId } from '../../src/core/types.js';
import { MemoryEngine } from '../../src/storage/memory/memory-engine.js';
import type { StorageEngine } from '../../src/storage/engine.js';
import { isPromise } from '../../src/util/maybe-promise.js';

/** Executes one op; sync answers are checked to be plain values (no promise allocated). */
async function run(s: HostStorage, op: StorageOp): Promise<StorageResult> {
  const r = s.execute(op);
  if (!isPromise(r)) assert.equal(typeof r.kind, 'string');
  return r;
}

const b = (t: string): Buffer => Buffer.from(t);

async function fresh(): Promise<{ engine: MemoryEngine; s: HostStorage }> {
  const engine = new MemoryEngine();
  await engine.open();
  return { engine, s: new HostStorage(engine) };
}

describe('cluster host storage layout', () => {
  it('layout: user records, hints and metadata live under their own prefixes', async () => {
    const { engine, s } = await fresh();
    assert.deepEqual(await run(s, { kind: 'write', key: 'k', record: b('r1'), sync: true }), { kind: 'written' });
    assert.deepEqual(await run(s, { kind: 'hint_put', owner: nodeId('n2'), key: 'k', entry: b('h1') }), { kind: 'written' });
    await s.writeMeta(META.incarnation, b('i'));
    const keys: string[] = [];
    for await (const [k] of engine.scan()) keys.push(k);
    assert.deepEqual(keys, ['dk', 'hn2\u0000k', 'mincarnation']);
    assert.deepEqual(await run(s, { kind: 'read', key: 'k' }), { kind: 'read', record: b('r1') });
    assert.deepEqual(await run(s, { kind: 'read', key: 'absent' }), { kind: 'read', record: null });
    assert.deepEqual(await s.readMeta(META.incarnation), b('i'));
  });

  it('scan: pages strictly after the key, user records only, done on the last page', async () => {
    const { s } = await fresh();
    for (const k of ['a', 'a\u0000', 'b', 'c', 'd']) await run(s, { kind: 'write', key: k, record: b(`v-${k}`), sync: false });
    await run(s, { kind: 'hint_put', owner: nodeId('x'), key: 'zz', entry: b('h') });
    await s.writeMeta(META.ring, b('ring'));
    const p1 = await run(s, { kind: 'scan', afterKey: null, limit: 2 });
    assert.deepEqual(p1, { kind: 'records', records: [{ key: 'a', record: b('v-a') }, { key: 'a\u0000', record: b('v-a\u0000') }], done: false });
    const p2 = await run(s, { kind: 'scan', afterKey: 'a\u0000', limit: 2 });
    assert.deepEqual(p2, { kind: 'records', records: [{ key: 'b', record: b('v-b') }, { key: 'c', record: b('v-c') }], done: false });
    const p3 = await run(s, { kind: 'scan', afterKey: 'c', limit: 2 });
    assert.deepEqual(p3, { kind: 'records', records: [{ key: 'd', record: b('v-d') }], done: true });
    const exact = await run(s, { kind: 'scan', afterKey: 'b', limit: 2 });
    assert.equal(exact.kind === 'records' && exact.done, true, 'a page that ends on the last record says done');
  });

  it('hints: a scan returns every hint with its owner, keys with NUL bytes included; delete removes one', async () => {
    const { s } = await fresh();
    await run(s, { kind: 'hint_put', owner: nodeId('n1'), key: 'k\u0000x', entry: b('e1') });
    await run(s, { kind: 'hint_put', owner: nodeId('n2'), key: 'k', entry: b('e2') });
    await run(s, { kind: 'write', key: 'user', record: b('u'), sync: false });
    const all = await run(s, { kind: 'hint_scan' });
    assert.deepEqual(all, { kind: 'hints', hints: [{ owner: 'n1', key: 'k\u0000x', entry: b('e1') }, { owner: 'n2', key: 'k', entry: b('e2') }] });
    await run(s, { kind: 'hint_delete', owner: nodeId('n1'), key: 'k\u0000x' });
    const left = await run(s, { kind: 'hint_scan' });
    assert.deepEqual(left, { kind: 'hints', hints: [{ owner: 'n2', key: 'k', entry: b('e2') }] });
  });

  it('purge: deletes only when the stored bytes still equal the given record, answers written either way', async () => {
    const { s } = await fresh();
    await run(s, { kind: 'write', key: 'k', record: b('tomb-1'), sync: true });
    assert.deepEqual(await run(s, { kind: 'purge', key: 'k', record: b('tomb-0') }), { kind: 'written' });
    assert.deepEqual(await run(s, { kind: 'read', key: 'k' }), { kind: 'read', record: b('tomb-1') }, 'a newer record survives');
    assert.deepEqual(await run(s, { kind: 'purge', key: 'k', record: b('tomb-1') }), { kind: 'written' });
    assert.deepEqual(await run(s, { kind: 'read', key: 'k' }), { kind: 'read', record: null });
  });

  it('failures: an engine that throws (sync or async) yields a failed result, never an exception', async () => {
    const { engine } = await fresh();
    const broken: StorageEngine = Object.assign(Object.create(engine) as MemoryEngine, {
      get: () => { throw new Error('disk on fire'); },
      put: () => Promise.reject(new Error('fsync failed')),
    });
    const s = new HostStorage(broken);
    assert.deepEqual(await run(s, { kind: 'read', key: 'k' }), { kind: 'failed', message: 'disk on fire' });
    assert.deepEqual(await run(s, { kind: 'write', key: 'k', record: b('r'), sync: true }), { kind: 'failed', message: 'fsync failed' });
    assert.deepEqual(await run(s, { kind: 'purge', key: 'k', record: b('r') }), { kind: 'failed', message: 'disk on fire' });
  });
});
