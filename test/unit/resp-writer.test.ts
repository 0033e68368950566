/**
 * RESP reply writer: every reply type byte-exact in RESP2 and RESP3, doubles as C's %.17g
 * (Redis 7.0), and the buffering contract: rollback of a failed reply, no draining of an
 * unfinished reply, slab rollover and zero-copy large payloads never corrupt earlier output.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RingkvError } from '../../src/errors/index.js';
import { RespWriter, formatDouble } from '../../src/protocol/resp/writer.js';

function drained(w: RespWriter): string {
  const parts: Buffer[] = [];
  w.drain((b) => parts.push(Buffer.from(b)));
  return Buffer.concat(parts).toString('latin1');
}

function encode(protocol: 2 | 3, f: (w: RespWriter) => void): string {
  const w = new RespWriter({ protocol });
  f(w);
  return drained(w);
}

const cases: { name: string; write: (w: RespWriter) => void; resp2: string; resp3: string }[] = [
  { name: 'simple', write: (w) => w.simple('OK'), resp2: '+OK\r\n', resp3: '+OK\r\n' },
  { name: 'errorLine', write: (w) => w.errorLine('ERR bad thing'), resp2: '-ERR bad thing\r\n', resp3: '-ERR bad thing\r\n' },
  {
    name: 'error (RingkvError with its prefix)',
    write: (w) => w.error(new RingkvError('ERR_WRONG_TYPE', 'Operation against a key holding the wrong kind of value')),
    resp2: '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n',
    resp3: '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n',
  },
  { name: 'integer', write: (w) => w.integer(42), resp2: ':42\r\n', resp3: ':42\r\n' },
  { name: 'negative integer', write: (w) => w.integer(-1234567), resp2: ':-1234567\r\n', resp3: ':-1234567\r\n' },
  { name: 'zero', write: (w) => w.integer(0), resp2: ':0\r\n', resp3: ':0\r\n' },
  {
    name: 'bigint integer',
    write: (w) => w.integer(-9223372036854775808n),
    resp2: ':-9223372036854775808\r\n',
    resp3: ':-9223372036854775808\r\n',
  },
  { name: 'max safe integer', write: (w) => w.integer(9007199254740991), resp2: ':9007199254740991\r\n', resp3: ':9007199254740991\r\n' },
  { name: 'bulk buffer', write: (w) => w.bulk(Buffer.from('hello')), resp2: '$5\r\nhello\r\n', resp3: '$5\r\nhello\r\n' },
  { name: 'bulk binary', write: (w) => w.bulk(Buffer.from([0, 13, 10, 255])), resp2: '$4\r\n\x00\r\n\xff\r\n', resp3: '$4\r\n\x00\r\n\xff\r\n' },
  { name: 'bulk latin1 string', write: (w) => w.bulk('caf\xe9'), resp2: '$4\r\ncaf\xe9\r\n', resp3: '$4\r\ncaf\xe9\r\n' },
  { name: 'empty bulk', write: (w) => w.bulk(''), resp2: '$0\r\n\r\n', resp3: '$0\r\n\r\n' },
  { name: 'nil', write: (w) => w.nil(), resp2: '$-1\r\n', resp3: '_\r\n' },
  { name: 'double', write: (w) => w.double(3.14), resp2: '$18\r\n3.1400000000000001\r\n', resp3: ',3.1400000000000001\r\n' },
  { name: 'double integral', write: (w) => w.double(10), resp2: '$2\r\n10\r\n', resp3: ',10\r\n' },
  { name: 'double inf', write: (w) => w.double(Infinity), resp2: '$3\r\ninf\r\n', resp3: ',inf\r\n' },
  { name: 'double -inf', write: (w) => w.double(-Infinity), resp2: '$4\r\n-inf\r\n', resp3: ',-inf\r\n' },
  { name: 'double nan', write: (w) => w.double(Number.NaN), resp2: '$3\r\nnan\r\n', resp3: ',nan\r\n' },
  { name: 'boolean true', write: (w) => w.boolean(true), resp2: ':1\r\n', resp3: '#t\r\n' },
  { name: 'boolean false', write: (w) => w.boolean(false), resp2: ':0\r\n', resp3: '#f\r\n' },
  {
    name: 'array',
    write: (w) => {
      w.array(2);
      w.bulk('a');
      w.integer(1);
    },
    resp2: '*2\r\n$1\r\na\r\n:1\r\n',
    resp3: '*2\r\n$1\r\na\r\n:1\r\n',
  },
  { name: 'empty array', write: (w) => w.array(0), resp2: '*0\r\n', resp3: '*0\r\n' },
  { name: 'nilArray', write: (w) => w.nilArray(), resp2: '*-1\r\n', resp3: '_\r\n' },
  {
    name: 'map',
    write: (w) => {
      w.map(1);
      w.bulk('k');
      w.bulk('v');
    },
    resp2: '*2\r\n$1\r\nk\r\n$1\r\nv\r\n',
    resp3: '%1\r\n$1\r\nk\r\n$1\r\nv\r\n',
  },
  {
    name: 'set',
    write: (w) => {
      w.set(2);
      w.simple('a');
      w.simple('b');
    },
    resp2: '*2\r\n+a\r\n+b\r\n',
    resp3: '~2\r\n+a\r\n+b\r\n',
  },
  { name: 'verbatim', write: (w) => w.verbatim('hi\r\n'), resp2: '$4\r\nhi\r\n\r\n', resp3: '=8\r\ntxt:hi\r\n\r\n' },
  {
    name: 'push',
    write: (w) => {
      w.push(1);
      w.bulk('x');
    },
    resp2: '*1\r\n$1\r\nx\r\n',
    resp3: '>1\r\n$1\r\nx\r\n',
  },
  {
    name: 'status and error lines lose CR/LF (stream stays valid)',
    write: (w) => {
      w.simple('a\r\nb');
      w.errorLine('ERR x\ny');
    },
    resp2: '+a  b\r\n-ERR x y\r\n',
    resp3: '+a  b\r\n-ERR x y\r\n',
  },
];

describe('resp writer: every reply type, byte-exact', () => {
  for (const c of cases) {
    it(`${c.name} in RESP2`, () => assert.equal(encode(2, c.write), c.resp2));
    it(`${c.name} in RESP3`, () => assert.equal(encode(3, c.write), c.resp3));
  }

  it('writes large unsafe numbers as plain digits and refuses non-finite integers', () => {
    assert.equal(encode(2, (w) => w.integer(1e21)), ':1000000000000000000000\r\n');
    assert.throws(() => encode(2, (w) => w.integer(Number.NaN)), RangeError);
  });

  it('follows a protocol switch of its holder (HELLO 3) on the next reply', () => {
    const holder: { protocol: 2 | 3 } = { protocol: 2 };
    const w = new RespWriter(holder);
    w.nil();
    holder.protocol = 3;
    w.nil();
    assert.equal(drained(w), '$-1\r\n_\r\n');
  });
});

describe('resp writer: doubles as %.17g', () => {
  const known: [number, string][] = [
    [3.14, '3.1400000000000001'],
    [1.5, '1.5'],
    [0.1, '0.10000000000000001'],
    [1e20, '1e+20'],
    [1e-5, '1.0000000000000001e-05'],
    [0.0001, '0.0001'],
    [123456789012345678, '1.2345678901234568e+17'],
    [1 / 3, '0.33333333333333331'],
    [-2.5, '-2.5'],
    [1e16, '10000000000000000'],
    [1e17, '1e+17'],
    [5e-324, '4.9406564584124654e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [100, '100'],
    [12345.678, '12345.678'],
    [0, '0'],
    [-0, '-0'],
  ];
  for (const [n, s] of known) {
    it(`formats ${n} as ${s}`, () => assert.equal(formatDouble(n), s));
  }

  it('round-trips every finite double through its text (17 significant digits)', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
        assert.equal(Number(formatDouble(d)), d);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('resp writer: buffering contract', () => {
  it('rollback discards a half-written reply and keeps earlier ones', () => {
    const w = new RespWriter();
    w.beginReply();
    w.simple('first');
    w.endReply();
    w.beginReply();
    w.array(3);
    w.bulk('partial');
    w.rollback();
    w.errorLine('ERR internal error');
    w.endReply();
    assert.equal(drained(w), '+first\r\n-ERR internal error\r\n');
  });

  it('rollback works across a slab rollover and a zero-copy payload', () => {
    const w = new RespWriter();
    w.beginReply();
    w.simple('keep');
    w.endReply();
    w.beginReply();
    w.array(2);
    w.bulk(Buffer.alloc(20_000, 97)); // fills the slab
    w.bulk(Buffer.alloc(100_000, 98)); // zero-copy chunk
    w.rollback();
    w.simple('after');
    w.endReply();
    assert.equal(drained(w), '+keep\r\n+after\r\n');
  });

  it('nested replies roll back one level at a time (EXEC element failures)', () => {
    const w = new RespWriter();
    w.beginReply(); // EXEC
    w.array(2);
    w.beginReply(); // first element fails half-way
    w.array(5);
    w.bulk('partial');
    w.rollback();
    w.errorLine('ERR first failed');
    w.endReply();
    assert.equal(drained(w), '', 'nothing of an unfinished outer reply is drained');
    w.beginReply(); // second element succeeds
    w.integer(7);
    w.endReply();
    w.endReply();
    assert.equal(drained(w), '*2\r\n-ERR first failed\r\n:7\r\n');
  });

  it('drain before a nested reply keeps inner rollbacks from resending bytes', () => {
    const w = new RespWriter();
    w.simple('before');
    w.beginReply();
    w.beginReply();
    w.bulk('x');
    assert.equal(drained(w), '+before\r\n');
    w.rollback();
    w.simple('y');
    w.endReply();
    w.endReply();
    assert.equal(drained(w), '+y\r\n');
  });

  it('drain never sends an unfinished reply, but sends the finished ones before it', () => {
    const w = new RespWriter();
    w.beginReply();
    w.simple('done');
    w.endReply();
    w.beginReply();
    w.array(2);
    assert.equal(drained(w), '+done\r\n');
    w.bulk('a');
    w.bulk('b');
    w.endReply();
    assert.equal(drained(w), '*2\r\n$1\r\na\r\n$1\r\nb\r\n');
  });

  it('never overwrites bytes it already handed out', () => {
    const w = new RespWriter();
    const handed: [Buffer, string][] = [];
    for (let i = 0; i < 2000; i++) {
      w.bulk(`value-${i}-`.repeat(i % 7));
      if (i % 3 === 0) w.drain((b) => handed.push([b, b.toString('latin1')]));
    }
    w.drain((b) => handed.push([b, b.toString('latin1')]));
    for (const [b, s] of handed) assert.equal(b.toString('latin1'), s);
  });

  it('passes large payloads zero-copy and counts drained bytes', () => {
    const big = Buffer.alloc(64 * 1024, 120);
    const w = new RespWriter();
    w.bulk(big);
    const parts: Buffer[] = [];
    w.drain((b) => parts.push(b));
    assert.ok(parts.includes(big));
    const total = parts.reduce((n, b) => n + b.length, 0);
    assert.equal(total, `$${big.length}\r\n`.length + big.length + 2);
    assert.equal(w.bytesWritten, total);
  });

  it('encodes any sequence of bulks the same whatever the drain points (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.uint8Array({ maxLength: 40_000 }), fc.boolean()), { maxLength: 12 }), (items) => {
        const w = new RespWriter();
        const parts: Buffer[] = [];
        let expected = '';
        for (const [u, drainNow] of items) {
          const b = Buffer.from(u);
          w.bulk(b);
          expected += `$${b.length}\r\n${b.toString('latin1')}\r\n`;
          if (drainNow) w.drain((x) => parts.push(x));
        }
        w.drain((x) => parts.push(x));
        assert.equal(Buffer.concat(parts).toString('latin1'), expected);
      }),
      { numRuns: 100 },
    );
  });
});
