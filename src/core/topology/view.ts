/**
 * A node's topology state: the current ring, the pending ring of a change in flight, and the
 * change that produced the pending ring. Pure functions only: proposing a change, committing it,
 * ranking two states, and the gossip payload that carries a state between nodes.
 *
 * Versions. A state's version is `pending.epoch` while a change is in flight, else
 * `current.epoch`. Proposing bumps it by one (pending = current with the member added/removed,
 * epoch + 1); committing bumps it again (current = pending's placement, epoch + 1). Versions only
 * grow, which is what membership gossip compares.
 *
 * Ranking. Two states are ordered by (version, id), where `id` names the proposal that produced
 * the newest step (its change and the node that started it). A node adopts a state only if it
 * ranks higher than its own, so every node moves up one total order and all converge on the
 * highest state any of them holds. Two proposals made concurrently from the same ring have the
 * same version; the one with the greater id wins everywhere.
 *
 * Determinism. The pending ring is a pure function of (current, change) (the ring's laws), and
 * the committed ring a pure function of the pending one, so any node may commit: all produce
 * the same ring, and the payload need not carry the pending ring at all (it carries current and
 * the change, about 50 KB at N = 3 in MessagePack, whatever the member count up to 127).
 */
import { Packr } from 'msgpackr';
import { RingkvError } from '../../errors/ringkv-error.js';
import { decodeRing, encodeRing, keySlot, SLOT_COUNT, withMemberAdded, withMemberRemoved, type RingState } from '../ring/index.js';
import { nodeId, type NodeId, type Slot } from '../types.js';
import type { RingChange } from './types.js';

export interface TopologyState {
  readonly current: RingState;
  /** The target ring of the change in flight (null = none). */
  readonly pending: RingState | null;
  /** The change `pending` is for (null when none is in flight). */
  readonly change: RingChange | null;
  /** The node that proposed `change`. */
  readonly origin: NodeId | null;
  /** The proposal that produced the newest step ('' = an initial ring). */
  readonly id: string;
}

export const stateVersion = (s: TopologyState): number => s.pending?.epoch ?? s.current.epoch;

/** A state from persisted parts (`id` as persisted; derived from the change when absent). */
export function initialState(
  current: RingState, pending: RingState | null = null, change: RingChange | null = null, origin: NodeId | null = null, id?: string,
): TopologyState {
  const derived = pending === null ? null : (change ?? deriveChange(current, pending));
  return Object.freeze({ current, pending, change: derived, origin, id: id ?? (derived === null ? '' : proposalId(derived, origin)) });
}

/** A canonical name of a change and its proposer (deterministic field order). */
export function proposalId(change: RingChange, origin: NodeId | null): string {
  const extra = change.kind === 'join' ? `:${change.weight ?? 1}:${change.rack ?? ''}:${change.zone ?? ''}` : '';
  return `${change.kind}:${change.id}${extra}@${origin ?? ''}`;
}

/** > 0 when a ranks higher than b. */
export function compareRank(aVersion: number, aId: string, bVersion: number, bId: string): number {
  if (aVersion !== bVersion) return aVersion - bVersion;
  return aId < bId ? -1 : aId > bId ? 1 : 0;
}

export function compareStates(a: TopologyState, b: TopologyState): number {
  return compareRank(stateVersion(a), a.id, stateVersion(b), b.id);
}

/** The pending ring a change produces (the ring's minimal-change laws apply). Typed errors for bad changes. */
export function applyChange(current: RingState, change: RingChange): RingState {
  const present = current.members.some((m) => m.id === change.id);
  switch (change.kind) {
    case 'join': {
      if (present) throw new RingkvError('ERR_INVALID_ARGUMENT', `${change.id} is already a ring member`);
      const member: { id: NodeId; weight: number; rack?: string; zone?: string } = { id: change.id, weight: change.weight ?? 1 };
      if (change.rack !== undefined) member.rack = change.rack;
      if (change.zone !== undefined) member.zone = change.zone;
      try {
        return withMemberAdded(current, member);
      } catch (e) {
        throw new RingkvError('ERR_INVALID_ARGUMENT', e instanceof Error ? e.message : 'invalid member');
      }
    }
    case 'decommission':
    case 'remove':
      if (!present) throw new RingkvError('ERR_UNKNOWN_NODE', `${change.id} is not a ring member`);
      if (current.members.length === 1) throw new RingkvError('ERR_INVALID_ARGUMENT', 'cannot remove the last ring member');
      return withMemberRemoved(current, change.id);
    default: {
      const never: never = change;
      throw new TypeError(`unknown ring change ${JSON.stringify(never)}`);
    }
  }
}

