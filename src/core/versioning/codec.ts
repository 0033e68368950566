/**
 * Binary codec for versioned records (storage, replication, anti-entropy digests) and for
 * causal contexts (handed to clients as opaque tokens and returned by them).
 *
 * Layout: one format byte, then a MessagePack body.
 *   record  (format 0x01): [nodes, vv, sibs]
 *     nodes: node ids, strictly sorted, each referenced below by index
 *     vv:    flat [nodeIndex, counter, ...] in node order
 *     sibs:  flat [dotNodeIndex, counter, value (bin | nil), expiresAtMs, wallMs, logical,
 *            hlcNodeIndex, ...] in dot order
 *   context (format 0x41): flat [nodeId, counter, ...] in node order
 *   context with timestamp (format 0x42): [flat vector as above, wallMs, logical, nodeId] —
 *     the greatest HLC among the siblings the read returned, so a write carrying the token
 *     can be stamped after them in lww mode even on a node that has not stored them yet
 * A new layout gets a new format byte; decoders keep accepting the old ones.
 *
 * Canonical: records are kept in canonical form (sorted, unique, see dvvset.ts), so equal
 * records encode to equal bytes and the bytes can be hashed for Merkle trees.
 *
 * Decoding validates everything (types, ranges, order, every sibling covered by the vector,
 * limits) and throws a RingkvError, never anything else: contexts come from clients
 * (ERR_INVALID_ARGUMENT) and records from disks and peers (ERR_INTERNAL, "corrupt record").
 */
import { Packr, Unpackr } from 'msgpackr';
import { RingkvError } from '../../errors/index.js';
import { nodeId, type NodeId } from '../types.js';
import type { Sibling, VersionedRecord } from './dvvset.js';
import type { Hlc } from './hlc.js';
import { compareDots, compareNodeIds, covers, type VersionVector, type VvEntry } from './version-vector.js';

export const RECORD_FORMAT_V1 = 0x01;
export const CONTEXT_FORMAT_V1 = 0x41;
export const CONTEXT_FORMAT_V2 = 0x42;

/** Largest dot counter accepted: far above any real write count, and +1 stays exact. */
export const COUNTER_MAX = 2 ** 48;
/** Longest node id accepted, in UTF-16 code units. */
export const NODE_ID_LENGTH_MAX = 256;
/** Most entries in a context or record vector (one per node that ever coordinated the key). */
export const VECTOR_ENTRIES_MAX = 1024;
/** Most bytes in a context token. */
export const CONTEXT_BYTES_MAX = 64 * 1024;
/** Most siblings a decoded record may hold (merges may exceed siblingsMax; this is a sanity cap). */
export const RECORD_SIBLINGS_MAX = 65_536;

const SIBLING_FIELDS = 7;

// Plain MessagePack only: no record extension, no shared structures; decoded byte strings
// are copied so a record never aliases (and pins) the caller's input buffer.
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });
const unpackr = new Unpackr({ useRecords: false, moreTypes: false, bundleStrings: false, copyBuffers: true, mapsAsObjects: false });

function withFormat(format: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = format;
  out.set(body, 1);
  return out;
}

export function encodeRecord(r: VersionedRecord): Buffer {
  const nodeSet = new Set<NodeId>();
  for (const e of r.context) nodeSet.add(e.node);
  for (const s of r.siblings) nodeSet.add(s.hlc.node);
  const nodes = [...nodeSet].sort(compareNodeIds);
  const index = new Map<NodeId, number>();
  nodes.forEach((n, i) => index.set(n, i));
  const idx = (n: NodeId): number => {
    const i = index.get(n);
    if (i === undefined) throw new Error('sibling dot node missing from record context');
    return i;
  };
  const vv: number[] = [];
  for (const e of r.context) vv.push(idx(e.node), e.counter);
  const sibs: (number | Buffer | null)[] = [];
  for (const s of r.siblings) {
    sibs.push(idx(s.dot.node), s.dot.counter, s.value, s.expiresAtMs, s.hlc.wallMs, s.hlc.logical, idx(s.hlc.node));
  }
  return withFormat(RECORD_FORMAT_V1, packr.pack([nodes, vv, sibs]));
}

