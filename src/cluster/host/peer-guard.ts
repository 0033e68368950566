/**
 * Shape checks for everything that arrives on the peer port before it reaches the core. Peer
 * bytes are untrusted: a frame that decodes is still any msgpack value. Each check is written by
 * hand per message kind (types, ranges, sizes) and answers the typed message or null; the host
 * drops and counts what fails. The core then validates meaning (record encodings, opIds it
 * knows), so a message that passes here may still be ignored there, but never throws there.
 *
 * Rules: never trust `kind` alone; every string has a length bound; every number is a safe
 * integer in range; arrays have a length bound; binary fields are Uint8Array (msgpackr yields
 * Buffers) and are returned as Buffers.
 */
import { ERROR_CODES, type ErrorCode } from '../../errors/codes.js';
import type { AeMessage } from '../../core/antientropy/messages.js';
import type { MemberUpdate, MembershipMessage } from '../../core/membership/messages.js';
import type { KvResult, PeerMessage, ValueVersion } from '../../core/messages.js';
import { decodeTopologyMessage } from '../../core/topology/messages.js';
import type { NodeId } from '../../core/types.js';

/** Bounds of the checks; the host passes the config's key limit. */
export interface GuardLimits {
  readonly keyBytesMax: number;
}

/** Longest id-like string accepted (opIds, delivery ids, transfer ids, node ids). */
export const ID_CHARS_MAX = 256;
/** Longest list in a membership or anti-entropy message (members, updates, nodes, entries). */
const LIST_MAX = 65_536;
/** Longest error message carried in a forwarded result. */
const MESSAGE_CHARS_MAX = 4096;
/** Sibling values in a forwarded read result (the node's siblingsMax is at most 1024). */
const VALUES_MAX = 1024;

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
export const isStr = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
export const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= ID_CHARS_MAX;
export const isUint = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
export const isBin = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
export const isBool = (v: unknown): v is boolean => typeof v === 'boolean';