/** A change inferred from two rings (when a host persisted the rings but not the change). */
function deriveChange(current: RingState, pending: RingState): RingChange {
  const added = pending.members.find((m) => !current.members.some((c) => c.id === m.id));
  if (added !== undefined) return { kind: 'join', id: added.id, weight: added.weight, ...(added.rack !== undefined ? { rack: added.rack } : {}), ...(added.zone !== undefined ? { zone: added.zone } : {}) };
  const gone = current.members.find((m) => !pending.members.some((p) => p.id === m.id));
  if (gone !== undefined) return { kind: 'decommission', id: gone.id };
  throw new RangeError('pending ring differs from current without a member change');
}

export function propose(state: TopologyState, change: RingChange, origin: NodeId): TopologyState {
  if (state.pending !== null) throw new RingkvError('ERR_TOPOLOGY_BUSY', `ring change ${state.id} is in flight`);
  const pending = applyChange(state.current, change);
  return Object.freeze({ current: state.current, pending, change, origin, id: proposalId(change, origin) });
}

/*
 * Memos. States are immutable and these functions pure, so results are cached per state object
 * (and decoded payloads per content): nodes of one process that learn the same state share one
 * set of rings, placements and slot tables instead of recomputing 16384-slot walks each.
 */
const commits = new WeakMap<TopologyState, TopologyState>();
/** By pending ring object (its gainers depend on current and pending, and a pending ring is built from one current). */
const gainerMemo = new WeakMap<RingState, NodeId[]>();

/** The committed state: current = pending's placement at the next epoch; same id (same proposal). */
export function commit(state: TopologyState): TopologyState {
  if (state.pending === null) throw new Error('commit without a pending ring');
  let out = commits.get(state);
  if (out === undefined) {
    const current: RingState = Object.freeze({ ...state.pending, epoch: state.pending.epoch + 1 });
    out = Object.freeze({ current, pending: null, change: null, origin: state.origin, id: state.id });
    commits.set(state, out);
  }
  return out;
}

/** Slots where `node` holds a replica in pending but not in current. */
export function gainedSlots(state: TopologyState, node: NodeId): Slot[] {
  const out: Slot[] = [];
  if (state.pending === null) return out;
  for (let s = 0; s < SLOT_COUNT; s++) {
    const to = state.pending.owners[s]!;
    if (to.includes(node) && !state.current.owners[s]!.includes(node)) out.push(s);
  }
  return out;
}

/** Every node gaining at least one slot-replica in the change in flight, sorted. */
export function gainers(state: TopologyState): NodeId[] {
  if (state.pending === null) return [];
  const memo = gainerMemo.get(state.pending);
  if (memo !== undefined) return [...memo];
  const out = new Set<NodeId>();
  for (let s = 0; s < SLOT_COUNT; s++) {
    const from = state.current.owners[s]!;
    const to = state.pending.owners[s]!;
    if (from === to) continue;
    for (const n of to) if (!from.includes(n)) out.add(n);
  }
  const list = [...out].sort();
  gainerMemo.set(state.pending, list);
  return [...list];
}

/** Whether `node` replicates `key` in current or pending. */
export function ownsKey(state: TopologyState, node: NodeId, key: string): boolean {
  const s = keySlot(key);
  return state.current.owners[s]!.includes(node) || (state.pending?.owners[s]!.includes(node) ?? false);
}

/** The removed member of a `remove` change in flight (not streamed from), else null. */
export function removedMember(state: TopologyState): NodeId | null {
  return state.change?.kind === 'remove' ? state.change.id : null;
}

// ---------------------------------------------------------------------------------------------
// Gossip payload
// ---------------------------------------------------------------------------------------------

const packr = new Packr({ useRecords: false });

interface Envelope {
  f: 1;
  version: number;
  id: string;
  origin: string | null;
  change: RingChange | null;
  current: unknown;
}

/** Payloads by current ring object, then by the rest of the state (restarts rebuild the state, not the rings). */
const encoded = new WeakMap<RingState, Map<string, Uint8Array>>();

