/**
 * Ring state as a plain JSON-able object, for gossip and persistence. Owners are flattened to
 * member indices (slot s, position p at s * listLength + p), which is about 3 bytes per
 * slot-replica in JSON and smaller in MessagePack, instead of repeating ids 49152 times.
 *
 * decodeRing trusts nothing: a peer or a file may hand it anything. Malformed input is a
 * RingkvError ERR_PROTOCOL, never a crash, and a decoded ring satisfies checkRing.
 */
import { RingkvError } from '../../errors/ringkv-error.js';
import { nodeId, type NodeId } from '../types.js';
import { SLOT_COUNT } from './key-slot.js';
import { checkRing, type RingState } from './ring.js';
import type { RingMember } from './topology.js';

export interface EncodedMember {
  id: string;
  weight: number;
  rack?: string;
  zone?: string;
}

export interface EncodedRing {
  format: 1;
  epoch: number;
  replicationFactor: number;
  members: EncodedMember[];
  owners: number[];
}

export function encodeRing(ring: RingState): EncodedRing {
  const index = new Map<NodeId, number>();
  ring.members.forEach((m, i) => index.set(m.id, i));
  const owners: number[] = [];
  for (let s = 0; s < SLOT_COUNT; s++) for (const id of ring.owners[s]!) owners.push(index.get(id)!);
  return {
    format: 1,
    epoch: ring.epoch,
    replicationFactor: ring.replicationFactor,
    members: ring.members.map((m) => {
      const e: EncodedMember = { id: m.id, weight: m.weight };
      if (m.rack !== undefined) e.rack = m.rack;
      if (m.zone !== undefined) e.zone = m.zone;
      return e;
    }),
    owners,
  };
}

function bad(why: string): RingkvError {
  return new RingkvError('ERR_PROTOCOL', `invalid ring encoding: ${why}`);
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export function decodeRing(input: unknown): RingState {
  if (!isRecord(input)) throw bad('not an object');
  const { format, epoch, replicationFactor, members, owners } = input;
  if (format !== 1) throw bad('unknown format');
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 1) throw bad('epoch');
  if (typeof replicationFactor !== 'number' || !Number.isInteger(replicationFactor) || replicationFactor < 1 || replicationFactor > 64) {
    throw bad('replicationFactor');
  }
  if (!Array.isArray(members) || members.length === 0 || members.length > SLOT_COUNT) throw bad('members');
  const decoded: RingMember[] = [];
  for (const m of members as unknown[]) {
    if (!isRecord(m)) throw bad('member');
    const { id, weight, rack, zone } = m;
    if (typeof id !== 'string' || id.length === 0) throw bad('member id');
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) throw bad('member weight');
    if (rack !== undefined && typeof rack !== 'string') throw bad('member rack');
    if (zone !== undefined && typeof zone !== 'string') throw bad('member zone');
    const out: { id: NodeId; weight: number; rack?: string; zone?: string } = { id: nodeId(id), weight };
    if (rack !== undefined) out.rack = rack;
    if (zone !== undefined) out.zone = zone;
    decoded.push(Object.freeze(out));
  }
  for (let i = 1; i < decoded.length; i++) if (!(decoded[i - 1]!.id < decoded[i]!.id)) throw bad('members not sorted by id');
  const L = Math.min(replicationFactor, decoded.length);
  if (!Array.isArray(owners) || owners.length !== SLOT_COUNT * L) throw bad('owners length');
  const ids = decoded.map((m) => m.id);
  const interned = new Map<string, readonly NodeId[]>();
  const lists: (readonly NodeId[])[] = [];
  for (let s = 0; s < SLOT_COUNT; s++) {
    const list: NodeId[] = [];
    for (let p = 0; p < L; p++) {
      const i: unknown = owners[s * L + p];
      if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= ids.length) throw bad('owner index');
      list.push(ids[i]!);
    }
    const key = list.join('\u0000');
    let shared = interned.get(key);
    if (shared === undefined) {
      shared = Object.freeze(list);
      interned.set(key, shared);
    }
    lists.push(shared);
  }
  const ring: RingState = Object.freeze({
    epoch,
    replicationFactor,
    members: Object.freeze(decoded),
    owners: Object.freeze(lists),
  });
  try {
    checkRing(ring);
  } catch (e) {
    throw bad(e instanceof Error ? e.message : 'placement rules');
  }
  return ring;
}
