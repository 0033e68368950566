import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { isRingkvError } from '../../src/errors/index.js';
import { nodeId } from '../../src/core/types.js';
import {
  CONTEXT_BYTES_MAX,
  CONTEXT_FORMAT_V1,
  CONTEXT_FORMAT_V2,
  COUNTER_MAX,
  decodeContext,
  decodeContextToken,
  decodeRecord,
  encodeContext,
  encodeRecord,
  RECORD_FORMAT_V1,
} from '../../src/core/versioning/codec.js';
import { applyWrite, assertRecord, emptyRecord, equalRecords, merge, type VersionedRecord } from '../../src/core/versioning/dvvset.js';
import { assertVersionVector, EMPTY_VV, equalVv } from '../../src/core/versioning/version-vector.js';
import { arbInconsistentRecord, arbRecord, arbVv } from './versioning-arbitraries.js';

const raw = new Packr({ useRecords: false });
const framed = (format: number, body: unknown): Buffer => Buffer.concat([Buffer.from([format]), raw.pack(body)]);

const isContextError = (e: unknown): boolean => isRingkvError(e) && e.code === 'ERR_INVALID_ARGUMENT' && !/\n\s+at /.test(e.message);
const isRecordError = (e: unknown): boolean => isRingkvError(e) && e.code === 'ERR_INTERNAL' && e.message.startsWith('corrupt versioned record');

test('codec: records round-trip exactly, and re-encoding a decoded record gives the same bytes', () => {
  fc.assert(
    fc.property(fc.oneof(arbRecord, arbInconsistentRecord), (r) => {
      const bytes = encodeRecord(r);
      assert.equal(bytes[0], RECORD_FORMAT_V1);
      const back = decodeRecord(bytes);
      assert.ok(equalRecords(back, r));
      assertRecord(back);
      assert.deepEqual(encodeRecord(back), bytes);
    }),
    { numRuns: 300 },
  );
});

test('codec: records reached by different merge orders encode to identical bytes (digest-friendly)', () => {
  fc.assert(
    fc.property(arbRecord, arbRecord, arbRecord, (x, y, z) => {
      const left = merge(merge(x, y, 'siblings'), z, 'siblings');
      const right = merge(z, merge(y, x, 'siblings'), 'siblings');
      assert.deepEqual(encodeRecord(left), encodeRecord(right));
    }),
  );
});

test('codec: contexts round-trip exactly', () => {
  fc.assert(
    fc.property(arbVv, (vv) => {
      const bytes = encodeContext(vv);
      assert.equal(bytes[0], CONTEXT_FORMAT_V1);
      assert.ok(equalVv(decodeContext(bytes), vv));
    }),
  );
  assert.ok(equalVv(decodeContext(encodeContext(EMPTY_VV)), EMPTY_VV));
});

test('codec: a token with the read timestamp round-trips; without one the bytes stay format 0x41', () => {
  fc.assert(
    fc.property(arbVv, fc.integer({ min: 0, max: 2 ** 45 }), fc.nat(1000), fc.constantFrom('a', 'node-2').map(nodeId), (vv, wallMs, logical, node) => {
      const hlc = { wallMs, logical, node };
      const bytes = encodeContext(vv, hlc);
      assert.equal(bytes[0], CONTEXT_FORMAT_V2);
      const t = decodeContextToken(bytes);
      assert.ok(equalVv(t.context, vv));
      assert.deepEqual(t.hlc, hlc);
      assert.ok(equalVv(decodeContext(bytes), vv), 'decodeContext reads both formats');
      assert.deepEqual(encodeContext(vv, null), encodeContext(vv));
      assert.equal(decodeContextToken(encodeContext(vv)).hlc, null);
    }),
  );
});

test('codec: arbitrary bytes decode to a valid value or a typed error, never anything else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(RECORD_FORMAT_V1, CONTEXT_FORMAT_V1, CONTEXT_FORMAT_V2, 0x00, 0xff), (body, format) => {
      const bytes = Buffer.concat([Buffer.from([format]), body]);
      try {
        assertVersionVector(decodeContext(bytes));
      } catch (e) {
        assert.ok(isContextError(e), String(e));
      }
      try {
        const t = decodeContextToken(bytes);
        assertVersionVector(t.context);
        if (t.hlc !== null) assert.ok(Number.isSafeInteger(t.hlc.wallMs) && typeof t.hlc.node === 'string');
      } catch (e) {
        assert.ok(isContextError(e), String(e));
      }
      try {
        assertRecord(decodeRecord(bytes));
      } catch (e) {
        assert.ok(isRecordError(e), String(e));
      }
    }),
    { numRuns: 2000 },
  );
});