/** The payload membership gossips: current ring + the change in flight (the pending ring is recomputed). */
export function encodeState(state: TopologyState): Uint8Array {
  let byRest = encoded.get(state.current);
  if (byRest === undefined) {
    byRest = new Map();
    encoded.set(state.current, byRest);
  }
  const rest = `${stateVersion(state)}|${state.id}|${state.origin ?? ''}|${state.change === null ? '' : proposalId(state.change, null)}`;
  let out = byRest.get(rest);
  if (out === undefined) {
    const env: Envelope = { f: 1, version: stateVersion(state), id: state.id, origin: state.origin, change: state.change, current: encodeRing(state.current) };
    const b = packr.pack(env);
    // A plain Uint8Array copy (not a Buffer view of a shared pool): opaque bytes for hosts and digests.
    out = Uint8Array.from(b);
    byRest.set(rest, out);
    // A node of this process decoding these bytes gets this very state (equal by construction),
    // so its rings, placements and commit are shared instead of recomputed.
    remember(out, state);
  }
  return out;
}

/** Decoded payloads by content (bounded): every node that hears one payload gets one state object. */
const decoded = new Map<string, TopologyState>();
const DECODED_MAX = 16;

function contentKey(bytes: Uint8Array): string {
  // FNV-1a 32 over the bytes, plus the length: a memo key, verified by comparing bytes on a hit.
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return `${bytes.length}:${(h >>> 0).toString(16)}`;
}

const bytesOf = new WeakMap<TopologyState, Uint8Array>();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const bad = (why: string): RingkvError => new RingkvError('ERR_PROTOCOL', `invalid topology payload: ${why}`);

/** Reads only the rank of a payload (cheap: the ring is not decoded). Null when malformed. */
export function peekRank(bytes: Uint8Array): { version: number; id: string } | null {
  try {
    const env: unknown = packr.unpack(bytes);
    if (!isRecord(env) || env.f !== 1 || typeof env.version !== 'number' || !Number.isSafeInteger(env.version) || typeof env.id !== 'string') return null;
    return { version: env.version, id: env.id };
  } catch {
    return null;
  }
}

export function decodeChange(x: unknown): RingChange | null {
  if (!isRecord(x) || typeof x.id !== 'string' || x.id.length === 0) return null;
  const id = nodeId(x.id);
  switch (x.kind) {
    case 'join': {
      if (x.weight !== undefined && (typeof x.weight !== 'number' || !Number.isFinite(x.weight) || x.weight <= 0)) return null;
      if (x.rack !== undefined && typeof x.rack !== 'string') return null;
      if (x.zone !== undefined && typeof x.zone !== 'string') return null;
      const c: { kind: 'join'; id: NodeId; weight?: number; rack?: string; zone?: string } = { kind: 'join', id };
      if (x.weight !== undefined) c.weight = x.weight;
      if (x.rack !== undefined) c.rack = x.rack;
      if (x.zone !== undefined) c.zone = x.zone;
      return c;
    }
    case 'decommission': return { kind: 'decommission', id };
    case 'remove': return { kind: 'remove', id };
    default: return null;
  }
}

/** Decodes and validates a payload from a peer; ERR_PROTOCOL when malformed or inconsistent. */
export function decodeState(bytes: Uint8Array): TopologyState {
  const key = contentKey(bytes);
  const hit = decoded.get(key);
  if (hit !== undefined && sameBytes(bytesOf.get(hit)!, bytes)) return hit;
  const state = decodeFresh(bytes);
  remember(Uint8Array.from(bytes), state);
  return state;
}

function remember(bytes: Uint8Array, state: TopologyState): void {
  if (!bytesOf.has(state)) bytesOf.set(state, bytes);
  decoded.set(contentKey(bytes), state);
  while (decoded.size > DECODED_MAX) decoded.delete(decoded.keys().next().value!);
}

function decodeFresh(bytes: Uint8Array): TopologyState {
  let env: unknown;
  try {
    env = packr.unpack(bytes);
  } catch {
    throw bad('not MessagePack');
  }
  if (!isRecord(env) || env.f !== 1) throw bad('format');
  const { version, id, origin, change } = env;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || typeof id !== 'string') throw bad('rank');
  if (origin !== null && typeof origin !== 'string') throw bad('origin');
  const current = decodeRing(env.current);
  const ch = change === null ? null : decodeChange(change);
  if (change !== null && ch === null) throw bad('change');
  let pending: RingState | null = null;
  if (ch !== null) {
    try {
      pending = applyChange(current, ch);
    } catch {
      throw bad('change does not apply to the ring');
    }
  }
  const state: TopologyState = Object.freeze({ current, pending, change: ch, origin: origin === null ? null : nodeId(origin), id });
  if (stateVersion(state) !== version) throw bad('version does not match the rings');
  if (ch !== null && id !== proposalId(ch, state.origin)) throw bad('id does not name the change');
  return state;
}
