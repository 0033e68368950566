import assert from 'node:assert/strict';
import { test } from 'node:test';
import calculateSlot from 'cluster-key-slot';
import fc from 'fast-check';
import { SLOT_COUNT, keySlot } from '../../src/core/ring/index.js';

// Values from `CLUSTER KEYSLOT` on redis-server 7.0.15 (cluster mode), keys given as raw bytes.
const REDIS_SLOTS: [Buffer, number][] = [
  [Buffer.from('foo'), 12182],
  [Buffer.from('bar'), 5061],
  [Buffer.from(''), 0],
  [Buffer.from('{}'), 15257],
  [Buffer.from('{}foo'), 9500],
  [Buffer.from('foo{}{bar}'), 8363],
  [Buffer.from('{user1000}.following'), 3443],
  [Buffer.from('{user1000}.followers'), 3443],
  [Buffer.from('foo{{bar}}zap'), 4015],
  [Buffer.from('foo{bar}{zap}'), 5061],
  [Buffer.from('{bar'), 4015],
  [Buffer.from('bar}'), 6624],
  [Buffer.from('}{'), 12793],
  [Buffer.from('a{b}c'), 3300],
  [Buffer.from([0xff]), 7920],
  [Buffer.from([0x80, 0x01, 0xff]), 5787],
  [Buffer.from([0x63, 0x61, 0x66, 0xe9]), 9182],
  [Buffer.from([0x7b, 0xe9, 0x74, 0xe9, 0x7d, 0x78]), 5690],
  [Buffer.from([0x01]), 4129],
  [Buffer.from('123456789'), 12739],
  [Buffer.from('key:000001'), 5493],
  [Buffer.from([0xc3, 0xa9]), 10180],
];

test('keySlot: matches redis-server CLUSTER KEYSLOT for ASCII, binary and hash-tag keys', () => {
  for (const [bytes, slot] of REDIS_SLOTS) {
    assert.equal(keySlot(bytes.toString('latin1')), slot, `key ${bytes.toString('hex')}`);
  }
});

/** cluster-key-slot hashes "{bar" for "foo{}{bar}"; Redis hashes the whole key. */
const packageDiffers = (buf: Buffer): boolean => {
  const open = buf.indexOf(0x7b);
  return open >= 0 && buf[open + 1] === 0x7d && buf.indexOf(0x7d, open + 2) >= 0;
};

test('keySlot: agrees with cluster-key-slot on the key bytes except after an empty first tag', () => {
  const bytes = fc.uint8Array({ maxLength: 40 });
  const braces = fc.array(fc.constantFrom(0x7b, 0x7d, 0x61, 0xe9, 0x00), { maxLength: 12 }).map((a) => Uint8Array.from(a));
  fc.assert(
    fc.property(fc.oneof(bytes, braces), (arr) => {
      const buf = Buffer.from(arr);
      fc.pre(!packageDiffers(buf));
      const slot = keySlot(buf.toString('latin1'));
      assert.equal(slot, calculateSlot(buf));
      assert.ok(slot >= 0 && slot < SLOT_COUNT);
    }),
    { numRuns: 1000 },
  );
});

test('keySlot: after an empty first {} the whole key is hashed, as Redis does (unlike cluster-key-slot)', () => {
  const key = Buffer.from('foo{}{bar}');
  assert.equal(keySlot(key.toString('latin1')), 8363);
  assert.notEqual(calculateSlot(key), 8363, 'the package still has its known deviation');
});

test('keySlot: keys sharing a non-empty {tag} share a slot; an empty {} tag hashes the whole key', () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 10 }).filter((t) => !t.includes('}')),
      fc.string({ maxLength: 10 }).filter((p) => !p.includes('{')),
      fc.string({ maxLength: 10 }),
      fc.string({ maxLength: 10 }),
      (tag, prefix, a, b) => {
        const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
        assert.equal(keySlot(latin1(`${prefix}{${tag}}${a}`)), keySlot(latin1(tag)));
        assert.equal(keySlot(latin1(`${prefix}{${tag}}${a}`)), keySlot(latin1(`${prefix}{${tag}}${b}`)));
      },
    ),
    { numRuns: 300 },
  );
  assert.equal(keySlot('{}foo'), 9500);
  assert.notEqual(keySlot('{}foo'), keySlot('foo'));
});

test('keySlot: a string that is not latin1 bytes is a RangeError, not a wrong slot', () => {
  assert.throws(() => keySlot('caf\u20ac'), RangeError);
});