test('codec: corrupting one byte of a valid encoding yields a valid value or a typed error', () => {
  fc.assert(
    fc.property(arbRecord, arbVv, fc.nat(), fc.integer({ min: 1, max: 255 }), (r, vv, at, xor) => {
      for (const [bytes, decode, ok] of [
        [encodeRecord(r), (b: Buffer) => assertRecord(decodeRecord(b)), isRecordError],
        [encodeContext(vv), (b: Buffer) => assertVersionVector(decodeContext(b)), isContextError],
      ] as const) {
        const bad = Buffer.from(bytes);
        const i = at % bad.length;
        bad[i] = (bad[i] ?? 0) ^ xor;
        try {
          decode(bad);
        } catch (e) {
          assert.ok(ok(e), String(e));
        }
        // Truncations too.
        try {
          decode(bytes.subarray(0, i));
        } catch (e) {
          assert.ok(ok(e), String(e));
        }
      }
    }),
    { numRuns: 500 },
  );
});

test('codec: hand-made invalid contexts are rejected with ERR_INVALID_ARGUMENT', () => {
  const cases: [string, Buffer][] = [
    ['empty input', Buffer.alloc(0)],
    ['record format byte', framed(RECORD_FORMAT_V1, ['a', 1])],
    ['unknown format byte', framed(0x42, ['a', 1])],
    ['odd length', framed(CONTEXT_FORMAT_V1, ['a', 1, 'b'])],
    ['unsorted nodes', framed(CONTEXT_FORMAT_V1, ['b', 1, 'a', 1])],
    ['duplicate node', framed(CONTEXT_FORMAT_V1, ['a', 1, 'a', 2])],
    ['zero counter', framed(CONTEXT_FORMAT_V1, ['a', 0])],
    ['negative counter', framed(CONTEXT_FORMAT_V1, ['a', -1])],
    ['fractional counter', framed(CONTEXT_FORMAT_V1, ['a', 1.5])],
    ['counter past COUNTER_MAX', framed(CONTEXT_FORMAT_V1, ['a', COUNTER_MAX + 1])],
    ['empty node id', framed(CONTEXT_FORMAT_V1, ['', 1])],
    ['node id not a string', framed(CONTEXT_FORMAT_V1, [7, 1])],
    ['overlong node id', framed(CONTEXT_FORMAT_V1, ['x'.repeat(300), 1])],
    ['a map, not an array', framed(CONTEXT_FORMAT_V1, new Map([['a', 1]]))],
    ['trailing bytes', Buffer.concat([framed(CONTEXT_FORMAT_V1, ['a', 1]), Buffer.from([0])])],
    ['array header promising 4G elements', Buffer.from([CONTEXT_FORMAT_V1, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0x01])],
    ['longer than CONTEXT_BYTES_MAX', framed(CONTEXT_FORMAT_V1, [Buffer.alloc(CONTEXT_BYTES_MAX)])],
    ['v2 without a timestamp', framed(CONTEXT_FORMAT_V2, [['a', 1]])],
    ['v2 with a bare vector', framed(CONTEXT_FORMAT_V2, ['a', 1])],
    ['v2 with a negative wall time', framed(CONTEXT_FORMAT_V2, [['a', 1], -1, 0, 'a'])],
    ['v2 with an empty timestamp node', framed(CONTEXT_FORMAT_V2, [['a', 1], 5, 0, ''])],
  ];
  for (const [name, bytes] of cases) {
    assert.throws(() => decodeContext(bytes), isContextError, name);
  }
});

