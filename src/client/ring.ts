/**
 * The client's view of the ring, parsed from GET /v1/cluster/ring: for every hash slot its
 * preference list, and each node's HTTP base URL. Immutable; the client swaps in a new one on
 * refresh. A node without a known HTTP address (http_port 0) cannot be routed to.
 */
import { keySlot, SLOT_COUNT } from '../core/ring/key-slot.js';
import { CLIENT_CODES, RingkvClientError } from './errors.js';

export interface RingSnapshot {
  readonly epoch: number;
  /** slot -> index into `lists`. */
  readonly slotList: Uint16Array;
  readonly lists: readonly (readonly string[])[];
  /** node id -> 'http://host:port'. */
  readonly urls: ReadonlyMap<string, string>;
}

interface RingJson {
  current?: { epoch?: unknown; ranges?: unknown };
  nodes?: unknown;
}

function bad(what: string): RingkvClientError {
  return new RingkvClientError(CLIENT_CODES.badResponse, `ring answer: ${what}`);
}

export function parseRing(json: unknown): RingSnapshot {
  const j = json as RingJson;
  const epoch = j.current?.epoch;
  const ranges = j.current?.ranges;
  if (typeof epoch !== 'number' || !Array.isArray(ranges)) throw bad('missing current ring');
  if (ranges.length > 65_535) throw bad('too many ranges');
  const slotList = new Uint16Array(SLOT_COUNT);
  const lists: string[][] = [];
  let covered = 0;
  for (const r of ranges as { first?: unknown; last?: unknown; replicas?: unknown }[]) {
    if (r.first !== covered || typeof r.last !== 'number' || r.last < covered || r.last >= SLOT_COUNT || !Array.isArray(r.replicas)) {
      throw bad('ranges do not cover the slots in order');
    }
    const idx = lists.length;
    lists.push((r.replicas as unknown[]).map(String));
    slotList.fill(idx, covered, r.last + 1);
    covered = r.last + 1;
  }
  if (covered !== SLOT_COUNT) throw bad(`ranges cover ${covered} of ${SLOT_COUNT} slots`);
  const urls = new Map<string, string>();
  const nodes = (j.nodes ?? {}) as Record<string, { host?: unknown; http_port?: unknown }>;
  for (const [id, a] of Object.entries(nodes)) {
    if (typeof a.host === 'string' && typeof a.http_port === 'number' && a.http_port > 0) {
      const host = a.host.includes(':') && !a.host.startsWith('[') ? `[${a.host}]` : a.host;
      urls.set(id, `http://${host}:${a.http_port}`);
    }
  }
  return { epoch, slotList, lists, urls };
}

/** The preference list of a key (given as its bytes in a latin1 string). */
export function replicasFor(ring: RingSnapshot, latin1Key: string): { slot: number; replicas: readonly string[] } {
  const slot = keySlot(latin1Key);
  return { slot, replicas: ring.lists[ring.slotList[slot]!] ?? [] };
}
