/**
 * Pipelined commands over an asynchronous store: single-key commands of one connection run
 * concurrently (their store calls overlap and complete out of order), yet every reply leaves in
 * request order and equals what sequential execution gives; other commands wait for the window.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../../src/config/load.js';
import type { KvStore } from '../../src/data/kv-store.js';
import { LocalKvStore } from '../../src/data/local-kv-store.js';
import { defaultCommandTable } from '../../src/server/commands/registry.js';
import { RespServer } from '../../src/server/resp-server.js';
import { MemoryEngine } from '../../src/storage/memory/memory-engine.js';
import { RawClient, cmd } from './resp-server-harness.js';

/** Applies every call at once (in call order) but delivers its result after a random delay. */
function laggyStore(inner: KvStore, seed: number): { store: KvStore; maxInFlight: () => number } {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  let inFlight = 0;
  let max = 0;
  const delayed = <T>(v: T | Promise<T>): Promise<T> => {
    inFlight++;
    max = Math.max(max, inFlight);
    return Promise.resolve(v).then((r) => new Promise<T>((res) => setTimeout(() => {
      inFlight--;
      res(r);
    }, Math.floor(rand() * 6))));
  };
  const store: KvStore = new Proxy(inner, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      if (prop === 'stats') return (v as (...a: unknown[]) => unknown).bind(target);
      if (prop === 'withConsistency') return () => store; // one view: the lag must apply to the connection's store
      return (...a: unknown[]) => delayed((v as (...b: unknown[]) => unknown).apply(target, a));
    },
  });
  return { store, maxInFlight: () => max };
}

async function startLaggy(seed: number) {
  const config = defaultConfig({ respPort: 0, engine: 'memory', host: '127.0.0.1' });
  const engine = new MemoryEngine();
  await engine.open();
  const laggy = laggyStore(new LocalKvStore({ engine, config }), seed);
  const server = new RespServer({ config, store: laggy.store, commands: defaultCommandTable() });
  const { port } = await server.listen();
  return { server, port, maxInFlight: laggy.maxInFlight };
}

const bulk = (v: string | undefined): string => (v === undefined ? '$-1\r\n' : `$${v.length}\r\n${v}\r\n`);

test('pipelined single-key commands overlap in the store yet answer in request order with sequential results', async () => {
  for (const seed of [1, 2, 3]) {
    const { server, port, maxInFlight } = await startLaggy(seed);
    const c = await RawClient.connect(port);
    try {
      const model = new Map<string, string>();
      let out = '';
      let expected = '';
      for (let i = 0; i < 300; i++) {
        const k = `k${(i * 7 + seed) % 5}`;
        switch (i % 6) {
          case 0: case 3:
            out += cmd('SET', k, `v${i}`);
            model.set(k, `v${i}`);
            expected += '+OK\r\n';
            break;
          case 1: case 4:
            out += cmd('GET', k);
            expected += bulk(model.get(k));
            break;
          case 2: {
            const ck = `c${i % 4}`;
            const n = Number(model.get(ck) ?? '0') + 1;
            model.set(ck, String(n));
            out += cmd('INCR', ck);
            expected += `:${n}\r\n`;
            break;
          }
          case 5:
            // Barriers in the middle of the stream: they wait for every earlier reply.
            if (i % 30 === 5) {
              out += cmd('MGET', 'k0', 'k1');
              expected += `*2\r\n${bulk(model.get('k0'))}${bulk(model.get('k1'))}`;
            } else {
              out += cmd('EXISTS', k);
              expected += `:${model.has(k) ? 1 : 0}\r\n`;
            }
            break;
        }
      }
      c.send(out);
      const got = await c.read(Buffer.byteLength(expected, 'latin1'), 10_000);
      assert.equal(got, expected, `seed ${seed}: replies differ from sequential execution`);
      assert.ok(maxInFlight() > 1, `seed ${seed}: commands never overlapped in the store (max in flight ${maxInFlight()})`);
    } finally {
      c.socket.destroy();
      await server.close(1000);
    }
  }
});

test('an error reply of an overlapped command keeps its place in the reply stream', async () => {
  const { server, port } = await startLaggy(9);
  const c = await RawClient.connect(port);
  try {
    c.send(cmd('SET', 'a', 'x') + cmd('INCR', 'b') + cmd('INCR', 'a') + cmd('GET', 'a') + cmd('SET', 'a', 'y', 'BADOPT') + cmd('GET', 'a'));
    const expected = '+OK\r\n:1\r\n-ERR value is not an integer or out of range\r\n$1\r\nx\r\n-ERR syntax error\r\n$1\r\nx\r\n';
    assert.equal(await c.read(Buffer.byteLength(expected), 5000), expected);
  } finally {
    c.socket.destroy();
    await server.close(1000);
  }
});