test('codec: hand-made corrupt records are rejected with a typed error naming the problem', () => {
  const sib = (node: number, counter: number, hlcNode = node) => [node, counter, Buffer.from('v'), 0, 10, 0, hlcNode];
  const cases: [string, Buffer, RegExp][] = [
    ['context format byte', framed(CONTEXT_FORMAT_V1, [['a'], [0, 1], []]), /format/],
    ['wrong shape', framed(RECORD_FORMAT_V1, [['a'], [0, 1]]), /shape/],
    ['sibling not covered by the vector', framed(RECORD_FORMAT_V1, [['a'], [0, 1], sib(0, 2)]), /covered/],
    ['node index out of range', framed(RECORD_FORMAT_V1, [['a'], [0, 1], sib(0, 1, 5)]), /node index/],
    ['siblings out of order', framed(RECORD_FORMAT_V1, [['a'], [0, 2], [...sib(0, 2), ...sib(0, 1)]]), /sorted/],
    ['duplicate dot', framed(RECORD_FORMAT_V1, [['a'], [0, 2], [...sib(0, 1), ...sib(0, 1)]]), /sorted/],
    ['value is a string', framed(RECORD_FORMAT_V1, [['a'], [0, 1], [0, 1, 'v', 0, 10, 0, 0]]), /value/],
    ['node table unsorted', framed(RECORD_FORMAT_V1, [['b', 'a'], [], []]), /node table/],
    ['negative expiry', framed(RECORD_FORMAT_V1, [['a'], [0, 1], [0, 1, null, -5, 10, 0, 0]]), /expiry/],
  ];
  for (const [name, bytes, why] of cases) {
    assert.throws(() => decodeRecord(bytes), (e: unknown) => isRecordError(e) && why.test((e as Error).message), name);
  }
});

test('codec: decoded values are copies that do not alias the input buffer', () => {
  const r = applyWrite(emptyRecord(), EMPTY_VV, { value: Buffer.from('hello'), expiresAtMs: 0, hlc: { wallMs: 1, logical: 0, node: nodeId('a') } }, nodeId('a'), { mode: 'siblings', siblingsMax: 4 });
  const bytes = encodeRecord(r);
  const back = decodeRecord(bytes);
  bytes.fill(0);
  assert.equal(back.siblings[0]?.value?.toString(), 'hello');
});

test('codec: a one-sibling record with a 100-byte value and a three-node vector stays compact', () => {
  const hlc = { wallMs: 1_763_800_000_000, logical: 3, node: nodeId('node-1') };
  let r: VersionedRecord = { context: [{ node: nodeId('node-1'), counter: 12 }, { node: nodeId('node-2'), counter: 7 }, { node: nodeId('node-3'), counter: 30 }], siblings: [] };
  r = applyWrite(r, r.context, { value: Buffer.alloc(100, 1), expiresAtMs: 0, hlc }, nodeId('node-1'), { mode: 'siblings', siblingsMax: 4 });
  const size = encodeRecord(r).length;
  // 100 value bytes + ~21 node-table bytes + ~8 vector + ~20 sibling fields + headers.
  assert.ok(size <= 160, `encoded size ${size}`);
  assert.ok(encodeContext(r.context).length <= 30);
});

test('codec: equalRecords(a, b) holds exactly when the encodings are byte-equal', () => {
  fc.assert(
    fc.property(fc.oneof(arbRecord, arbInconsistentRecord), fc.oneof(arbRecord, arbInconsistentRecord), fc.boolean(), (x, y, same) => {
      const b = same ? decodeRecord(encodeRecord(x)) : y;
      assert.equal(equalRecords(x, b), encodeRecord(x).equals(encodeRecord(b)));
    }),
    { numRuns: 400 },
  );
});

test('codec: an empty value stays an empty (live) value, distinct from a tombstone; a 1 MiB value round-trips', () => {
  const a = nodeId('a');
  const hlc = { wallMs: 1, logical: 0, node: a };
  const opts = { mode: 'siblings', siblingsMax: 4 } as const;
  const empty = decodeRecord(encodeRecord(applyWrite(emptyRecord(), EMPTY_VV, { value: Buffer.alloc(0), expiresAtMs: 0, hlc }, a, opts)));
  assert.ok(Buffer.isBuffer(empty.siblings[0]?.value));
  assert.equal(empty.siblings[0]?.value?.length, 0);
  const tomb = decodeRecord(encodeRecord(applyWrite(emptyRecord(), EMPTY_VV, { value: null, expiresAtMs: 0, hlc }, a, opts)));
  assert.equal(tomb.siblings[0]?.value, null);
  const big = Buffer.alloc(1 << 20, 7);
  const back = decodeRecord(encodeRecord(applyWrite(emptyRecord(), EMPTY_VV, { value: big, expiresAtMs: 0, hlc }, a, opts)));
  assert.ok(back.siblings[0]?.value?.equals(big));
});
