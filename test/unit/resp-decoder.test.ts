/**
 * RESP request decoder: every case is fed whole, byte by byte and in random splits and must
 * decode the same; Redis 7.0's protocol errors word for word; random bytes never make it throw
 * anything but a protocol error, hang, or allocate from an announced size.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RespDecoder, RespProtocolError } from '../../src/protocol/resp/decoder.js';

interface Outcome {
  commands: string[][];
  error?: string;
}

const MAX_BULK = 512 * 1024 * 1024;

function decodeChunks(chunks: readonly Buffer[], opts: { protoMaxBulkLen?: number; authRequired?: boolean } = {}): Outcome {
  const d = new RespDecoder({
    protoMaxBulkLen: opts.protoMaxBulkLen ?? MAX_BULK,
    authRequired: () => opts.authRequired === true,
  });
  const commands: string[][] = [];
  for (const c of chunks) {
    d.feed(c);
    for (;;) {
      let args: Buffer[] | undefined;
      try {
        args = d.next();
      } catch (e) {
        assert.ok(e instanceof RespProtocolError, `unexpected error type: ${String(e)}`);
        // Poisoned: the same error again.
        assert.throws(() => d.next(), (e2: unknown) => e2 === e);
        return { commands, error: e.toRespLine() };
      }
      if (args === undefined) break;
      commands.push(args.map((a) => a.toString('latin1')));
    }
  }
  return { commands };
}

function splitAt(input: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(input.subarray(prev, p));
    prev = p;
  }
  out.push(input.subarray(prev));
  return out;
}

function bytewise(input: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i++) out.push(input.subarray(i, i + 1));
  return out;
}

/** Decodes `input` whole, byte by byte and in 30 random splits; all must agree with `expected`. */
function check(input: string | Buffer, expected: Outcome, opts: { protoMaxBulkLen?: number; authRequired?: boolean } = {}): void {
  const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  assert.deepEqual(decodeChunks([buf], opts), expected, 'whole');
  if (buf.length <= 4096) assert.deepEqual(decodeChunks(bytewise(buf), opts), expected, 'byte by byte');
  fc.assert(
    fc.property(fc.array(fc.nat(buf.length), { maxLength: 8 }), (cuts) => {
      assert.deepEqual(decodeChunks(splitAt(buf, cuts), opts), expected, 'random split');
    }),
    { numRuns: 30 },
  );
}

function multibulk(...args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a, 'latin1') : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

describe('resp decoder: well-formed requests', () => {
  it('decodes a multibulk command', () => {
    check(multibulk('SET', 'key', 'value'), { commands: [['SET', 'key', 'value']] });
  });

  it('decodes pipelined commands in order', () => {
    const input = Buffer.concat([multibulk('SET', 'a', '1'), multibulk('GET', 'a'), multibulk('PING')]);
    check(input, { commands: [['SET', 'a', '1'], ['GET', 'a'], ['PING']] });
  });

  it('keeps binary bulk payloads intact, CRLF and NUL included', () => {
    const v = Buffer.from([0, 13, 10, 255, 36, 42, 13, 10]);
    check(multibulk('SET', 'k', v), { commands: [['SET', 'k', v.toString('latin1')]] });
  });

  it('accepts empty bulk strings', () => {
    check(multibulk('SET', '', ''), { commands: [['SET', '', '']] });
  });

  it('ignores *0 and negative multibulk counts as Redis does', () => {
    check('*0\r\n*-1\r\n*-10\r\n' + multibulk('PING').toString('latin1'), { commands: [['PING']] });
  });

  it('decodes inline commands with CRLF or bare LF and ignores empty lines', () => {
    check('PING\r\n\r\n\nset  a   b\nGET a\r\n', { commands: [['PING'], ['set', 'a', 'b'], ['GET', 'a']] });
  });

  it('applies double-quote escapes in inline commands', () => {
    check('SET "a b" "x\\n\\r\\t\\b\\a\\\\\\"\\x41\\x4a"\r\n', {
      commands: [['SET', 'a b', 'x\n\r\t\b\x07\\"AJ']],
    });
  });

  it('applies single-quote rules in inline commands (only \\\' is an escape)', () => {
    check("SET 'it\\'s' 'a\\nb'\r\n", { commands: [['SET', "it's", 'a\\nb']] });
  });

  it('joins a quoted part that starts mid-token, as sdssplitargs does', () => {
    check('SET a"b c" d\r\n', { commands: [['SET', 'ab c', 'd']] });
  });

  it('mixes inline and multibulk commands on one connection', () => {
    check(Buffer.concat([Buffer.from('PING\r\n'), multibulk('ECHO', 'hi'), Buffer.from('PING x\r\n')]), {
      commands: [['PING'], ['ECHO', 'hi'], ['PING', 'x']],
    });
  });

  it('accepts a multibulk count of exactly 1024*1024 and waits for its elements', () => {
    check('*1048576\r\n$4\r\nPING\r\n', { commands: [] });
  });
});

