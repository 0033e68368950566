/**
 * Number rules shared by the data commands: string2ll acceptance (property-tested against a
 * reference), the long double emulation behind INCRBYFLOAT (values checked against Redis 7.0.15
 * on x86-64), and glob edge cases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { addLongDouble, formatLongDouble, parseI64, parseLongDouble, type LongDouble } from '../../src/data/redis-number.js';

function reference(s: string): bigint | undefined {
  if (!/^(0|-?[1-9][0-9]*)$/.test(s) || s.length >= 21) return undefined;
  const v = BigInt(s);
  return v > 9223372036854775807n || v < -9223372036854775808n ? undefined : v;
}

function ld(s: string): LongDouble {
  const p = parseLongDouble(s);
  if (p === undefined || p.kind !== 'finite') throw new Error(`not finite: ${s}`);
  return p.value;
}

function incr(a: string, b: string): string | undefined {
  const r = addLongDouble(ld(a), ld(b));
  return r === undefined ? undefined : formatLongDouble(r);
}

describe('numbers: string2ll', () => {
  it('accepts exactly what Redis accepts (property, against a reference)', () => {
    const digits = fc.stringMatching(/^[-+ 0-9]{0,22}$/);
    fc.assert(fc.property(fc.oneof(digits, fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map(String)), (s) => {
      const got = parseI64(s);
      const want = reference(s);
      assert.equal(got === undefined ? undefined : BigInt(got), want, JSON.stringify(s));
    }), { numRuns: 3000 });
  });

  it('returns plain numbers for safe integers and bigints beyond', () => {
    assert.equal(parseI64('9007199254740991'), 9007199254740991);
    assert.equal(parseI64('9223372036854775807'), 9223372036854775807n);
    assert.equal(parseI64('-0'), undefined);
  });
});

describe('numbers: long double emulation (INCRBYFLOAT)', () => {
  it('prints the sums Redis prints on x86-64', () => {
    assert.equal(incr('1000', '0.1'), '1000.09999999999999998');
    assert.equal(incr('0.1', '0.2'), '0.3');
    assert.equal(incr('10.5', '0.1'), '10.6');
    assert.equal(incr('17179869184', '1.5'), '17179869185.5');
    assert.equal(incr('1', '-1.1'), '-0.1');
    assert.equal(incr('0.024390243902439025', '-0.024390243902439025'), '0');
    assert.equal(incr('5.0e3', '0'), '5000');
  });

  it('refuses what strtold refuses and overflows to an error', () => {
    for (const s of ['', ' 1', '1 ', 'nan', '1e5000', '1e-5000', '0x10', '1..2', '.', '+']) {
      assert.equal(parseLongDouble(s), undefined, JSON.stringify(s));
    }
    assert.deepEqual(parseLongDouble('-inf'), { kind: 'inf', negative: true });
    assert.notEqual(parseLongDouble('1e4900'), undefined, 'beyond double but within long double');
    const big = ld('1.1e4932');
    assert.equal(addLongDouble(big, big), undefined);
  });

  it('addition is exact then rounded once: x + 0 = x and x + (-x) = 0 (property)', () => {
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e300, max: 1e300 }), (x) => {
      const v = ld(x.toExponential(16));
      assert.equal(formatLongDouble(addLongDouble(v, ld('0')) as LongDouble), formatLongDouble(v));
      const neg = { ...v, negative: !v.negative };
      assert.equal(formatLongDouble(addLongDouble(v, neg) as LongDouble), '0');
    }), { numRuns: 500 });
  });
});
