/**
 * The peer input guards (src/cluster/host/peer-guard.ts, host-messages.ts): every well-formed
 * message survives a MessagePack round trip through the guard unchanged; a message with any one
 * field of the wrong type is refused; arbitrary values never throw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hostMessage, hostRequest, localReply } from '../../src/cluster/host/host-messages.js';
import { peerMessage } from '../../src/cluster/host/peer-guard.js';
import { packPayload, unpackPayload } from '../../src/protocol/peer/payload.js';

const LIMITS = { keyBytesMax: 1024 };
const bin = (s: string): Buffer => Buffer.from(s);
const wire = (v: unknown): unknown => unpackPayload(packPayload(v));

const VALID: Record<string, unknown>[] = [
  { kind: 'forward_write', opId: 'a/1/1', key: 'k', value: bin('v'), expiresAtMs: 0, context: null, writeQuorum: 2, strict: false, overwrite: true },
  { kind: 'forward_write', opId: 'a/1/2', key: 'k', value: null, expiresAtMs: 5, context: bin('c'), writeQuorum: 1, strict: true },
  { kind: 'forward_reply', opId: 'a/1/1', result: { kind: 'values', values: [{ value: bin('v'), expiresAtMs: 0 }], context: bin('c') } },
  { kind: 'forward_reply', opId: 'a/1/1', result: { kind: 'written', hintedAcks: 1 } },
  { kind: 'forward_reply', opId: 'a/1/1', result: { kind: 'error', code: 'ERR_UNAVAILABLE', message: 'no' } },
  { kind: 'replicate', opId: 'a/1/1', key: 'k', record: bin('r') },
  { kind: 'replicate_ack', opId: 'a/1/1', key: 'k' },
  { kind: 'read', opId: 'a/1/1', key: 'k' },
  { kind: 'read_reply', opId: 'a/1/1', key: 'k', record: null },
  { kind: 'read_reply', opId: 'a/1/1', key: 'k', record: bin('r') },
  { kind: 'repair', key: 'k', record: bin('r') },
  { kind: 'replicate_hint', opId: 'a/1/1', key: 'k', owner: 'n2', record: bin('r') },
  { kind: 'hint_deliver', deliveryId: 'd1', key: 'k', record: bin('r') },
  { kind: 'hint_ack', deliveryId: 'd1', key: 'k' },
  { kind: 'membership', message: { kind: 'ping', seq: 1, target: 'n1', incarnation: 3, ringEpoch: 2, updates: [{ kind: 'alive', member: 'n3', incarnation: 1 }] } },
  { kind: 'membership', message: { kind: 'ack', seq: 1, incarnation: 3, ringEpoch: 2, updates: [{ kind: 'suspect', member: 'n3', incarnation: 1, sources: ['n1', 'n2'] }] } },
  { kind: 'membership', message: { kind: 'ping_req', seq: 1, target: 'n4', incarnation: 3, ringEpoch: 2, updates: [{ kind: 'dead', member: 'n3', incarnation: 1, from: 'n1' }] } },
  { kind: 'membership', message: { kind: 'gossip', incarnation: 3, ringEpoch: 2, updates: [{ kind: 'left', member: 'n3', incarnation: 9 }] } },
  { kind: 'membership', message: { kind: 'sync', reply: false, join: true, ringEpoch: 2, ring: bin('ring'), members: [] } },
  { kind: 'ae', message: { kind: 'ae_open', sid: 2 ** 40 + 3, slots: [0, 100], rootHi: 1, rootLo: -2 } },
  { kind: 'ae', message: { kind: 'ae_open', sid: 1, slots: bin('bitmap'), rootHi: 1, rootLo: 2 } },
  { kind: 'ae', message: { kind: 'ae_open_implied', sid: 1, fpHi: 1, fpLo: 2, rootHi: 3, rootLo: 4 } },
  { kind: 'ae', message: { kind: 'ae_request', sid: 1, nodes: [5, -7] } },
  { kind: 'ae', message: { kind: 'ae_reply', sid: 1, body: bin('desc') } },
  { kind: 'ae', message: { kind: 'ae_busy', sid: 1, mismatch: true } },
  { kind: 'ae', message: { kind: 'ae_close', sid: 1, completed: false } },
  { kind: 'ae', message: { kind: 'ae_data', xfer: 4, keys: ['k'], records: [bin('r')], missing: 1 } },
  { kind: 'ae', message: { kind: 'ae_data_ack', xfer: 4 } },
  { kind: 'ae', message: { kind: 'ae_want', xfer: 4, sid: 1, nodes: [-3], counts: [2], hashes: bin('hhhhhhhh') } },
  { kind: 'ae_push', xferId: 'x1', key: 'k', record: bin('r') },
  { kind: 'ae_push_ack', xferId: 'x1', key: 'k' },
  { kind: 'ae_fetch', xferId: 'x1', key: 'k' },
  { kind: 'ae_fetch_reply', xferId: 'x1', key: 'k', record: null },
  { kind: 'topology', message: { kind: 'done', version: 3, id: 'p' } },
  { kind: 'topology', message: { kind: 'announce_request' } },
];

/** Paths to every field of a message (nested objects included, arrays as wholes). */
function fieldPaths(v: Record<string, unknown>, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const [k, x] of Object.entries(v)) {
    if (k === 'kind') continue;
    out.push([...prefix, k]);
    if (typeof x === 'object' && x !== null && !Array.isArray(x) && !Buffer.isBuffer(x)) out.push(...fieldPaths(x as Record<string, unknown>, [...prefix, k]));
  }
  return out;
}