/**
 * A context token. Without `hlc` the bytes are format 0x41 (a bare vector); with it, 0x42, which
 * also carries the read's greatest timestamp (see `contextHlc` and `stampWrite` in dvvset.ts).
 */
export function encodeContext(ctx: VersionVector, hlc?: Hlc | null): Buffer {
  const flat: (string | number)[] = [];
  for (const e of ctx) flat.push(e.node, e.counter);
  if (hlc === undefined || hlc === null) return withFormat(CONTEXT_FORMAT_V1, packr.pack(flat));
  return withFormat(CONTEXT_FORMAT_V2, packr.pack([flat, hlc.wallMs, hlc.logical, hlc.node]));
}

/** What a context token holds: the causal context, and (format 0x42) the read's latest HLC. */
export interface ContextToken {
  readonly context: VersionVector;
  readonly hlc: Hlc | null;
}

class Invalid extends Error {}

function fail(reason: string): never {
  throw new Invalid(reason);
}

function unpackBody(bytes: Uint8Array, ...formats: number[]): unknown {
  if (!(bytes instanceof Uint8Array)) fail('not bytes');
  if (bytes.length < 2) fail('too short');
  if (!formats.includes(bytes[0] as number)) fail(`unknown format byte ${bytes[0]}`);
  try {
    // unpack throws on trailing bytes and on truncated input.
    return unpackr.unpack(bytes.subarray(1));
  } catch {
    fail('malformed MessagePack');
  }
}

function arrayOf(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) fail(`${what} is not an array`);
  return v;
}

function uint(v: unknown, what: string, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) fail(`${what} out of range`);
  return v;
}

function counter(v: unknown, what: string): number {
  const n = uint(v, what, COUNTER_MAX);
  if (n < 1) fail(`${what} out of range`);
  return n;
}

function nodeIdOf(v: unknown): NodeId {
  if (typeof v !== 'string' || v.length === 0 || v.length > NODE_ID_LENGTH_MAX) fail('bad node id');
  return nodeId(v);
}

function decodeRecordBody(bytes: Uint8Array): VersionedRecord {
  const body = arrayOf(unpackBody(bytes, RECORD_FORMAT_V1), 'record');
  if (body.length !== 3) fail('record has the wrong shape');
  const rawNodes = arrayOf(body[0], 'node table');
  if (rawNodes.length > VECTOR_ENTRIES_MAX * 2) fail('too many nodes');
  const nodes: NodeId[] = [];
  for (const raw of rawNodes) {
    const n = nodeIdOf(raw);
    const prev = nodes[nodes.length - 1];
    if (prev !== undefined && compareNodeIds(prev, n) >= 0) fail('node table not sorted');
    nodes.push(n);
  }
  const nodeAt = (v: unknown): NodeId => nodes[uint(v, 'node index', nodes.length - 1)] as NodeId;

  const rawVv = arrayOf(body[1], 'vector');
  if (rawVv.length % 2 !== 0 || rawVv.length > VECTOR_ENTRIES_MAX * 2) fail('vector has the wrong shape');
  const context: VvEntry[] = [];
  for (let i = 0; i < rawVv.length; i += 2) {
    const entry: VvEntry = { node: nodeAt(rawVv[i]), counter: counter(rawVv[i + 1], 'vector counter') };
    const prev = context[context.length - 1];
    if (prev !== undefined && compareNodeIds(prev.node, entry.node) >= 0) fail('vector not sorted');
    context.push(entry);
  }

  const rawSibs = arrayOf(body[2], 'siblings');
  if (rawSibs.length % SIBLING_FIELDS !== 0 || rawSibs.length > RECORD_SIBLINGS_MAX * SIBLING_FIELDS) {
    fail('siblings have the wrong shape');
  }
  const siblings: Sibling[] = [];
  for (let i = 0; i < rawSibs.length; i += SIBLING_FIELDS) {
    const value = rawSibs[i + 2];
    if (value !== null && !Buffer.isBuffer(value)) fail('sibling value is not bytes or nil');
    const s: Sibling = {
      dot: { node: nodeAt(rawSibs[i]), counter: counter(rawSibs[i + 1], 'dot counter') },
      value,
      expiresAtMs: uint(rawSibs[i + 3], 'expiry', Number.MAX_SAFE_INTEGER),
      hlc: {
        wallMs: uint(rawSibs[i + 4], 'hlc wall time', Number.MAX_SAFE_INTEGER),
        logical: uint(rawSibs[i + 5], 'hlc logical', Number.MAX_SAFE_INTEGER),
        node: nodeAt(rawSibs[i + 6]),
      },
    };
    const prev = siblings[siblings.length - 1];
    if (prev !== undefined && compareDots(prev.dot, s.dot) >= 0) fail('siblings not sorted');
    if (!covers(context, s.dot)) fail('sibling not covered by the vector');
    siblings.push(s);
  }
  return { context, siblings };
}

