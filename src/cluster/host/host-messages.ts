/**
 * Host-level peer traffic: what node hosts exchange outside the core (the core's PeerMessage
 * travels on the same connections; host kinds start with `host_` or `local_`, core kinds never
 * do). Every value from a peer is checked here by hand before use; null = malformed.
 *
 *   message host_addresses  the sender's address book (itself first), sent on connect and
 *                           periodically, at most ADDRESSES_PER_MESSAGE_MAX entries
 *   request local_*         LocalRequest (api.ts) -> LocalReply
 */
import { SLOT_COUNT } from '../../core/ring/index.js';
import type { NodeId, Slot } from '../../core/types.js';
import type { LocalReply, LocalRequest, NodeAddress } from '../api.js';
import { isId, isObj, isStr, isUint } from './peer-guard.js';

/** Addresses in one host_addresses message (the book rotates through the rest). */
export const ADDRESSES_PER_MESSAGE_MAX = 64;
/** Slots a local request may name (all of them). */
const SLOTS_MAX = SLOT_COUNT;
/** Keys one local_keys page may ask for. */
export const LOCAL_KEYS_LIMIT_MAX = 10_000;
const PATTERN_CHARS_MAX = 4096;
const HOST_CHARS_MAX = 255;

export interface JoinMember {
  id: NodeId;
  weight: number;
  rack?: string;
  zone?: string;
}

export type HostMessage = { kind: 'host_addresses'; addresses: NodeAddress[] };

export type HostRequest = LocalRequest;

export const isHostKind = (kind: unknown): boolean =>
  typeof kind === 'string' && (kind.startsWith('host_') || kind.startsWith('local_'));

export function nodeAddress(v: unknown): NodeAddress | null {
  if (!isObj(v) || !isId(v.id) || !/^[A-Za-z0-9._-]{1,64}$/.test(v.id)) return null;
  if (!isStr(v.host, HOST_CHARS_MAX) || v.host.length === 0) return null;
  if (!isUint(v.respPort, 65535) || !isUint(v.peerPort, 65535) || !isUint(v.httpPort, 65535)) return null;
  return { id: v.id as NodeId, host: v.host, respPort: v.respPort, peerPort: v.peerPort, httpPort: v.httpPort };
}

export function hostMessage(v: unknown): HostMessage | null {
  if (!isObj(v) || v.kind !== 'host_addresses') return null;
  if (!Array.isArray(v.addresses) || v.addresses.length > ADDRESSES_PER_MESSAGE_MAX) return null;
  const addresses: NodeAddress[] = [];
  for (const a of v.addresses as unknown[]) {
    const x = nodeAddress(a);
    if (x === null) return null;
    addresses.push(x);
  }
  return { kind: 'host_addresses', addresses };
}

function slots(v: unknown): Slot[] | null {
  if (!Array.isArray(v) || v.length > SLOTS_MAX) return null;
  for (const s of v as unknown[]) if (!isUint(s, SLOT_COUNT - 1)) return null;
  return v as Slot[];
}

export function hostRequest(v: unknown): HostRequest | null {
  if (!isObj(v)) return null;
  switch (v.kind) {
    case 'local_keys': {
      if (v.after !== null && !isStr(v.after, 1 << 20)) return null;
      if (!isUint(v.limit, LOCAL_KEYS_LIMIT_MAX) || v.limit < 1) return null;
      const req: LocalRequest & { kind: 'local_keys' } = { kind: 'local_keys', after: v.after, limit: v.limit };
      if (v.slots !== undefined) {
        const s = slots(v.slots);
        if (s === null) return null;
        req.slots = s;
      }
      if (v.pattern !== undefined) {
        if (!isStr(v.pattern, PATTERN_CHARS_MAX)) return null;
        req.pattern = v.pattern;
      }
      return req;
    }
    case 'local_count': {
      if (v.slots === undefined) return { kind: 'local_count' };
      const s = slots(v.slots);
      return s === null ? null : { kind: 'local_count', slots: s };
    }
    case 'local_flush':
      return { kind: 'local_flush' };
    default:
      return null;
  }
}

/** A peer's answer to a LocalRequest of kind `kind`, checked. */
export function localReply(v: unknown, kind: LocalRequest['kind']): LocalReply | null {
  if (!isObj(v) || v.kind !== kind) return null;
  switch (kind) {
    case 'local_keys': {
      const page = v.page;
      if (!isObj(page) || !Array.isArray(page.keys) || page.keys.length > LOCAL_KEYS_LIMIT_MAX) return null;
      if (!(page.keys as unknown[]).every((k) => typeof k === 'string')) return null;
      if (page.next !== null && typeof page.next !== 'string') return null;
      return { kind: 'local_keys', page: { keys: page.keys as string[], next: page.next } };
    }
    case 'local_count':
      return isUint(v.count) ? { kind: 'local_count', count: v.count } : null;
    case 'local_flush':
      return isUint(v.removed) ? { kind: 'local_flush', removed: v.removed } : null;
    default: {
      const never: never = kind;
      throw new TypeError(`unknown local request ${String(never)}`);
    }
  }
}
