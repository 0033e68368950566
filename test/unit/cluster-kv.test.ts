/**
 * ClusterKvStore over an in-process 3-node cluster (real core Nodes, N=3, R=W=2): reads and
 * writes through any node, siblings and their resolution, conditional writes and updates,
 * multi-key fan-out, the cluster SCAN cursor, DBSIZE/RANDOMKEY/FLUSHALL, error mapping and
 * per-connection consistency levels.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterKvStore, ClusterScanCursors, pick } from '../../src/cluster/kv/cluster-kv-store.js';
import { defaultConfig } from '../../src/config/load.js';
import { keySlot } from '../../src/core/ring/index.js';
import { RingkvError } from '../../src/errors/index.js';
import { buildSlotMap, masterSlotsOf } from '../../src/cluster/kv/slot-map.js';
import { clusterInfoText, clusterNodesText } from '../../src/server/commands/cluster/cluster.js';
import { InProcessCluster } from './cluster-kv-harness.js';

const config = defaultConfig({ cluster: { nodeId: 'a' } });
const instant = { sleep: () => Promise.resolve() };

function cluster(): { c: InProcessCluster; a: ClusterKvStore; b: ClusterKvStore; cc: ClusterKvStore } {
  const c = new InProcessCluster();
  after(() => c.close());
  return {
    c,
    a: new ClusterKvStore(c.clusterNode('a'), config, instant),
    b: new ClusterKvStore(c.clusterNode('b'), config, instant),
    cc: new ClusterKvStore(c.clusterNode('c'), config, instant),
  };
}

const str = (e: { value: Buffer } | undefined): string | undefined => e?.value.toString();

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof RingkvError && e.code === code);
}

describe('cluster kv: reads and writes through any node', () => {
  it('a SET through one node is read through every other node', async () => {
    const { a, b, cc } = cluster();
    assert.deepEqual(await a.put('k1', Buffer.from('v1')), { written: true });
    assert.equal(str(await b.get('k1')), 'v1');
    assert.equal(str(await cc.get('k1')), 'v1');
    assert.equal(await a.get('missing'), undefined);
  });

  it('plain SETs through different nodes one after another overwrite: no siblings', async () => {
    const { a, b, cc } = cluster();
    await a.put('k', Buffer.from('1'));
    await b.put('k', Buffer.from('2'));
    await cc.put('k', Buffer.from('3'));
    const v = await a.getVersions('k');
    assert.deepEqual(v.values.map((e) => e.value.toString()), ['3']);
  });

  it('TTLs travel as absolute expiry on the record; an already expired SET deletes', async () => {
    const { a, b } = cluster();
    const at = Date.now() + 60_000;
    await a.put('t', Buffer.from('x'), { expiry: { kind: 'at', atMs: at } });
    assert.equal((await b.get('t'))?.expiresAtMs, at);
    await a.put('t', Buffer.from('y'), { expiry: { kind: 'at', atMs: Date.now() - 1 } });
    assert.equal(await b.get('t'), undefined);
  });

  it('KEEPTTL keeps the expiry and GET returns the previous entry', async () => {
    const { a, b } = cluster();
    const at = Date.now() + 60_000;
    await a.put('t', Buffer.from('x'), { expiry: { kind: 'at', atMs: at } });
    const r = await b.put('t', Buffer.from('y'), { expiry: { kind: 'keep' }, returnPrevious: true });
    assert.equal(str(r.previous), 'x');
    const now = await a.get('t');
    assert.equal(str(now), 'y');
    assert.equal(now?.expiresAtMs, at);
  });
});

describe('cluster kv: siblings', () => {
  it('two blind writes through different nodes leave two siblings; every node reads the same pick; a write with the context resolves them', async () => {
    const { a, b, cc } = cluster();
    await Promise.all([a.putWithContext('s', Buffer.from('left'), null, 0), b.putWithContext('s', Buffer.from('right'), null, 0)]);
    const v = await cc.getVersions('s');
    assert.deepEqual(v.values.map((e) => e.value.toString()).sort(), ['left', 'right']);
    const picks = [str(await a.get('s')), str(await b.get('s')), str(await cc.get('s'))];
    assert.equal(new Set(picks).size, 1, 'every node returns the same value for a plain GET');
    assert.equal(picks[0], str(pick(v.values)), 'the pick is the last sibling in record order');
    await a.putWithContext('s', Buffer.from('merged'), v.context, 0);
    const w = await b.getVersions('s');
    assert.deepEqual(w.values.map((e) => e.value.toString()), ['merged']);
  });

  it('a delete with the context removes exactly the versions it covers', async () => {
    const { a, b } = cluster();
    await a.putWithContext('d', Buffer.from('1'), null, 0);
    const v = await b.getVersions('d');
    await b.deleteWithContext('d', v.context);
    assert.deepEqual((await a.getVersions('d')).values, []);
  });

  it('a garbage context is refused with a typed error and writes nothing', async () => {
    const { a } = cluster();
    await assert.rejects(a.putWithContext('g', Buffer.from('x'), Buffer.from('not a context'), 0), (e: unknown) => e instanceof RingkvError);
    assert.equal(await a.get('g'), undefined);
  });
});

describe('cluster kv: conditional writes and read-modify-write', () => {
  it('NX writes only when absent, XX only when present', async () => {
    const { a, b } = cluster();
    assert.equal((await a.put('n', Buffer.from('1'), { condition: 'xx' })).written, false);
    assert.equal(await b.get('n'), undefined);
    assert.equal((await a.put('n', Buffer.from('1'), { condition: 'nx' })).written, true);
    assert.equal((await b.put('n', Buffer.from('2'), { condition: 'nx' })).written, false);
    assert.equal((await b.put('n', Buffer.from('3'), { condition: 'xx' })).written, true);
    assert.equal(str(await a.get('n')), '3');
  });

  it('concurrent updates through the same node never lose an increment', async () => {
    const { a, b } = cluster();
    const incr = () => a.update('ctr', (cur) => {
      const n = cur === undefined ? 0 : Number(cur.value.toString());
      return { write: { kind: 'put', value: Buffer.from(String(n + 1)), expiresAtMs: 0 }, result: n + 1 };
    });
    const results = await Promise.all(Array.from({ length: 30 }, incr));
    assert.deepEqual([...results].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i + 1));
    assert.equal(str(await b.get('ctr')), '30');
  });

  it('two concurrent appends through different nodes converge to one value holding both', async () => {
    const c = new InProcessCluster();
    after(() => c.close());
    let retries = 0;
    const spy = { sleep: () => { retries++; return Promise.resolve(); } };
    const a = new ClusterKvStore(c.clusterNode('a'), config, spy);
    const b = new ClusterKvStore(c.clusterNode('b'), config, spy);
    const cc = new ClusterKvStore(c.clusterNode('c'), config, spy);
    await a.put('ap', Buffer.from('base'));
    const append = (s: ClusterKvStore, suffix: string) => s.update('ap', (cur) => ({
      write: { kind: 'put', value: Buffer.concat([cur?.value ?? Buffer.alloc(0), Buffer.from(suffix)]), expiresAtMs: 0 }, result: undefined,
    }));
    await Promise.all([append(a, '-x'), append(b, '-y')]);
    assert.ok(retries >= 1, 'the two updates conflicted and one was redone');
    const v = await cc.getVersions('ap');
    assert.equal(v.values.length, 1, `one value left, got ${v.values.map((e) => e.value.toString()).join(' | ')}`);
    const final = v.values[0]?.value.toString() ?? '';
    assert.ok(final === 'base-x-y' || final === 'base-y-x', `both appends applied once: ${final}`);
  });

  it('two concurrent SET NX through different nodes: exactly one reports written and the key holds its value alone', async () => {
    const { a, b, cc } = cluster();
    const [ra, rb] = await Promise.all([
      a.put('nx', Buffer.from('from-a'), { condition: 'nx' }),
      b.put('nx', Buffer.from('from-b'), { condition: 'nx' }),
    ]);
    assert.equal([ra.written, rb.written].filter(Boolean).length, 1, JSON.stringify([ra, rb]));
    const v = await cc.getVersions('nx');
    assert.deepEqual(v.values.map((e) => e.value.toString()), [ra.written ? 'from-a' : 'from-b']);
  });

  it('a read-modify-write on a key with siblings applies to the pick and supersedes every sibling', async () => {
    const { a, b } = cluster();
    await Promise.all([a.putWithContext('rs', Buffer.from('1'), null, 0), b.putWithContext('rs', Buffer.from('2'), null, 0)]);
    const before = await a.getVersions('rs');
    assert.equal(before.values.length, 2);
    const picked = str(pick(before.values));
    await b.update('rs', (cur) => ({ write: { kind: 'put', value: Buffer.from(`${str(cur)}+`), expiresAtMs: 0 }, result: undefined }));
    assert.deepEqual((await a.getVersions('rs')).values.map((e) => e.value.toString()), [`${picked}+`]);
  });

  it('an update whose write succeeded reports it even when the conflict check after it fails', async () => {
    const c = new InProcessCluster();
    after(() => c.close());
    const node = c.clusterNode('a');
    let wrote = false;
    const flaky = {
      ...node,
      execute: async (op: Parameters<typeof node.execute>[0]) => {
        // The read after the write times out.
        if (op.kind === 'get' && wrote) return { kind: 'error', code: 'ERR_TIMEOUT', message: 'TIMEOUT 1 of 2 replicas answered in time' } as const;
        const r = await node.execute(op);
        if (op.kind === 'put') wrote = true;
        return r;
      },
    };
    const s = new ClusterKvStore(flaky, config, instant);
    const r = await s.update('fl', () => ({ write: { kind: 'put', value: Buffer.from('1'), expiresAtMs: 0 }, result: 'incremented' }));
    assert.equal(r, 'incremented');
    assert.equal(str(await new ClusterKvStore(c.clusterNode('b'), config).get('fl')), '1');
  });

  it('an update that decides not to write leaves the key alone and returns its result', async () => {
    const { a } = cluster();
    await a.put('u', Buffer.from('v'));
    const r = await a.update('u', (cur) => ({ write: undefined, result: str(cur) }));
    assert.equal(r, 'v');
  });
});

describe('cluster kv: multi-key commands fan out', () => {
  it('MSET / MGET / EXISTS / DEL over keys in many slots, with duplicates counted as Redis does', async () => {
    const { a, b } = cluster();
    const keys = Array.from({ length: 20 }, (_, i) => `mk:${i}`);
    assert.ok(new Set(keys.map(keySlot)).size > 10, 'the keys span many slots');
    await a.putMany(keys.map((k) => [k, Buffer.from(`v-${k}`)] as const));
    const got = await b.getMany([...keys, 'nope']);
    assert.deepEqual(got.map(str), [...keys.map((k) => `v-${k}`), undefined]);
    assert.equal(await b.exists(['mk:1', 'mk:1', 'nope']), 2);
    assert.equal(await b.delete(['mk:1', 'mk:2', 'mk:2', 'nope']), 2);
    assert.equal(await a.exists(['mk:1', 'mk:2', 'mk:3']), 1);
  });

  it('MSET with a repeated key keeps the last value', async () => {
    const { a, b } = cluster();
    await a.putMany([['dup', Buffer.from('1')], ['dup', Buffer.from('2')]]);
    assert.equal(str(await b.get('dup')), '2');
  });

  it('hash-tagged keys share one slot', async () => {
    const { a } = cluster();
    const keys = ['{user:1}:name', '{user:1}:mail', '{user:1}:age'];
    assert.equal(new Set(keys.map(keySlot)).size, 1);
    await a.putMany(keys.map((k) => [k, Buffer.from(k)] as const));
    assert.deepEqual((await a.getMany(keys)).map(str), keys);
  });

  it('updateMany moves a value between slots (RENAME) and the source is gone', async () => {
    const { a, b } = cluster();
    await a.put('src', Buffer.from('payload'), { expiry: { kind: 'at', atMs: Date.now() + 60_000 } });
    assert.notEqual(keySlot('src'), keySlot('dst'));
    await b.updateMany(['src', 'dst'], ([s]) => ({
      writes: [{ kind: 'delete' }, { kind: 'put', value: s?.value ?? Buffer.alloc(0), expiresAtMs: s?.expiresAtMs ?? 0 }],
      result: 1,
    }));
    assert.equal(await a.get('src'), undefined);
    const d = await a.get('dst');
    assert.equal(str(d), 'payload');
    assert.ok((d?.expiresAtMs ?? 0) > Date.now(), 'the TTL moved with the value');
  });
});

describe('cluster kv: scan, count, random key, flush', () => {
  it('SCAN pages return every key exactly once and DBSIZE counts each key once despite 3 replicas', async () => {
    const { c, a, b } = cluster();
    const keys = Array.from({ length: 150 }, (_, i) => `sk:${i}`);
    await a.putMany(keys.map((k) => [k, Buffer.from('v')] as const));
    for (const id of c.ids()) assert.equal(c.liveKeys(id).length, 150, `replica ${id} holds every key (N=3)`);
    const seen: string[] = [];
    let cursor = '0';
    let pages = 0;
    do {
      const page = await b.scan(cursor, 10);
      seen.push(...page.keys);
      cursor = page.cursor;
      assert.match(cursor, /^[0-9]+$/);
      assert.ok(++pages < 100, 'the scan ends');
    } while (cursor !== '0');
    assert.deepEqual([...seen].sort(), [...keys].sort());
    assert.equal(await b.count(), 150);
    assert.equal(b.stats().keys, 150, 'stats shows the last count');
    const r = await a.randomKey();
    assert.ok(r !== undefined && keys.includes(r));
  });

  it('SCAN sends MATCH to the nodes and caps COUNT at the page size nodes accept', async () => {
    const { c, a } = cluster();
    await a.putMany(Array.from({ length: 60 }, (_, i) => [`pm:${i}`, Buffer.from('v')] as const));
    const seen: string[] = [];
    let cursor = '0';
    do {
      const page = await a.scan(cursor, 1_000_000, 'pm:1*');
      for (const k of page.keys) assert.match(k, /^pm:1/, 'only matching keys travel');
      seen.push(...page.keys);
      cursor = page.cursor;
    } while (cursor !== '0');
    assert.deepEqual(seen.sort(), ['pm:1', ...Array.from({ length: 10 }, (_, i) => `pm:1${i}`)].sort());
    assert.ok(c.localKeysRequests >= 1);
  });

  it('a SCAN call asks a bounded number of node pages, then answers with a cursor even if empty', async () => {
    const { c, a } = cluster();
    await a.putMany(Array.from({ length: 60 }, (_, i) => [`bq:${i}`, Buffer.from('v')] as const));
    c.localKeysExaminedMax = 2;
    const before = c.localKeysRequests;
    const page = await a.scan('0', 10, 'nothing-matches-*');
    assert.deepEqual(page.keys, []);
    assert.notEqual(page.cursor, '0', 'more to scan');
    assert.equal(c.localKeysRequests - before, 8, 'one call asks at most 8 node pages');
    let cursor = page.cursor;
    let calls = 1;
    while (cursor !== '0') {
      cursor = (await a.scan(cursor, 10, 'nothing-matches-*')).cursor;
      assert.ok(++calls < 100);
    }
    assert.ok(calls > 1, 'the scan resumed where it stopped and finished');
  });

  it('an unknown SCAN cursor is refused with ERR invalid cursor', async () => {
    const { a } = cluster();
    await rejectsWith(a.scan('12345', 10), 'ERR_INVALID_ARGUMENT');
    await rejectsWith(a.scan('abc', 10), 'ERR_INVALID_ARGUMENT');
  });

  it('a slot is counted at its first live owner when its first owner is down', async () => {
    const { c, a } = cluster();
    await a.putMany(Array.from({ length: 40 }, (_, i) => [`dk:${i}`, Buffer.from('v')] as const));
    c.stop('c');
    const groups = a.slotGroups();
    assert.equal(groups.has('c' as never), false, 'no slot is asked of the stopped node');
    assert.equal([...groups.values()].reduce((n, s) => n + s.length, 0), 16384, 'every slot is covered');
    assert.equal(await a.count(), 40);
  });

  it('FLUSHALL empties every replica', async () => {
    const { c, a, b } = cluster();
    await a.putMany(Array.from({ length: 10 }, (_, i) => [`fk:${i}`, Buffer.from('v')] as const));
    await b.flush();
    for (const id of c.ids()) assert.equal(c.liveKeys(id).length, 0);
    assert.equal(await a.count(), 0);
    assert.equal(await a.randomKey(), undefined);
  });

  it('scan cursors are unsigned 64-bit decimals and the table is bounded', () => {
    const t = new ClusterScanCursors(2, Date.now());
    const c1 = t.encode({ nodeIndex: 0, after: 'x' });
    const c2 = t.encode({ nodeIndex: 1, after: 'y' });
    t.encode({ nodeIndex: 2, after: 'z' });
    assert.ok(BigInt(c2) < 1n << 64n);
    assert.throws(() => t.decode(c1), /invalid cursor/);
    assert.deepEqual(t.decode(c2), { nodeIndex: 1, after: 'y' });
    assert.equal(t.size, 2);
  });
});

describe('cluster kv: errors and consistency levels', () => {
  it('with two of three replicas down a quorum write fails as UNAVAILABLE (did not happen)', async () => {
    const { c, a } = cluster();
    c.stop('b');
    c.stop('c');
    await rejectsWith(a.put('x', Buffer.from('1')), 'ERR_UNAVAILABLE');
  });

  it('a connection at ONE keeps reading and writing with two replicas down; the store default (quorum) does not', async () => {
    const { c, a } = cluster();
    await a.put('lvl', Buffer.from('before'));
    c.stop('b');
    c.stop('c');
    const one = a.withConsistency({ read: 'one', write: 'one' });
    assert.equal(str(await one.get('lvl')), 'before');
    await one.put('lvl', Buffer.from('after'));
    assert.equal(str(await one.get('lvl')), 'after');
    await assert.rejects(Promise.resolve(a.get('lvl')), (e: unknown) => e instanceof RingkvError && (e.code === 'ERR_UNAVAILABLE' || e.code === 'ERR_TIMEOUT'));
  });

  it('a per-call level wins over the connection level, which wins over the defaults', async () => {
    const { c, a } = cluster();
    await a.put('p', Buffer.from('v'));
    c.stop('c');
    const all = a.withConsistency({ read: 'all' });
    await assert.rejects(Promise.resolve(all.get('p')), (e: unknown) => e instanceof RingkvError);
    assert.equal(str(await all.get('p', { consistency: 'quorum' })), 'v');
  });

  it('keys and values over the configured limits are refused before anything is sent', async () => {
    const small = defaultConfig({ cluster: { nodeId: 'a' }, maxKeyBytes: 4, maxValueBytes: 4 });
    const c = new InProcessCluster();
    after(() => c.close());
    const s = new ClusterKvStore(c.clusterNode('a'), small);
    await rejectsWith(Promise.resolve().then(() => s.put('toolong', Buffer.from('v'))), 'ERR_KEY_TOO_LARGE');
    await rejectsWith(Promise.resolve().then(() => s.put('k', Buffer.from('toolong'))), 'ERR_VALUE_TOO_LARGE');
  });
});

describe('cluster kv: the slot map Redis Cluster clients see', () => {
  it('with every node up each range lists its preference list in order and the ranges tile 0..16383', () => {
    const c = new InProcessCluster();
    after(() => c.close());
    const map = buildSlotMap(c.clusterNode('b'));
    let next = 0;
    for (const r of map.ranges) {
      assert.equal(r.start, next);
      next = r.end + 1;
      for (let s = r.start; s <= r.end; s++) assert.deepEqual(r.nodes.map((n) => n.id), c.ring.owners[s]);
    }
    assert.equal(next, 16384);
    assert.equal(map.slotsFailed, 0);
    // CLUSTER NODES slot lists: every slot has exactly one master.
    let mastered = 0;
    for (const id of ['a', 'b', 'c']) {
      for (const span of masterSlotsOf(map, id as never)) {
        const [lo, hi] = span.split('-').map(Number);
        mastered += (hi ?? lo ?? 0) - (lo ?? 0) + 1;
      }
    }
    assert.equal(mastered, 16384);
  });

  it('a node this one routes around moves to the end of each list, is flagged fail in CLUSTER NODES and counted as pfail in CLUSTER INFO', () => {
    const c = new InProcessCluster();
    after(() => c.close());
    c.stop('a');
    const view = c.clusterNode('b');
    const map = buildSlotMap(view);
    let firstWasA = 0;
    for (const r of map.ranges) {
      for (let s = r.start; s <= r.end; s++) if (c.ring.owners[s]?.[0] === 'a') firstWasA++;
      assert.notEqual(r.nodes[0]?.id, 'a', 'a down node is never shown as master');
      assert.equal(r.nodes[r.nodes.length - 1]?.id, 'a');
      assert.equal(r.nodes[r.nodes.length - 1]?.down, true);
    }
    assert.ok(firstWasA > 0);
    assert.equal(map.slotsDegraded, firstWasA);
    const nodes = clusterNodesText(view, 1000).trim().split('\n');
    const aLine = nodes.find((l) => l.includes(':17000@'));
    assert.match(aLine ?? '', / master,fail - 0 0 \d+ disconnected$/, 'no slots for a failed node');
    assert.match(clusterInfoText(view), new RegExp(`cluster_slots_pfail:${firstWasA}\r\n`));
    assert.match(clusterInfoText(view), /cluster_state:ok/);
  });

  it('with every owner of a slot down the cluster state is fail', () => {
    const c = new InProcessCluster();
    after(() => c.close());
    c.stop('a');
    c.stop('c');
    // b is up and in every list (N=3 of 3 nodes), so nothing has failed from b's view.
    assert.match(clusterInfoText(c.clusterNode('b')), /cluster_state:ok/);
    const two = new InProcessCluster({ ids: ['a', 'b', 'c'], replicationFactor: 1 });
    after(() => two.close());
    two.stop('a');
    const info = clusterInfoText(two.clusterNode('b'));
    assert.match(info, /cluster_state:fail/);
    assert.match(info, /cluster_slots_fail:[1-9]/);
  });
});