function decodeVectorFlat(flat: unknown[]): VersionVector {
  if (flat.length % 2 !== 0 || flat.length > VECTOR_ENTRIES_MAX * 2) fail('context has the wrong shape');
  const out: VvEntry[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const entry: VvEntry = { node: nodeIdOf(flat[i]), counter: counter(flat[i + 1], 'counter') };
    const prev = out[out.length - 1];
    if (prev !== undefined && compareNodeIds(prev.node, entry.node) >= 0) fail('context not sorted');
    out.push(entry);
  }
  return out;
}

function decodeContextBody(bytes: Uint8Array): ContextToken {
  if (bytes.length > CONTEXT_BYTES_MAX) fail('too long');
  const body = arrayOf(unpackBody(bytes, CONTEXT_FORMAT_V1, CONTEXT_FORMAT_V2), 'context');
  if (bytes[0] === CONTEXT_FORMAT_V1) return { context: decodeVectorFlat(body), hlc: null };
  if (body.length !== 4) fail('context has the wrong shape');
  const context = decodeVectorFlat(arrayOf(body[0], 'context vector'));
  const hlc: Hlc = {
    wallMs: uint(body[1], 'hlc wall time', Number.MAX_SAFE_INTEGER),
    logical: uint(body[2], 'hlc logical', Number.MAX_SAFE_INTEGER),
    node: nodeIdOf(body[3]),
  };
  return { context, hlc };
}

/** Decodes a stored or replicated record; throws RingkvError('ERR_INTERNAL') when corrupt. */
export function decodeRecord(bytes: Uint8Array): VersionedRecord {
  try {
    return decodeRecordBody(bytes);
  } catch (e) {
    const reason = e instanceof Invalid ? e.message : 'undecodable';
    throw new RingkvError('ERR_INTERNAL', `corrupt versioned record: ${reason}`, { cause: e });
  }
}

/** Decodes a client-supplied context token's vector; throws RingkvError('ERR_INVALID_ARGUMENT'). */
export function decodeContext(bytes: Uint8Array): VersionVector {
  return decodeContextToken(bytes).context;
}

/** Decodes a client-supplied context token, timestamp included; throws like `decodeContext`. */
export function decodeContextToken(bytes: Uint8Array): ContextToken {
  try {
    return decodeContextBody(bytes);
  } catch (e) {
    const reason = e instanceof Invalid ? e.message : 'undecodable';
    throw new RingkvError('ERR_INVALID_ARGUMENT', `invalid context token: ${reason}`, { cause: e });
  }
}