function withField(v: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...v };
  const [head, ...rest] = path as [string, ...string[]];
  copy[head] = rest.length === 0 ? value : withField(copy[head] as Record<string, unknown>, rest, value);
  return copy;
}

describe('cluster host peer guards', () => {
  it('guard: every well-formed core message passes unchanged after a MessagePack round trip', () => {
    for (const m of VALID) assert.deepEqual(peerMessage(wire(m), LIMITS), wire(m), `kind ${String(m.kind)}`);
  });

  it('guard: a message with any one field of the wrong type is refused', () => {
    for (const m of VALID) {
      for (const path of fieldPaths(m)) {
        // Buffers where text is expected and text where numbers, bytes or objects are expected.
        const wrong = typeof path.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], m) === 'string' ? { x: 1 } : 'wrong';
        assert.equal(peerMessage(wire(withField(m, path, wrong)), LIMITS), null, `${String(m.kind)}.${path.join('.')}`);
      }
    }
  });

  it('guard: keys over the limit, unknown kinds, unknown error codes and non-objects are refused', () => {
    assert.equal(peerMessage({ kind: 'read', opId: 'o', key: 'k'.repeat(1025) }, LIMITS), null);
    assert.equal(peerMessage({ kind: 'host_addresses', addresses: [] }, LIMITS), null, 'host kinds are not core messages');
    assert.equal(peerMessage({ kind: 'forward_reply', opId: 'o', result: { kind: 'error', code: 'ERR_NOPE', message: '' } }, LIMITS), null);
    for (const v of [null, 1, 'read', [], bin('x'), { kind: 'nope' }]) assert.equal(peerMessage(v, LIMITS), null);
  });

  it('guard: arbitrary values never throw', () => {
    fc.assert(fc.property(fc.anything({ withTypedArray: true, withNullPrototype: true }), fc.constantFrom(...VALID.map((m) => m.kind)), (v, kind) => {
      peerMessage(v, LIMITS);
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) peerMessage({ ...v, kind }, LIMITS);
      hostMessage(v);
      hostRequest(v);
    }), { numRuns: 2000 });
  });

  it('host messages: addresses and local requests are checked field by field', () => {
    const addr = { id: 'node-1', host: '127.0.0.1', respPort: 7001, peerPort: 7201, httpPort: 7101 };
    assert.deepEqual(hostMessage(wire({ kind: 'host_addresses', addresses: [addr] })), { kind: 'host_addresses', addresses: [addr] });
    assert.equal(hostMessage({ kind: 'host_addresses', addresses: [{ ...addr, respPort: 70_000 }] }), null);
    assert.equal(hostMessage({ kind: 'host_addresses', addresses: new Array(65).fill(addr) }), null, 'bounded per message');
    assert.deepEqual(hostRequest({ kind: 'local_keys', after: null, limit: 10, slots: [0, 16383], pattern: 'a*' }),
      { kind: 'local_keys', after: null, limit: 10, slots: [0, 16383], pattern: 'a*' });
    assert.equal(hostRequest({ kind: 'local_keys', after: null, limit: 10, slots: [16384] }), null);
    assert.equal(hostRequest({ kind: 'local_keys', after: null, limit: 0 }), null);
    assert.deepEqual(hostRequest({ kind: 'local_flush' }), { kind: 'local_flush' });
    assert.deepEqual(localReply({ kind: 'local_count', count: 3 }, 'local_count'), { kind: 'local_count', count: 3 });
    assert.equal(localReply({ kind: 'local_count', count: -1 }, 'local_count'), null);
    assert.equal(localReply({ kind: 'local_flush', removed: 1 }, 'local_count'), null, 'a reply of another kind');
  });
});
