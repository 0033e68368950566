/**
 * Differential test against the real thing: the same seeded random sequence of string, TTL and
 * keyspace commands is sent to a Debian redis-server 7.0.15 and to a ringkv RespServer (memory
 * engine, the real command table), and every reply, error text included, must be identical.
 * OBJECT ENCODING is left out: ringkv derives it from the value, Redis from the value's history.
 * TTL replies are compared as "has a TTL" / -1 / -2 because the two servers' clocks differ by
 * the request latency; expiries are long enough never to fire during the run.
 * More seeds: DIFF_SEEDS=4,5,6 node --import tsx --test test/unit/commands-differential.test.ts
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { configSchema } from '../../src/config/schema.js';
import { LocalKvStore } from '../../src/data/local-kv-store.js';
import { defaultCommandTable } from '../../src/server/commands/registry.js';
import { RespServer } from '../../src/server/resp-server.js';
import { MemoryEngine } from '../../src/storage/memory/memory-engine.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

type Arg = string | Buffer;

function generator(rand: () => number): () => Arg[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const key = (): string => pick(['a', 'b', 'c', 'n', 'f', 'k:1', 'k:2', 'k:10', 'x*y', '']);
  const num = (): string => pick(['0', '1', '-1', '42', '9223372036854775807', '-9223372036854775808', '007', '+1', ' 1', '1.5', 'abc', '', '-0', String(int(-1000, 1000))]);
  const value = (): Arg => pick<Arg>(['', 'v', 'hello', '12', '-7', '3.25', '1e3', 'x'.repeat(50), Buffer.from([0, 255, 10]), String(int(-99, 99))]);
  const float = (): string => pick(['0.1', '-0.1', '1.5', '2', '1e2', '-1e-2', '.5', '5.', 'inf', 'nan', '1e5000', 'x', String(int(-500, 500) / 8)]);
  const seconds = (): string => pick(['1000', '5000', '-1', '0', 'x', '9223372036854776', String(int(2000, 9000))]);
  const pattern = (): string => pick(['*', 'k:*', 'k:?', '[ab]', '[^a]', '[a-c]', 'x\\*y', '*1*', '?', 'k:[0-9]*']);
  const gens: (() => Arg[])[] = [
    () => ['SET', key(), value()],
    () => ['SET', key(), value(), ...pick([['NX'], ['XX'], ['GET'], ['NX', 'GET'], ['XX', 'GET'], ['KEEPTTL'], ['EX', seconds()], ['PX', seconds()], ['EX', seconds(), 'NX'], ['EX'], ['NX', 'XX'], ['KEEPTTL', 'EX', '10'], ['bogus']])],
    () => ['GET', key()],
    () => ['SETNX', key(), value()],
    () => ['SETEX', key(), seconds(), value()],
    () => ['GETSET', key(), value()],
    () => ['GETDEL', key()],
    () => ['GETEX', key(), ...pick([[], ['PERSIST'], ['EX', seconds()], ['PX', seconds()], ['NX'], ['EX', '5', 'PX', '5']])],
    () => ['MSET', key(), value(), key(), value()],
    () => ['MSETNX', key(), value(), key(), value()],
    () => ['MGET', key(), key(), key()],
    () => ['STRLEN', key()],
    () => ['APPEND', key(), value()],
    () => ['INCR', key()],
    () => ['DECR', key()],
    () => ['INCRBY', key(), num()],
    () => ['DECRBY', key(), num()],
    () => ['INCRBYFLOAT', key(), float()],
    () => ['GETRANGE', key(), num(), num()],
    () => ['SETRANGE', key(), pick(['0', '1', '3', '-1', 'x', '20']), value()],
    () => ['SETBIT', key(), pick(['0', '7', '9', '100', '-1', 'x']), pick(['0', '1', '2'])],
    () => ['GETBIT', key(), pick(['0', '7', '9', '100', '-1'])],
    () => ['BITCOUNT', key(), ...pick([[], ['0', '-1'], ['1', '2'], ['-2', '-1', 'BIT'], ['0', '5', 'BYTE'], ['0', '1', 'bad']])],
    () => ['LCS', key(), key(), ...pick([[], ['LEN'], ['IDX'], ['IDX', 'WITHMATCHLEN'], ['IDX', 'MINMATCHLEN', '2']])],
    () => ['DEL', key(), key()],
    () => ['UNLINK', key()],
    () => ['EXISTS', key(), key(), key()],
    () => ['TOUCH', key(), key()],
    () => ['TYPE', key()],
    () => ['RENAME', key(), key()],
    () => ['RENAMENX', key(), key()],
    () => ['COPY', key(), key(), ...pick([[], ['REPLACE'], ['DB', '0'], ['DB', 'x'], ['bogus']])],
    () => ['EXPIRE', key(), seconds(), ...pick([[], ['NX'], ['XX'], ['GT'], ['LT'], ['NX', 'XX'], ['GT', 'LT'], ['XX', 'GT'], ['bogus']])],
    () => ['PEXPIRE', key(), seconds()],
    () => ['EXPIREAT', key(), pick(['1', '-5', String(Math.floor(Date.now() / 1000) + 10_000)])],
    () => ['PERSIST', key()],
    () => ['TTL', key()],
    () => ['PTTL', key()],
    () => ['EXPIRETIME', key()],
    () => ['KEYS', pattern()],
    () => ['SUBSTR', key(), num(), num()],
    () => ['PSETEX', key(), seconds(), value()],
    () => ['PEXPIREAT', key(), pick(['1', '-5', '9223372036854770000', String(Date.now() + 10_000_000)])],
    () => ['PEXPIRETIME', key()],
    () => ['SET', key(), value(), pick(['EXAT', 'PXAT']), pick(['1', '0', '-1', String(Math.floor(Date.now() / 1000) + 10_000), String(Date.now() + 10_000_000)])],
    () => ['GETEX', key(), pick(['EXAT', 'PXAT']), pick(['1', '0', String(Date.now() + 10_000_000)])],
    () => ['DEL', key(), key(), key(), key()],
    () => ['EXISTS', key()],
    () => ['SETRANGE', key(), pick(['536870912', '9223372036854775807', '-1']), pick(['', 'x'])],
    () => ['SETBIT', key(), pick(['4294967296', '9223372036854775807']), '1'],
    () => ['GETRANGE', key(), pick(['-9223372036854775808', '9223372036854775807']), pick(['-1', '9223372036854775807'])],
    () => ['INCRBY', key(), pick(['9223372036854775807', '-9223372036854775808'])],
    () => ['EXPIRE', key(), pick(['9223370399119966', '-9223372036854776', '10000000000000000'])],
    () => ['MSET', key(), value(), key()],
    () => ['SET', key()],
    () => ['BITPOS', key(), pick(['0', '1', '2', 'x']), ...pick([[], ['0'], ['1', '-1'], ['-2', '-1', 'BIT'], ['3', '20', 'BIT'], ['0', '2', 'BYTE'], ['0', '1', 'bad']])],
    () => ['BITFIELD', key(), ...pick([[], ['GET', 'u8', '0'], ['SET', 'i5', '#1', String(int(-40, 40))], ['INCRBY', 'u3', '2', String(int(-9, 9))],
      ['OVERFLOW', pick(['WRAP', 'SAT', 'FAIL']), 'INCRBY', pick(['i8', 'u7', 'i64', 'u63']), pick(['0', '5', '#3']), pick(['1', '-1', '200', '-200', '9223372036854775807'])],
      ['GET', 'u64', '0'], ['GET', 'i65', '0'], ['SET', 'x8', '0', '1'], ['GET', 'i8', '-1'], ['OVERFLOW', 'BAD'], ['GET', 'i8']])],
    () => ['BITFIELD_RO', key(), ...pick([['GET', 'i16', '3'], ['SET', 'u8', '0', '1'], []])],
    () => ['BITOP', pick(['AND', 'OR', 'XOR', 'NOT', 'NAND']), key(), key(), ...pick([[], [key()], [key(), key()]])],
  ];
  return () => pick(gens)();
}

/** Replies as comparable values; TTL-family replies reduced to their sign. */
function normalise(cmd: string, r: unknown): unknown {
  if (r instanceof Error) return { error: r.message };
  if (cmd === 'KEYS' && Array.isArray(r)) return (r as Buffer[]).map((b) => b.toString('latin1')).sort();
  if ((cmd === 'TTL' || cmd === 'PTTL' || cmd === 'EXPIRETIME' || cmd === 'PEXPIRETIME') && typeof r === 'number') return r >= 0 ? 'ttl' : r;
  if (Buffer.isBuffer(r)) return r.toString('latin1');
  if (Array.isArray(r)) return r.map((x) => normalise('', x));
  return r;
}

