/**
 * String commands: replies and error texts pinned to Redis 7.0.15's, plus our own decisions
 * (decimal INCRBYFLOAT, value limit from maxValueBytes).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OK, err, makeHarness } from './commands-harness.js';

describe('strings: GET/SET family', () => {
  it('SET then GET round-trips binary values, GET of a missing key is nil', async () => {
    const h = makeHarness();
    const bin = Buffer.from([0, 255, 13, 10, 128]);
    assert.deepEqual(await h.run('SET', 'k', bin), OK);
    assert.equal(await h.run('GET', 'k'), bin.toString('latin1'));
    assert.equal(await h.run('GET', 'missing'), null);
  });

  it('SET NX/XX/GET combinations reply like Redis 7', async () => {
    const h = makeHarness();
    assert.equal(await h.run('SET', 'k', 'v', 'XX'), null);
    assert.deepEqual(await h.run('SET', 'k', 'v', 'NX'), OK);
    assert.equal(await h.run('SET', 'k', 'w', 'NX'), null);
    assert.equal(await h.run('SET', 'k', 'w', 'NX', 'GET'), 'v');
    assert.equal(await h.run('GET', 'k'), 'v');
    assert.equal(await h.run('SET', 'k', 'x', 'XX', 'GET'), 'v');
    assert.equal(await h.run('SET', 'new', 'x', 'GET'), null);
    assert.equal(await h.run('GET', 'new'), 'x');
  });

  it('SET rejects conflicting or malformed options with a syntax error', async () => {
    const h = makeHarness();
    for (const argv of [['NX', 'XX'], ['EX', '10', 'PX', '100'], ['EX'], ['KEEPTTL', 'EX', '1'], ['PERSIST'], ['bogus']]) {
      assert.deepEqual(await h.run('SET', 'k', 'v', ...argv), err('ERR syntax error'), argv.join(' '));
    }
  });

  it('SET EX validates the time: non-integers, non-positive and overflowing values', async () => {
    const h = makeHarness();
    assert.deepEqual(await h.run('SET', 'k', 'v', 'EX', 'abc'), err('ERR value is not an integer or out of range'));
    assert.deepEqual(await h.run('SET', 'k', 'v', 'EX', '0'), err("ERR invalid expire time in 'set' command"));
    assert.deepEqual(await h.run('SET', 'k', 'v', 'EX', '-1'), err("ERR invalid expire time in 'set' command"));
    assert.deepEqual(await h.run('SET', 'k', 'v', 'EX', '10000000000000000'), err("ERR invalid expire time in 'set' command"));
    assert.deepEqual(await h.run('SETEX', 'k', '0', 'v'), err("ERR invalid expire time in 'setex' command"));
    assert.deepEqual(await h.run('PSETEX', 'k', '-5', 'v'), err("ERR invalid expire time in 'psetex' command"));
  });

  it('SET with EX/PX/EXAT/PXAT sets the expiry; KEEPTTL keeps it; plain SET clears it', async () => {
    const h = makeHarness();
    await h.run('SET', 'k', 'v', 'EX', '100');
    assert.equal(await h.run('PTTL', 'k'), 100_000);
    await h.run('SET', 'k', 'v2', 'KEEPTTL');
    assert.equal(await h.run('PTTL', 'k'), 100_000);
    await h.run('SET', 'k', 'v3');
    assert.equal(await h.run('TTL', 'k'), -1);
    await h.run('SET', 'k', 'v', 'PXAT', String(h.clock.now + 5000));
    assert.equal(await h.run('PTTL', 'k'), 5000);
    await h.run('SET', 'k', 'v', 'EXAT', String(Math.floor(h.clock.now / 1000) + 7));
    assert.equal(await h.run('TTL', 'k'), 7);
    h.clock.now += 7001;
    assert.equal(await h.run('GET', 'k'), null);
  });

  it('SET with an absolute time in the past leaves no key', async () => {
    const h = makeHarness();
    assert.deepEqual(await h.run('SET', 'k', 'v', 'PXAT', '1'), OK);
    assert.equal(await h.run('EXISTS', 'k'), 0);
  });

  it('SETNX, GETSET, GETDEL', async () => {
    const h = makeHarness();
    assert.equal(await h.run('SETNX', 'k', 'a'), 1);
    assert.equal(await h.run('SETNX', 'k', 'b'), 0);
    await h.run('EXPIRE', 'k', '100');
    assert.equal(await h.run('GETSET', 'k', 'c'), 'a');
    assert.equal(await h.run('TTL', 'k'), -1, 'GETSET clears the TTL');
    assert.equal(await h.run('GETDEL', 'k'), 'c');
    assert.equal(await h.run('GETDEL', 'k'), null);
    assert.equal(await h.run('GETSET', 'k', 'd'), null);
  });

  it('GETEX sets, persists or deletes the expiry and rejects bad options', async () => {
    const h = makeHarness();
    await h.run('SET', 'k', 'v');
    assert.equal(await h.run('GETEX', 'k', 'EX', '10'), 'v');
    assert.equal(await h.run('TTL', 'k'), 10);
    assert.equal(await h.run('GETEX', 'k', 'PERSIST'), 'v');
    assert.equal(await h.run('TTL', 'k'), -1);
    assert.equal(await h.run('GETEX', 'k', 'PXAT', String(h.clock.now - 1)), 'v');
    assert.equal(await h.run('EXISTS', 'k'), 0);
    assert.deepEqual(await h.run('GETEX', 'k', 'bogus'), err('ERR syntax error'));
    // As in Redis, the time is only validated when the key exists.
    assert.equal(await h.run('GETEX', 'k', 'EX', '10000000000000000'), null);
    await h.run('SET', 'k', 'v');
    assert.deepEqual(await h.run('GETEX', 'k', 'EX', '10000000000000000'), err("ERR invalid expire time in 'getex' command"));
    assert.deepEqual(await h.run('GETEX', 'k', 'NX'), err('ERR syntax error'));
    assert.equal(await h.run('GETEX', 'nokey', 'EX', '5'), null);
  });

  it('MGET, MSET, MSETNX (all or nothing, last duplicate wins)', async () => {
    const h = makeHarness();
    assert.deepEqual(await h.run('MSET', 'a', '1', 'b', '2', 'a', '3'), OK);
    assert.deepEqual(await h.run('MGET', 'a', 'b', 'c'), ['3', '2', null]);
    assert.deepEqual(await h.run('MSET', 'a', '1', 'b'), err("ERR wrong number of arguments for 'mset' command"));
    assert.equal(await h.run('MSETNX', 'c', '1', 'a', '9'), 0);
    assert.equal(await h.run('EXISTS', 'c'), 0);
    assert.equal(await h.run('MSETNX', 'c', '1', 'd', '2', 'c', '5'), 1);
    assert.deepEqual(await h.run('MGET', 'c', 'd'), ['5', '2']);
  });

  it('STRLEN, APPEND keep the TTL and refuse results over maxValueBytes', async () => {
    const h = makeHarness({ maxValueBytes: 10 });
    assert.equal(await h.run('STRLEN', 'k'), 0);
    assert.equal(await h.run('APPEND', 'k', 'hello'), 5);
    await h.run('EXPIRE', 'k', '50');
    assert.equal(await h.run('APPEND', 'k', 'world'), 10);
    assert.equal(await h.run('TTL', 'k'), 50);
    assert.equal(await h.run('STRLEN', 'k'), 10);
    assert.deepEqual(await h.run('APPEND', 'k', '!'), err('ERR string exceeds maximum allowed size (proto-max-bulk-len)'));
    assert.deepEqual(await h.run('SET', 'x', '12345678901'), err('ERR string exceeds maximum allowed size (proto-max-bulk-len)'));
  });
});

describe('strings: counters', () => {
  it('INCR/DECR/INCRBY/DECRBY on missing, integer and 64-bit values', async () => {
    const h = makeHarness();
    assert.equal(await h.run('INCR', 'n'), 1);
    assert.equal(await h.run('INCRBY', 'n', '41'), 42);
    assert.equal(await h.run('DECR', 'n'), 41);
    assert.equal(await h.run('DECRBY', 'n', '50'), -9);
    await h.run('SET', 'n', '9223372036854775806');
    assert.equal(await h.run('INCR', 'n'), 9223372036854775807n);
    assert.deepEqual(await h.run('INCR', 'n'), err('ERR increment or decrement would overflow'));
    await h.run('SET', 'n', '-9223372036854775808');
    assert.deepEqual(await h.run('DECR', 'n'), err('ERR increment or decrement would overflow'));
    assert.deepEqual(await h.run('DECRBY', 'x', '-9223372036854775808'), err('ERR decrement would overflow'));
  });

  it('INCR rejects values string2ll rejects: spaces, plus sign, leading zeros, -0, overflow', async () => {
    const h = makeHarness();
    for (const v of [' 1', '1 ', '+1', '01', '-0', '1.0', '', '9223372036854775808', 'abc']) {
      await h.run('SET', 'n', v);
      assert.deepEqual(await h.run('INCR', 'n'), err('ERR value is not an integer or out of range'), JSON.stringify(v));
    }
    assert.deepEqual(await h.run('INCRBY', 'm', '1x'), err('ERR value is not an integer or out of range'));
  });

  it('INCR keeps the TTL', async () => {
    const h = makeHarness();
    await h.run('SET', 'n', '1', 'EX', '100');
    await h.run('INCR', 'n');
    assert.equal(await h.run('TTL', 'n'), 100);
  });

  it('INCRBYFLOAT adds in decimal and prints like %.17Lf trimmed', async () => {
    const h = makeHarness();
    assert.equal(await h.run('INCRBYFLOAT', 'f', '10.5'), '10.5');
    assert.equal(await h.run('INCRBYFLOAT', 'f', '0.1'), '10.6');
    await h.run('SET', 'g', '0.1');
    assert.equal(await h.run('INCRBYFLOAT', 'g', '0.2'), '0.3');
    assert.equal(await h.run('INCRBYFLOAT', 'g', '-0.3'), '0');
    assert.equal(await h.run('INCRBYFLOAT', 'h', '5.0e3'), '5000');
    assert.equal(await h.run('INCRBYFLOAT', 'h', '-5000'), '0');
    assert.equal(await h.run('INCRBYFLOAT', 'i', '1e-18'), '0');
    assert.equal(await h.run('INCRBYFLOAT', 'j', '17179869184'), '17179869184');
  });

  it('INCRBYFLOAT error texts', async () => {
    const h = makeHarness();
    await h.run('SET', 'f', ' 11');
    assert.deepEqual(await h.run('INCRBYFLOAT', 'f', '1'), err('ERR value is not a valid float'));
    await h.run('SET', 'f', '1');
    assert.deepEqual(await h.run('INCRBYFLOAT', 'f', 'x'), err('ERR value is not a valid float'));
    assert.deepEqual(await h.run('INCRBYFLOAT', 'f', '+inf'), err('ERR increment would produce NaN or Infinity'));
    assert.deepEqual(await h.run('INCRBYFLOAT', 'f', 'nan'), err('ERR value is not a valid float'));
    assert.deepEqual(await h.run('INCRBYFLOAT', 'f', '1e5000'), err('ERR value is not a valid float'));
  });
});

describe('strings: ranges and bits', () => {
  it('GETRANGE follows Redis index arithmetic', async () => {
    const h = makeHarness();
    await h.run('SET', 'k', 'Hello World');
    assert.equal(await h.run('GETRANGE', 'k', '0', '3'), 'Hell');
    assert.equal(await h.run('GETRANGE', 'k', '-4', '-1'), 'orld');
    assert.equal(await h.run('GETRANGE', 'k', '5', '3'), '');
    assert.equal(await h.run('GETRANGE', 'k', '-1', '-5'), '');
    assert.equal(await h.run('GETRANGE', 'k', '-5000', '10000'), 'Hello World');
    assert.equal(await h.run('GETRANGE', 'k', '0', '4294967297'), 'Hello World');
    assert.equal(await h.run('SUBSTR', 'k', '6', '-1'), 'World');
    assert.equal(await h.run('GETRANGE', 'nokey', '0', '-1'), '');
    assert.deepEqual(await h.run('GETRANGE', 'k', 'a', '1'), err('ERR value is not an integer or out of range'));
  });

  it('SETRANGE pads with zero bytes, refuses negative and oversized offsets', async () => {
    const h = makeHarness();
    assert.equal(await h.run('SETRANGE', 'k', '1', 'foo'), 4);
    assert.equal(await h.run('GET', 'k'), '\0foo');
    assert.equal(await h.run('SETRANGE', 'e', '0', ''), 0);
    assert.equal(await h.run('EXISTS', 'e'), 0);
    assert.equal(await h.run('SETRANGE', 'k', '0', ''), 4);
    assert.deepEqual(await h.run('SETRANGE', 'k', '-1', 'x'), err('ERR offset is out of range'));
    assert.deepEqual(await h.run('SETRANGE', 'k', String(512 * 1024 * 1024 - 4), 'world'), err('ERR string exceeds maximum allowed size (proto-max-bulk-len)'));
    assert.deepEqual(await h.run('SETRANGE', 'k', '9223372036854775807', 'A'), err('ERR string exceeds maximum allowed size (proto-max-bulk-len)'));
  });

  it('SETBIT/GETBIT read and write MSB-first bits and validate arguments', async () => {
    const h = makeHarness();
    assert.equal(await h.run('SETBIT', 'b', '1', '1'), 0);
    assert.equal(await h.run('GET', 'b'), '\x40');
    assert.equal(await h.run('SETBIT', 'b', '1', '0'), 1);
    assert.equal(await h.run('GETBIT', 'b', '1'), 0);
    await h.run('SET', 'b', '1');
    assert.equal(await h.run('GETBIT', 'b', '2'), 1);
    assert.equal(await h.run('GETBIT', 'b', '10000'), 0);
    assert.deepEqual(await h.run('SETBIT', 'b', String(4 * 1024 * 1024 * 1024), '1'), err('ERR bit offset is not an integer or out of range'));
    assert.deepEqual(await h.run('SETBIT', 'b', '-1', '1'), err('ERR bit offset is not an integer or out of range'));
    assert.deepEqual(await h.run('SETBIT', 'b', '0', '2'), err('ERR bit is not an integer or out of range'));
    assert.deepEqual(await h.run('SETBIT', 'b', '0', 'x'), err('ERR bit is not an integer or out of range'));
  });

  it('BITCOUNT counts whole strings, byte ranges and bit ranges', async () => {
    const h = makeHarness();
    await h.run('SET', 'k', 'foobar');
    assert.equal(await h.run('BITCOUNT', 'k'), 26);
    assert.equal(await h.run('BITCOUNT', 'k', '0', '0'), 4);
    assert.equal(await h.run('BITCOUNT', 'k', '1', '1'), 6);
    assert.equal(await h.run('BITCOUNT', 'k', '5', '30', 'BIT'), 17);
    assert.equal(await h.run('BITCOUNT', 'nokey'), 0);
    assert.deepEqual(await h.run('BITCOUNT', 'k', '0', '1', 'BOTH'), err('ERR syntax error'));
  });

  it('LCS returns the string, its length, and IDX ranges', async () => {
    const h = makeHarness();
    await h.run('MSET', 'a', 'ohmytext', 'b', 'mynewtext');
    assert.equal(await h.run('LCS', 'a', 'b'), 'mytext');
    assert.equal(await h.run('LCS', 'a', 'b', 'LEN'), 6);
    assert.deepEqual(await h.run('LCS', 'a', 'b', 'IDX', 'MINMATCHLEN', '4', 'WITHMATCHLEN'), { map: ['matches', [[[4, 7], [5, 8], 4]], 'len', 6] });
    assert.deepEqual(await h.run('LCS', 'a', 'b', 'IDX', 'LEN'), err('ERR If you want both the length and indexes, please just use IDX.'));
  });
});

describe('strings: BITPOS and BITOP', () => {
  it('BITPOS finds set and clear bits in byte and bit ranges', async () => {
    const h = makeHarness();
    await h.run('SET', 'k', Buffer.from([0xff, 0xf0, 0x00]));
    assert.equal(await h.run('BITPOS', 'k', '0'), 12);
    assert.equal(await h.run('BITPOS', 'k', '1', '2'), -1);
    assert.equal(await h.run('BITPOS', 'k', '1', '1', '-1'), 8);
    assert.equal(await h.run('BITPOS', 'k', '0', '0', '0'), -1, 'an explicit end does not zero-pad');
    assert.equal(await h.run('BITPOS', 'k', '1', '7', '15', 'BIT'), 7);
    assert.equal(await h.run('BITPOS', 'nokey', '0'), 0);
    assert.equal(await h.run('BITPOS', 'nokey', '1'), -1);
    assert.deepEqual(await h.run('BITPOS', 'k', '2'), err('ERR The bit argument must be 1 or 0.'));
    assert.deepEqual(await h.run('BITPOS', 'k', '1', '0', '1', 'NIBBLE'), err('ERR syntax error'));
  });

  it('BITOP AND/OR/XOR zero-pad shorter inputs, NOT takes one source, empty result deletes', async () => {
    const h = makeHarness();
    await h.run('SET', 'a', Buffer.from([0xf0, 0x0f]));
    await h.run('SET', 'b', Buffer.from([0xff]));
    assert.equal(await h.run('BITOP', 'AND', 'd', 'a', 'b'), 2);
    assert.equal(await h.run('GET', 'd'), '\xf0\x00');
    assert.equal(await h.run('BITOP', 'OR', 'd', 'a', 'b', 'missing'), 2);
    assert.equal(await h.run('GET', 'd'), '\xff\x0f');
    assert.equal(await h.run('BITOP', 'XOR', 'd', 'a', 'b'), 2);
    assert.equal(await h.run('GET', 'd'), '\x0f\x0f');
    assert.equal(await h.run('BITOP', 'NOT', 'a', 'a'), 2);
    assert.equal(await h.run('GET', 'a'), '\x0f\xf0');
    assert.equal(await h.run('BITOP', 'AND', 'd', 'missing1', 'missing2'), 0);
    assert.equal(await h.run('EXISTS', 'd'), 0);
    assert.deepEqual(await h.run('BITOP', 'NOT', 'd', 'a', 'b'), err('ERR BITOP NOT must be called with a single source key.'));
    assert.deepEqual(await h.run('BITOP', 'NAND', 'd', 'a'), err('ERR syntax error'));
  });
});

describe('strings: BITFIELD', () => {
  it('GET/SET/INCRBY with WRAP, SAT and FAIL overflow, #n offsets, BITFIELD_RO', async () => {
    const h = makeHarness();
    assert.deepEqual(await h.run('BITFIELD', 'k', 'SET', 'i8', '0', '-100', 'GET', 'i8', '0', 'GET', 'u8', '0'), [0, -100, 156]);
    assert.deepEqual(await h.run('BITFIELD', 'k', 'INCRBY', 'i8', '0', '-100'), [56], 'wraps by default');
    assert.deepEqual(await h.run('BITFIELD', 'k', 'OVERFLOW', 'SAT', 'INCRBY', 'u4', '#1', '100'), [15]);
    assert.deepEqual(await h.run('BITFIELD', 'k', 'OVERFLOW', 'FAIL', 'INCRBY', 'u4', '#1', '1', 'GET', 'u4', '#1'), [null, 15]);
    assert.deepEqual(await h.run('BITFIELD', 'k64', 'SET', 'i64', '0', '-1', 'GET', 'i64', '0'), [0, -1]);
    assert.deepEqual(await h.run('BITFIELD', 'k64', 'GET', 'u63', '0'), [9223372036854775807n]);
    assert.deepEqual(await h.run('BITFIELD_RO', 'k64', 'GET', 'u8', '0'), [255]);
    assert.deepEqual(await h.run('BITFIELD_RO', 'k', 'SET', 'u8', '0', '1'), err('ERR BITFIELD_RO only supports the GET subcommand'));
    assert.deepEqual(await h.run('BITFIELD', 'k', 'GET', 'u64', '0'), err('ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.'));
    assert.deepEqual(await h.run('BITFIELD', 'k', 'OVERFLOW', 'NOPE'), err('ERR Invalid OVERFLOW type specified'));
    assert.deepEqual(await h.run('BITFIELD', 'k', 'GET', 'u8'), err('ERR syntax error'));
    assert.deepEqual(await h.run('BITFIELD', 'nokey', 'GET', 'u8', '0'), [0]);
    assert.equal(await h.run('EXISTS', 'nokey'), 0, 'GET-only BITFIELD does not create the key');
  });
});
