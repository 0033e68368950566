/**
 * Topology's wire vocabulary (carried as the `topology` peer message). Plain data only, so it
 * round-trips through msgpackr; `decodeTopologyMessage` validates one from an untrusted peer.
 *
 * Every message about a change names it by (version, id) (view.ts): a receiver holding another
 * state answers with its own (`announce`) when it ranks higher, or asks for the sender's
 * (`announce_request`) when it ranks lower, so mismatched nodes converge without waiting for
 * membership gossip.
 */
import type { KvResult } from '../messages.js';
import { decodeChange } from './view.js';
import type { RingChange } from './types.js';

export type TopologyMessage =
  /** A ring change handed on by a node that may not start it (not in the ring). */
  | { kind: 'change'; opId: string; change: RingChange; hops: number }
  | { kind: 'change_reply'; opId: string; result: KvResult }
  /** A gainer asks a current owner for the next page of its records in the gainer's gained slots. */
  | { kind: 'pull'; version: number; id: string; afterKey: string | null }
  /** `retry`: not now (state mismatch, not quiesced, storage failed); `next` null = the last page. */
  | { kind: 'pull_reply'; version: number; id: string; afterKey: string | null; status: 'ok' | 'retry'; records: [string, Uint8Array][]; next: string | null }
  /** A gainer holds every gained slot (retried until the ring moves on). */
  | { kind: 'done'; version: number; id: string }
  /** After a commit, a node holding records of a slot it no longer owns hands each to the owners. */
  | { kind: 'push'; pushId: string; key: string; record: Uint8Array }
  | { kind: 'push_ack'; pushId: string; key: string }
  /** The sender's whole state (view.ts payload). */
  | { kind: 'announce'; payload: Uint8Array }
  | { kind: 'announce_request' };

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isStr = (x: unknown): x is string => typeof x === 'string';
const isBin = (x: unknown): x is Uint8Array => x instanceof Uint8Array;
const isVersion = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isKeyOrNull = (x: unknown): x is string | null => x === null || typeof x === 'string';

function kvResult(x: unknown): KvResult | null {
  if (!isRecord(x)) return null;
  if (x.kind === 'written') return { kind: 'written' };
  if (x.kind === 'error' && isStr(x.code) && isStr(x.message)) return x as KvResult;
  return null;
}

/**
 * Validates a topology message from a peer (the peer transport's guard calls it); null when
 * malformed. Error codes in a change_reply are passed through as strings the registry may not
 * know; the front end maps unknown ones to ERR_INTERNAL.
 */
export function decodeTopologyMessage(x: unknown): TopologyMessage | null {
  if (!isRecord(x)) return null;
  switch (x.kind) {
    case 'change': {
      const change = decodeChange(x.change);
      return isStr(x.opId) && change !== null && isVersion(x.hops) ? { kind: 'change', opId: x.opId, change, hops: x.hops } : null;
    }
    case 'change_reply': {
      const result = kvResult(x.result);
      return isStr(x.opId) && result !== null ? { kind: 'change_reply', opId: x.opId, result } : null;
    }
    case 'pull':
      return isVersion(x.version) && isStr(x.id) && isKeyOrNull(x.afterKey) ? { kind: 'pull', version: x.version, id: x.id, afterKey: x.afterKey } : null;
    case 'pull_reply': {
      if (!isVersion(x.version) || !isStr(x.id) || !isKeyOrNull(x.afterKey) || !isKeyOrNull(x.next)) return null;
      if (x.status !== 'ok' && x.status !== 'retry') return null;
      if (!Array.isArray(x.records)) return null;
      const records: [string, Uint8Array][] = [];
      for (const r of x.records as unknown[]) {
        if (!Array.isArray(r) || r.length !== 2 || !isStr(r[0]) || !isBin(r[1])) return null;
        records.push([r[0], r[1]]);
      }
      return { kind: 'pull_reply', version: x.version, id: x.id, afterKey: x.afterKey, status: x.status, records, next: x.next };
    }
    case 'done':
      return isVersion(x.version) && isStr(x.id) ? { kind: 'done', version: x.version, id: x.id } : null;
    case 'push':
      return isStr(x.pushId) && isStr(x.key) && isBin(x.record) ? { kind: 'push', pushId: x.pushId, key: x.key, record: x.record } : null;
    case 'push_ack':
      return isStr(x.pushId) && isStr(x.key) ? { kind: 'push_ack', pushId: x.pushId, key: x.key } : null;
    case 'announce':
      return isBin(x.payload) ? { kind: 'announce', payload: x.payload } : null;
    case 'announce_request':
      return { kind: 'announce_request' };
    default:
      return null;
  }
}