export function toBuffer(v: Uint8Array): Buffer {
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function isKey(v: unknown, limits: GuardLimits): v is string {
  return typeof v === 'string' && v.length <= limits.keyBytesMax;
}

const isConsistencyCount = (v: unknown): v is number => isUint(v, 64) && v >= 1;

function kvResult(v: unknown): KvResult | null {
  if (!isObj(v)) return null;
  switch (v.kind) {
    case 'values': {
      if (!Array.isArray(v.values) || v.values.length > VALUES_MAX || !isBin(v.context)) return null;
      const values: ValueVersion[] = [];
      for (const x of v.values as unknown[]) {
        if (!isObj(x) || !isBin(x.value) || !isUint(x.expiresAtMs)) return null;
        values.push({ value: toBuffer(x.value), expiresAtMs: x.expiresAtMs });
      }
      return { kind: 'values', values, context: toBuffer(v.context) };
    }
    case 'written':
      if (v.hintedAcks !== undefined && !isUint(v.hintedAcks, 64)) return null;
      return v.hintedAcks === undefined ? { kind: 'written' } : { kind: 'written', hintedAcks: v.hintedAcks };
    case 'error':
      if (typeof v.code !== 'string' || !Object.hasOwn(ERROR_CODES, v.code) || !isStr(v.message, MESSAGE_CHARS_MAX)) return null;
      return { kind: 'error', code: v.code as ErrorCode, message: v.message };
    default:
      return null;
  }
}

function memberUpdate(v: unknown): MemberUpdate | null {
  if (!isObj(v) || !isId(v.member) || !isUint(v.incarnation)) return null;
  const member = v.member as NodeId;
  switch (v.kind) {
    case 'alive': return { kind: 'alive', member, incarnation: v.incarnation };
    case 'left': return { kind: 'left', member, incarnation: v.incarnation };
    case 'dead': return isId(v.from) ? { kind: 'dead', member, incarnation: v.incarnation, from: v.from as NodeId } : null;
    case 'suspect': {
      if (!Array.isArray(v.sources) || v.sources.length === 0 || v.sources.length > 64) return null;
      if (!(v.sources as unknown[]).every(isId)) return null;
      return { kind: 'suspect', member, incarnation: v.incarnation, sources: v.sources as NodeId[] };
    }
    default:
      return null;
  }
}

function updates(v: unknown): MemberUpdate[] | null {
  if (!Array.isArray(v) || v.length > LIST_MAX) return null;
  const out: MemberUpdate[] = [];
  for (const u of v as unknown[]) {
    const m = memberUpdate(u);
    if (m === null) return null;
    out.push(m);
  }
  return out;
}

export function membershipMessage(v: unknown): MembershipMessage | null {
  if (!isObj(v)) return null;
  switch (v.kind) {
    case 'ping':
    case 'ping_req': {
      const ups = updates(v.updates);
      if (ups === null || !isUint(v.seq) || !isId(v.target) || !isUint(v.incarnation) || !isUint(v.ringEpoch)) return null;
      return { kind: v.kind, seq: v.seq, target: v.target as NodeId, incarnation: v.incarnation, ringEpoch: v.ringEpoch, updates: ups };
    }
    case 'ack': {
      const ups = updates(v.updates);
      if (ups === null || !isUint(v.seq) || !isUint(v.incarnation) || !isUint(v.ringEpoch)) return null;
      return { kind: 'ack', seq: v.seq, incarnation: v.incarnation, ringEpoch: v.ringEpoch, updates: ups };
    }
    case 'gossip': {
      const ups = updates(v.updates);
      if (ups === null || !isUint(v.incarnation) || !isUint(v.ringEpoch)) return null;
      return { kind: 'gossip', incarnation: v.incarnation, ringEpoch: v.ringEpoch, updates: ups };
    }
    case 'sync': {
      const members = updates(v.members);
      if (members === null || !isBool(v.reply) || !isBool(v.join) || !isUint(v.ringEpoch)) return null;
      if (v.ring !== null && !isBin(v.ring)) return null;
      return { kind: 'sync', reply: v.reply, join: v.join, ringEpoch: v.ringEpoch, ring: v.ring === null ? null : toBuffer(v.ring), members };
    }
    default:
      return null;
  }
}

function numberList(v: unknown): number[] | null {
  if (!Array.isArray(v) || v.length > LIST_MAX) return null;
  for (const x of v as unknown[]) if (!isInt(x)) return null;
  return v as number[];
}

/** The anti-entropy exchange's message, checked (the exchange validates hashes and node ids itself). */
export function aeMessage(v: unknown): AeMessage | null {
  if (!isObj(v)) return null;
  switch (v.kind) {
    case 'ae_data': {
      if (!isUint(v.xfer) || !Array.isArray(v.keys) || !Array.isArray(v.records) || v.keys.length > LIST_MAX) return null;
      if (v.keys.length !== v.records.length) return null;
      if (!(v.keys as unknown[]).every((k) => typeof k === 'string')) return null;
      const records: Buffer[] = [];
      for (const r of v.records as unknown[]) {
        if (!isBin(r)) return null;
        records.push(toBuffer(r));
      }
      if (v.missing !== undefined && !isUint(v.missing)) return null;
      const m: AeMessage = { kind: 'ae_data', xfer: v.xfer, keys: v.keys as string[], records };
      if (v.missing !== undefined) m.missing = v.missing;
      return m;
    }
    case 'ae_data_ack':
      return isUint(v.xfer) ? { kind: 'ae_data_ack', xfer: v.xfer } : null;
    default:
      break;
  }
  if (!isUint(v.sid)) return null;
  const sid = v.sid;
  switch (v.kind) {
    case 'ae_open': {
      if (!isInt(v.rootHi) || !isInt(v.rootLo)) return null;
      const slots = isBin(v.slots) ? toBuffer(v.slots) : numberList(v.slots);
      if (slots === null) return null;
      return { kind: 'ae_open', sid, slots, rootHi: v.rootHi, rootLo: v.rootLo };
    }
    case 'ae_open_implied':
      if (!isInt(v.fpHi) || !isInt(v.fpLo) || !isInt(v.rootHi) || !isInt(v.rootLo)) return null;
      return { kind: 'ae_open_implied', sid, fpHi: v.fpHi, fpLo: v.fpLo, rootHi: v.rootHi, rootLo: v.rootLo };
    case 'ae_request': {
      const nodes = numberList(v.nodes);
      return nodes === null ? null : { kind: 'ae_request', sid, nodes };
    }
    case 'ae_reply':
      return isBin(v.body) ? { kind: 'ae_reply', sid, body: toBuffer(v.body) } : null;
    case 'ae_busy':
      if (v.mismatch !== undefined && !isBool(v.mismatch)) return null;
      return v.mismatch === undefined ? { kind: 'ae_busy', sid } : { kind: 'ae_busy', sid, mismatch: v.mismatch };
    case 'ae_close':
      return isBool(v.completed) ? { kind: 'ae_close', sid, completed: v.completed } : null;
    case 'ae_want': {
      const nodes = numberList(v.nodes);
      const counts = numberList(v.counts);
      if (!isUint(v.xfer) || nodes === null || counts === null || !isBin(v.hashes)) return null;
      return { kind: 'ae_want', xfer: v.xfer, sid, nodes, counts, hashes: toBuffer(v.hashes) };
    }
    default:
      return null;
  }
}

/** The core's peer message, checked; null = malformed (drop and count). */
export function peerMessage(v: unknown, limits: GuardLimits): PeerMessage | null {
  if (!isObj(v)) return null;
  switch (v.kind) {
    case 'forward_write': {
      if (!isId(v.opId) || !isKey(v.key, limits) || !isUint(v.expiresAtMs) || !isConsistencyCount(v.writeQuorum) || !isBool(v.strict)) return null;
      if (v.value !== null && !isBin(v.value)) return null;
      if (v.context !== null && !isBin(v.context)) return null;
      if (v.overwrite !== undefined && !isBool(v.overwrite)) return null;
      const m: PeerMessage = {
        kind: 'forward_write', opId: v.opId, key: v.key, value: v.value === null ? null : toBuffer(v.value), expiresAtMs: v.expiresAtMs,
        context: v.context === null ? null : toBuffer(v.context), writeQuorum: v.writeQuorum, strict: v.strict,
      };
      if (v.overwrite !== undefined) m.overwrite = v.overwrite;
      return m;
    }
    case 'forward_reply': {
      const result = kvResult(v.result);
      return isId(v.opId) && result !== null ? { kind: 'forward_reply', opId: v.opId, result } : null;
    }
    case 'replicate':
      return isId(v.opId) && isKey(v.key, limits) && isBin(v.record) ? { kind: 'replicate', opId: v.opId, key: v.key, record: toBuffer(v.record) } : null;
    case 'replicate_ack':
      return isId(v.opId) && isKey(v.key, limits) ? { kind: 'replicate_ack', opId: v.opId, key: v.key } : null;
    case 'read':
      return isId(v.opId) && isKey(v.key, limits) ? { kind: 'read', opId: v.opId, key: v.key } : null;
    case 'read_reply':
      if (!isId(v.opId) || !isKey(v.key, limits) || (v.record !== null && !isBin(v.record))) return null;
      return { kind: 'read_reply', opId: v.opId, key: v.key, record: v.record === null ? null : toBuffer(v.record) };
    case 'repair':
      return isKey(v.key, limits) && isBin(v.record) ? { kind: 'repair', key: v.key, record: toBuffer(v.record) } : null;
    case 'replicate_hint':
      if (!isId(v.opId) || !isKey(v.key, limits) || !isId(v.owner) || !isBin(v.record)) return null;
      return { kind: 'replicate_hint', opId: v.opId, key: v.key, owner: v.owner as NodeId, record: toBuffer(v.record) };
    case 'hint_deliver':
      if (!isId(v.deliveryId) || !isKey(v.key, limits) || !isBin(v.record)) return null;
      return { kind: 'hint_deliver', deliveryId: v.deliveryId, key: v.key, record: toBuffer(v.record) };
    case 'hint_ack':
      return isId(v.deliveryId) && isKey(v.key, limits) ? { kind: 'hint_ack', deliveryId: v.deliveryId, key: v.key } : null;
    case 'membership': {
      const message = membershipMessage(v.message);
      return message === null ? null : { kind: 'membership', message };
    }
    case 'ae': {
      const message = aeMessage(v.message);
      return message === null ? null : { kind: 'ae', message };
    }
    case 'topology': {
      // Topology validates its own vocabulary (changes, rings, pulls).
      const message = decodeTopologyMessage(v.message);
      return message === null ? null : { kind: 'topology', message };
    }
    case 'ae_push':
      return isId(v.xferId) && isKey(v.key, limits) && isBin(v.record) ? { kind: 'ae_push', xferId: v.xferId, key: v.key, record: toBuffer(v.record) } : null;
    case 'ae_push_ack':
      return isId(v.xferId) && isKey(v.key, limits) ? { kind: 'ae_push_ack', xferId: v.xferId, key: v.key } : null;
    case 'ae_fetch':
      return isId(v.xferId) && isKey(v.key, limits) ? { kind: 'ae_fetch', xferId: v.xferId, key: v.key } : null;
    case 'ae_fetch_reply':
      if (!isId(v.xferId) || !isKey(v.key, limits) || (v.record !== null && !isBin(v.record))) return null;
      return { kind: 'ae_fetch_reply', xferId: v.xferId, key: v.key, record: v.record === null ? null : toBuffer(v.record) };
    default:
      return null;
  }
}