describe('resp decoder: Redis 7 protocol errors', () => {
  it('rejects unbalanced double quotes', () => {
    check('SET "abc\r\n', { commands: [], error: 'ERR Protocol error: unbalanced quotes in request' });
  });

  it('rejects unbalanced single quotes', () => {
    check("SET 'abc\r\n", { commands: [], error: 'ERR Protocol error: unbalanced quotes in request' });
  });

  it('rejects a closing quote followed by a non-space', () => {
    check('SET "a"b\r\n', { commands: [], error: 'ERR Protocol error: unbalanced quotes in request' });
  });

  it('rejects a non-numeric multibulk count', () => {
    check('*abc\r\n', { commands: [], error: 'ERR Protocol error: invalid multibulk length' });
  });

  it('rejects a multibulk count above 1024*1024', () => {
    check('*1048577\r\n', { commands: [], error: 'ERR Protocol error: invalid multibulk length' });
    check('*20000000\r\n', { commands: [], error: 'ERR Protocol error: invalid multibulk length' });
    check('*99999999999999999999999\r\n', { commands: [], error: 'ERR Protocol error: invalid multibulk length' });
  });

  it('rejects counts with leading zeros, plus signs or spaces (string2ll)', () => {
    for (const bad of ['*01\r\n', '*+1\r\n', '* 1\r\n', '*-0\r\n', '*\r\n']) {
      check(bad, { commands: [], error: 'ERR Protocol error: invalid multibulk length' });
    }
  });

  it('rejects a negative bulk length', () => {
    check('*1\r\n$-1\r\n', { commands: [], error: 'ERR Protocol error: invalid bulk length' });
  });

  it('rejects a non-numeric bulk length', () => {
    check('*1\r\n$x\r\n', { commands: [], error: 'ERR Protocol error: invalid bulk length' });
  });

  it('rejects a bulk longer than proto-max-bulk-len', () => {
    check('*1\r\n$11\r\n', { commands: [], error: 'ERR Protocol error: invalid bulk length' }, { protoMaxBulkLen: 10 });
    check('*1\r\n$10\r\n0123456789\r\n', { commands: [['0123456789']] }, { protoMaxBulkLen: 10 });
  });

  it("reports the byte found where '$' was expected", () => {
    check('*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n', { commands: [], error: "ERR Protocol error: expected '$', got 'f'" });
  });

  it('rejects inline requests over 64 KB without a newline', () => {
    check('a'.repeat(64 * 1024 + 1), { commands: [], error: 'ERR Protocol error: too big inline request' });
    check('a'.repeat(64 * 1024), { commands: [] });
  });

  it('rejects multibulk and bulk count lines over 64 KB', () => {
    check('*' + '1'.repeat(64 * 1024 + 1), { commands: [], error: 'ERR Protocol error: too big mbulk count string' });
    check('*1\r\n$' + '1'.repeat(64 * 1024 + 1), { commands: [], error: 'ERR Protocol error: too big bulk count string' });
  });

  it('answers commands before a protocol error, then fails', () => {
    check(Buffer.concat([multibulk('PING'), Buffer.from('*x\r\n'), multibulk('PING')]), {
      commands: [['PING']],
      error: 'ERR Protocol error: invalid multibulk length',
    });
  });

  it('applies the unauthenticated limits only while auth is required', () => {
    const eleven = multibulk(...Array.from({ length: 11 }, () => 'a'));
    check(eleven, { commands: [], error: 'ERR Protocol error: unauthenticated multibulk length' }, { authRequired: true });
    check(eleven, { commands: [Array.from({ length: 11 }, () => 'a')] }, { authRequired: false });
    const big = multibulk('AUTH', 'x'.repeat(16385));
    check(big, { commands: [], error: 'ERR Protocol error: unauthenticated bulk length' }, { authRequired: true });
  });
});

