/**
 * Test host for the anti-entropy module: in-memory replicas whose records are sets of version
 * tags (merge = union: commutative, associative, idempotent like versioning's merge), a tree
 * kept up to date on every write, and a loop that carries messages through a msgpackr round
 * trip and executes push/fetch decisions, recording exactly which keys moved.
 */
import { Packr, Unpackr } from 'msgpackr';
import { nodeId, type NodeId, type Slot } from '../../src/core/types.js';
import {
  AntiEntropy,
  ANTI_ENTROPY_DEFAULTS,
  MerkleTree,
  recordDigest,
  type AeMessage,
  type AeOutput,
  type AntiEntropyOptions,
} from '../../src/core/antientropy/index.js';

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });
const unpackr = new Unpackr({ useRecords: false, moreTypes: false, bundleStrings: false, mapsAsObjects: true });

export function encodeTags(tags: ReadonlySet<string>): Uint8Array {
  return Buffer.from([...tags].sort().join(','), 'latin1');
}

export class Replica {
  readonly records = new Map<string, Set<string>>();
  readonly tree: MerkleTree;
  readonly ae: AntiEntropy;

  constructor(readonly id: NodeId, opts: Partial<AntiEntropyOptions> = {}, bucketsPerSlot = 8) {
    this.tree = new MerkleTree({ bucketsPerSlot });
    this.ae = new AntiEntropy(this.tree, { ...ANTI_ENTROPY_DEFAULTS, self: id, ...opts });
  }

  /** Merges tags into the key's record (a write or a received record) and updates the tree. */
  merge(key: string, tags: Iterable<string>): void {
    let r = this.records.get(key);
    if (r === undefined) {
      r = new Set();
      this.records.set(key, r);
    }
    for (const t of tags) r.add(t);
    this.tree.update(key, recordDigest(encodeTags(r)));
  }

  remove(key: string): void {
    this.records.delete(key);
    this.tree.update(key, null);
  }
}

export function replica(name: string, opts: Partial<AntiEntropyOptions> = {}, bucketsPerSlot = 8): Replica {
  return new Replica(nodeId(name), opts, bucketsPerSlot);
}

export interface RunResult {
  outcome: 'synced' | 'aborted' | 'stalled';
  pushed: string[];
  fetched: string[];
  /** Every output, in order, per tick: for determinism and bound checks. */
  ticks: { node: NodeId; outputs: AeOutput[] }[][];
  messages: { from: NodeId; to: NodeId; message: AeMessage; bytes: number }[];
  nowMs: number;
}

/**
 * Runs one session opened by `a` with `b` over `slots` to its end. Messages are delivered at the
 * next tick (one tick = 1 ms); transfers execute at once and are confirmed when the opener
 * waits for them.
 */
export function runSession(a: Replica, b: Replica, slots: readonly Slot[], startMs = 1000, tickMax = 100_000): RunResult {
  const byId = new Map([[a.id, a], [b.id, b]]);
  const res: RunResult = { outcome: 'stalled', pushed: [], fetched: [], ticks: [], messages: [], nowMs: startMs };
  a.ae.tick(startMs);
  b.ae.tick(startMs);
  const sid = a.ae.open(b.id, slots);
  if (sid === null) throw new Error('session refused');
  let inbox: { from: NodeId; to: NodeId; message: AeMessage }[] = [];
  let ended = false;
  for (let t = 1; t <= tickMax && !(ended && inbox.length === 0); t++) {
    const now = startMs + t;
    const deliver = inbox;
    inbox = [];
    const tickLog: { node: NodeId; outputs: AeOutput[] }[] = [];
    // Outputs produced while opening belong to the first tick.
    for (const r of [a, b]) {
      r.ae.tick(now);
      for (const m of deliver) if (m.to === r.id) r.ae.receive(m.from, m.message);
      const outputs = r.ae.takeOutputs();
      tickLog.push({ node: r.id, outputs });
      for (const o of outputs) {
        switch (o.kind) {
          case 'send': {
            const bytes = packr.pack(o.message);
            const message = unpackr.unpack(bytes) as AeMessage;
            res.messages.push({ from: r.id, to: o.to, message, bytes: bytes.length });
            inbox.push({ from: r.id, to: o.to, message });
            break;
          }
          case 'push': {
            const peer = byId.get(o.peer)!;
            for (const key of o.keys) {
              res.pushed.push(key);
              const rec = r.records.get(key);
              if (rec !== undefined) peer.merge(key, rec);
            }
            break;
          }
          case 'fetch': {
            const peer = byId.get(o.peer)!;
            const got = peer.ae.resolveWanted(r.id, o.sid, o.nodes, o.counts, o.hashes);
            if (got === null) throw new Error('a fetch the responder could not resolve');
            for (const key of got.keys) {
              res.fetched.push(key);
              const rec = peer.records.get(key);
              if (rec !== undefined) r.merge(key, rec);
            }
            break;
          }
          case 'session_end':
            if (r === a && o.sid === sid) {
              ended = true;
              res.outcome = o.outcome;
            }
            break;
          default: {
            const never: never = o;
            void never;
          }
        }
      }
      r.ae.invariants();
    }
    res.ticks.push(tickLog);
    if (!ended) a.ae.transfersDone(sid, true);
    res.nowMs = now;
  }
  return res;
}

/** Keys whose records differ between a and b (absent on one side counts), restricted to `inSlot`. */
export function differingKeys(a: Replica, b: Replica, inSlot: (key: string) => boolean = () => true): Set<string> {
  const out = new Set<string>();
  for (const k of new Set([...a.records.keys(), ...b.records.keys()])) {
    if (!inSlot(k)) continue;
    const x = a.records.get(k);
    const y = b.records.get(k);
    if (x === undefined || y === undefined || [...x].sort().join(',') !== [...y].sort().join(',')) out.add(k);
  }
  return out;
}
