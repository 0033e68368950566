/**
 * Anti-entropy figures: bytes exchanged / bytes actually different, for two replicas of 100k
 * keys with 0.1%, 1% and 10% of the keys divergent, at several value sizes. Records are real
 * versioned records (versioning's encodeRecord); transfers are executed with versioning's merge.
 *
 * Divergent keys are split in thirds: missing on the responder, missing on the opener, and held
 * by both in different versions (the responder's is newer). Counted bytes:
 *   exchanged = the exact MessagePack size of EVERY anti-entropy peer message, as the peer
 *               transport frames it ({kind:'ae', message}): tree exchange (open, requests,
 *               replies, close), record batches (ae_data), their acks and the fetch requests
 *               (ae_want) — nothing estimated;
 *   different = for each divergent key, the bytes of the record versions that differ between the
 *               replicas (key + record): one record when a side lacks the key, both when both
 *               hold different versions (digests cannot tell which descends from which, so both
 *               must meet for the merge).
 * `ratio` = exchanged / different (target <= 2); `ratio 1-way` divides by only the records an
 * oracle knowing the causal order would send (one per key), for comparison.
 *
 * Run: node --import tsx bench/antientropy-figures.ts [--keys 100000] [--configs 8x8,16x8]
 *      [--values 100,1024] [--divergence 0.001,0.01,0.1] [--leaf 16]
 */
import {
  AntiEntropy,
  ANTI_ENTROPY_DEFAULTS,
  MerkleTree,
  messageBytes,
  recordDigest,
  type AeMessage,
} from '../src/core/antientropy/index.js';
import { SLOT_COUNT } from '../src/core/ring/key-slot.js';
import { nodeId, type NodeId } from '../src/core/types.js';
import { decodeRecord, encodeRecord, merge, type VersionedRecord } from '../src/core/versioning/index.js';

const argKeys = process.argv.indexOf('--keys');
const KEYS = argKeys > 0 ? Number(process.argv[argKeys + 1]) : 100_000;