describe('resp decoder: memory and robustness', () => {
  it('does not allocate from an announced bulk length', () => {
    const d = new RespDecoder({ protoMaxBulkLen: MAX_BULK });
    d.feed(Buffer.from('*2\r\n$3\r\nSET\r\n$536870000\r\n'));
    assert.equal(d.next(), undefined);
    d.feed(Buffer.from('abcdef'));
    assert.equal(d.next(), undefined);
    assert.ok(d.capacityBytes < 64 * 1024, `capacity ${d.capacityBytes}`);
  });

  it('grows its buffer only as bytes arrive when a large bulk comes in pieces', () => {
    const value = Buffer.alloc(1024 * 1024, 7);
    const input = multibulk('SET', 'k', value);
    const d = new RespDecoder({ protoMaxBulkLen: MAX_BULK });
    let got: Buffer[] | undefined;
    let received = 0;
    for (let i = 0; i < input.length; i += 16 * 1024) {
      const piece = input.subarray(i, i + 16 * 1024);
      received += piece.length;
      d.feed(piece);
      assert.ok(d.capacityBytes <= 2 * received + 4096);
      got = d.next() ?? got;
    }
    assert.ok(got !== undefined);
    assert.equal(got[2]?.equals(value), true);
  });

  it('lets go of a big buffer once the big argument that needed it is consumed', () => {
    const value = Buffer.alloc(4 * 1024 * 1024, 7);
    const input = Buffer.concat([multibulk('SET', 'k', value), Buffer.from('*1\r\n$4\r\nPI')]);
    const d = new RespDecoder({ protoMaxBulkLen: MAX_BULK });
    for (let i = 0; i < input.length; i += 64 * 1024) d.feed(input.subarray(i, i + 64 * 1024));
    assert.equal(d.next()?.[2]?.length, value.length);
    assert.equal(d.next(), undefined); // PING still incomplete
    d.feed(Buffer.from('NG'));
    assert.ok(d.capacityBytes <= 64 * 1024, `still holding ${d.capacityBytes} bytes`);
    d.feed(Buffer.from('\r\n'));
    assert.deepEqual(d.next()?.map(String), ['PING']);
  });

  it('decodes random commands identically in any split (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (cmds, cuts) => {
          const input = Buffer.concat(cmds.map((c) => multibulk(...c.map((u) => Buffer.from(u)))));
          const expected = cmds.map((c) => c.map((u) => Buffer.from(u).toString('latin1')));
          assert.deepEqual(decodeChunks(splitAt(input, cuts)), { commands: expected });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('survives random bytes: only protocol errors, no hang, bounded buffer (fuzz)', () => {
    const alphabet = fc.constantFrom(...'*$\r\n0123456789-ab "\'\\x'.split('').map((c) => c.charCodeAt(0)));
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.array(alphabet, { maxLength: 300 }).map((a) => Uint8Array.from(a))),
        fc.array(fc.nat(), { maxLength: 6 }),
        (bytes, cuts) => {
          const input = Buffer.from(bytes);
          const d = new RespDecoder({ protoMaxBulkLen: 1024 });
          let steps = 0;
          for (const chunk of splitAt(input, cuts)) {
            d.feed(chunk);
            for (;;) {
              steps++;
              assert.ok(steps < 10_000, 'decoder looped');
              let args: Buffer[] | undefined;
              try {
                args = d.next();
              } catch (e) {
                assert.ok(e instanceof RespProtocolError);
                assert.match(e.message, /^Protocol error: /);
                return;
              }
              if (args === undefined) break;
              assert.ok(args.length > 0);
            }
            assert.ok(d.capacityBytes <= 2 * input.length + 4096);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