describe('differential: ringkv vs redis-server 7.0.15', () => {
  let redisProc: ChildProcess | undefined;
  let ringkv: RespServer | undefined;
  let a: Redis;
  let b: Redis;

  before(async () => {
    const redisPort = await freePort();
    redisProc = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
    const config = configSchema.parse({ engine: 'memory', respPort: 0, httpPort: 0 });
    const store = new LocalKvStore({ engine: new MemoryEngine(config), config });
    ringkv = new RespServer({ config, store, commands: defaultCommandTable() });
    const { port } = await ringkv.listen();
    a = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    b = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    a.on('error', () => undefined);
    // redis-server needs a moment to listen: retry the connection for up to 10 s.
    for (let i = 0; ; i++) {
      try {
        await a.connect();
        break;
      } catch (e) {
        if (i >= 100) throw e;
        a.disconnect();
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await b.connect();
  });

  after(async () => {
    a?.disconnect();
    b?.disconnect();
    await ringkv?.close(0);
    if (redisProc?.pid !== undefined) process.kill(redisProc.pid, 'SIGKILL');
  });

  for (const seed of (process.env['DIFF_SEEDS'] ?? '1,2,3').split(',').map(Number)) {
    it(`seed ${seed}: 1500 random commands give identical replies`, async () => {
      await a.flushall();
      await b.flushall();
      const next = generator(rng(seed));
      for (let i = 0; i < 1500; i++) {
        const [cmd, ...args] = next() as [string, ...Arg[]];
        const ra = await a.callBuffer(cmd, ...args).catch((e: unknown) => e);
        const rb = await b.callBuffer(cmd, ...args).catch((e: unknown) => e);
        const na = normalise(cmd, ra);
        const nb = normalise(cmd, rb);
        assert.deepEqual(nb, na, `step ${i}: ${cmd} ${args.map((x) => JSON.stringify(x.toString())).join(' ')}`);
      }
    });
  }

  it('INCRBYFLOAT: 2000 random increments print exactly what Redis long double arithmetic prints', async () => {
    await a.flushall();
    await b.flushall();
    const rand = rng(99);
    const decimal = (): string => {
      const sign = rand() < 0.3 ? '-' : '';
      const intDigits = String(Math.floor(rand() * 10 ** Math.floor(rand() * 12)));
      const frac = rand() < 0.7 ? '.' + String(Math.floor(rand() * 10 ** (1 + Math.floor(rand() * 12)))) : '';
      const exp = rand() < 0.15 ? `e${Math.floor(rand() * 40) - 20}` : '';
      return sign + intDigits + frac + exp;
    };
    for (let i = 0; i < 2000; i++) {
      const key = `f${i % 7}`;
      const args = rand() < 0.1 ? ['SET', key, decimal()] : ['INCRBYFLOAT', key, decimal()];
      const ra = await a.callBuffer(args[0] as string, ...args.slice(1)).catch((e: unknown) => e);
      const rb = await b.callBuffer(args[0] as string, ...args.slice(1)).catch((e: unknown) => e);
      assert.deepEqual(normalise('', rb), normalise('', ra), `step ${i}: ${args.join(' ')}`);
    }
  });
});