/** Deterministic xorshift32, so every run builds the same replicas. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

const writer = nodeId('n1');

function record(counter: number, valueBytes: number, fill: number): Buffer {
  const r: VersionedRecord = {
    context: [{ node: writer, counter }],
    siblings: [{ dot: { node: writer, counter }, value: Buffer.alloc(valueBytes, fill), expiresAtMs: 0, hlc: { wallMs: 1_700_000_000_000 + counter, logical: 0, node: writer } }],
  };
  return encodeRecord(r);
}

class Host {
  readonly data = new Map<string, Buffer>();
  readonly tree: MerkleTree;
  readonly ae: AntiEntropy;
  constructor(readonly id: NodeId, fanout: number, bucketsPerSlot: number, leafEntriesMax: number) {
    this.tree = new MerkleTree({ bucketsPerSlot });
    this.ae = new AntiEntropy(this.tree, { ...ANTI_ENTROPY_DEFAULTS, self: id, fanout, leafEntriesMax, transfersPerTickMax: 4096 });
  }
  put(key: string, rec: Buffer): void {
    this.data.set(key, rec);
    this.tree.update(key, recordDigest(rec));
  }
  mergeIn(key: string, rec: Buffer): void {
    const mine = this.data.get(key);
    const merged = mine === undefined ? rec : encodeRecord(merge(decodeRecord(mine), decodeRecord(rec), 'siblings'));
    this.put(key, merged);
  }
}

interface Row {
  valueBytes: number;
  divergence: number;
  fanout: number;
  bucketsPerSlot: number;
  leaf: number;
  divergent: number;
  aeBytes: number;
  transferBytes: number;
  differentBytes: number;
  oneWayBytes: number;
  messages: number;
  ticks: number;
  ms: number;
  converged: boolean;
}

function run(valueBytes: number, divergence: number, fanout: number, bucketsPerSlot: number, leaf: number): Row {
  const rnd = prng(0x5eed + Math.round(divergence * 1e4) + valueBytes);
  const a = new Host(nodeId('a'), fanout, bucketsPerSlot, leaf);
  const b = new Host(nodeId('b'), fanout, bucketsPerSlot, leaf);
  let differentBytes = 0;
  let oneWayBytes = 0;
  let divergent = 0;
  for (let i = 0; i < KEYS; i++) {
    const key = `user:${i}:profile`;
    const base = record(1, valueBytes, i & 0xff);
    const size = (r: Buffer) => key.length + r.length;
    if (rnd() >= divergence) {
      a.put(key, base);
      b.put(key, base);
      continue;
    }
    divergent++;
    const kind = divergent % 3;
    if (kind === 0) {
      a.put(key, base);
      differentBytes += size(base);
      oneWayBytes += size(base);
    } else if (kind === 1) {
      b.put(key, base);
      differentBytes += size(base);
      oneWayBytes += size(base);
    } else {
      const newer = record(2, valueBytes, (i + 1) & 0xff);
      a.put(key, base);
      b.put(key, newer);
      differentBytes += size(base) + size(newer);
      oneWayBytes += size(newer);
    }
  }
  const hosts = new Map([[a.id, a], [b.id, b]]);
  const started = performance.now();
  let transferBytes = 0;
  let transferMessages = 0;
  const wire = (m: AeMessage) => {
    transferBytes += messageBytes(m);
    transferMessages++;
  };
  let now = 1;
  a.ae.tick(now);
  b.ae.tick(now);
  const sid = a.ae.open(b.id, Array.from({ length: SLOT_COUNT }, (_, s) => s));
  if (sid === null) throw new Error('refused');
  let inbox: { from: NodeId; to: NodeId; message: AeMessage }[] = [];
  let done = false;
  let ticks = 0;
  let xfer = 0;
  while (!done || inbox.length > 0) {
    now++;
    ticks++;
    if (ticks > 1_000_000) throw new Error('did not finish');
    const deliver = inbox;
    inbox = [];
    for (const h of [a, b]) {
      h.ae.tick(now);
      for (const m of deliver) if (m.to === h.id) h.ae.receive(m.from, m.message);
      for (const o of h.ae.takeOutputs()) {
        if (o.kind === 'send') inbox.push({ from: h.id, to: o.to, message: o.message });
        else if (o.kind === 'push') {
          const peer = hosts.get(o.peer)!;
          const records = o.keys.map((k) => h.data.get(k)!);
          wire({ kind: 'ae_data', xfer: ++xfer, keys: o.keys, records });
          o.keys.forEach((k, i) => peer.mergeIn(k, records[i]!));
          wire({ kind: 'ae_data_ack', xfer });
        } else if (o.kind === 'fetch') {
          const peer = hosts.get(o.peer)!;
          wire({ kind: 'ae_want', xfer: ++xfer, sid: o.sid, nodes: o.nodes, counts: o.counts, hashes: o.hashes });
          const got = peer.ae.resolveWanted(h.id, o.sid, o.nodes, o.counts, o.hashes);
          if (got === null) throw new Error('want not resolved');
          const records = got.keys.map((k) => peer.data.get(k)!);
          wire({ kind: 'ae_data', xfer, keys: got.keys, records, ...(got.missing > 0 ? { missing: got.missing } : {}) });
          got.keys.forEach((k, i) => h.mergeIn(k, records[i]!));
        } else if (o.kind === 'session_end') done = true;
      }
    }
    if (!done) a.ae.transfersDone(sid, true);
  }
  const ms = performance.now() - started;
  const ra = a.tree.rootHash();
  const rb = b.tree.rootHash();
  return {
    valueBytes, divergence, fanout, bucketsPerSlot, leaf, divergent,
    aeBytes: a.ae.stats.bytesSent + b.ae.stats.bytesSent, transferBytes, differentBytes, oneWayBytes,
    messages: a.ae.stats.messagesSent + b.ae.stats.messagesSent + transferMessages, ticks, ms,
    converged: ra.hi === rb.hi && ra.lo === rb.lo && a.data.size === b.data.size,
  };
}

const kib = (n: number) => (n / 1024).toFixed(1);
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
console.log(`anti-entropy, ${KEYS} keys per replica, one session over all 16384 slots\n`);
console.log('| value B | divergent | fanout x buckets | leaf | differing keys | tree protocol KiB | transfer msgs KiB | different KiB | ratio | ratio 1-way | msgs | ticks | ms | converged |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
// --configs 8x8,16x8 (fanout x buckets per slot), --values 100,1024, --divergence 0.001,0.01,0.1, --leaf 16
const configs = (arg('--configs') ?? `${ANTI_ENTROPY_DEFAULTS.fanout}x8`).split(',').map((c) => c.split('x').map(Number) as [number, number]);
const values = (arg('--values') ?? '100,1024').split(',').map(Number);
const divergences = (arg('--divergence') ?? '0.001,0.01,0.1').split(',').map(Number);
const leaves = (arg('--leaf') ?? String(ANTI_ENTROPY_DEFAULTS.leafEntriesMax)).split(',').map(Number);
for (const valueBytes of values) {
  for (const divergence of divergences) {
    for (const [fanout, buckets] of configs) {
      for (const leaf of leaves) {
        const r = run(valueBytes, divergence, fanout, buckets, leaf);
        const total = r.aeBytes + r.transferBytes;
        console.log(`| ${valueBytes} | ${(divergence * 100).toFixed(1)}% | ${fanout}x${buckets} | ${leaf} | ${r.divergent} | ${kib(r.aeBytes)} | ${kib(r.transferBytes)} | ${kib(r.differentBytes)} | ${(total / r.differentBytes).toFixed(2)} | ${(total / r.oneWayBytes).toFixed(2)} | ${r.messages} | ${r.ticks} | ${r.ms.toFixed(0)} | ${r.converged} |`);
      }
    }
  }
}

// Maintenance costs: the digest a host computes per write, an incremental update, a rebuild.
{
  const n = KEYS;
  const keys = Array.from({ length: n }, (_, i) => `user:${i}:profile`);
  for (const valueBytes of [64, 1024]) {
    const recs = keys.map((_, i) => record(1 + (i % 7), valueBytes, i & 0xff));
    let t = performance.now();
    const digests = recs.map((r) => recordDigest(r));
    const digestUs = ((performance.now() - t) * 1000) / n;
    const tree = new MerkleTree({ bucketsPerSlot: 8 });
    t = performance.now();
    for (let i = 0; i < n; i++) tree.update(keys[i]!, digests[i]!);
    const insertUs = ((performance.now() - t) * 1000) / n;
    t = performance.now();
    for (let i = 0; i < n; i++) tree.update(keys[i]!, digests[(i + 1) % n]!);
    const replaceUs = ((performance.now() - t) * 1000) / n;
    const rebuilt = new MerkleTree({ bucketsPerSlot: 8 });
    const scan = keys.map((k, i) => [k, digests[i]!] as const)[Symbol.iterator]();
    const rb = rebuilt.beginRebuild();
    t = performance.now();
    let steps = 0;
    while (!rb.step(scan, 1000)) steps++;
    const rebuildMs = performance.now() - t;
    console.log(`\nvalue ${valueBytes} B (record ${recs[0]!.length} B): recordDigest ${digestUs.toFixed(2)} µs/record, ` +
      `update ${insertUs.toFixed(2)} µs (insert) / ${replaceUs.toFixed(2)} µs (replace), ` +
      `rebuild of ${n} keys ${rebuildMs.toFixed(0)} ms in ${steps + 1} steps of 1000`);
  }
}
