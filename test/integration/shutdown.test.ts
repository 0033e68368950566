/**
 * Graceful shutdown of a real process: on SIGTERM it stops accepting, answers what it already
 * parsed, ends connections cleanly, closes the engine and exits 0; a client that never reads its
 * replies cannot hold it past shutdownTimeoutMs; a second signal forces exit 1 at once.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { killAll, startRingkv, stop, tempDir } from './cli-process.js';

after(killAll);

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * A client that asks for far more output than the socket buffers hold (64 x GET of a 1 MB
 * value) and never reads it: the server cannot finish flushing to it, so a graceful shutdown
 * has to wait for it until shutdownTimeoutMs.
 */
async function openNonReadingClient(port: number): Promise<Socket> {
  const s = await openSocket(port);
  s.on('error', () => undefined);
  s.pause();
  const value = 'x'.repeat(1024 * 1024);
  s.write(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${value.length}\r\n${value}\r\n`);
  s.write('*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n'.repeat(64));
  await sleep(300);
  return s;
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('shutdown', () => {
  it('shutdown: SIGTERM answers every parsed command, ends the connection cleanly and keeps the data', async () => {
    const dir = tempDir('ringkv-shutdown-');
    try {
      let node = await startRingkv(['--engine', 'rocksdb', '--durability', 'none', '--data-dir', dir.path]);
      const sock = await openSocket(node.respPort);
      let received = '';
      let endedCleanly = false;
      let socketError: Error | undefined;
      sock.on('data', (d: Buffer) => { received += d.toString('latin1'); });
      sock.on('error', (e) => { socketError = e; });
      const ended = new Promise<void>((resolve) => sock.once('end', () => { endedCleanly = true; sock.end(); resolve(); }));

      const n = 3000;
      let batch = '';
      for (let i = 0; i < n; i++) batch += `*3\r\n$3\r\nSET\r\n$${`sd:${i}`.length}\r\nsd:${i}\r\n$1\r\nv\r\n`;
      sock.write(batch);
      // Wait until the server is visibly working through the pipeline, then stop it.
      while (received.length === 0) await sleep(1);
      process.kill(node.pid, 'SIGTERM');
      await ended;
      const exit = await node.exited;
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.equal(socketError, undefined);
      assert.ok(endedCleanly, 'server ended the connection with FIN, not a reset');
      // Replies are a prefix of the requests: only whole +OK lines, no error, nothing torn.
      assert.match(received, /^(\+OK\r\n)*$/);
      const answered = received.length / 5;
      assert.ok(answered >= 1);

      node = await startRingkv(['--engine', 'rocksdb', '--durability', 'none', '--data-dir', dir.path]);
      const c = new Redis({ host: '127.0.0.1', port: node.respPort, lazyConnect: true, maxRetriesPerRequest: 1 });
      await c.connect();
      const keys = Array.from({ length: answered }, (_v, i) => `sd:${i}`);
      const values = keys.length > 0 ? await c.mget(...keys) : [];
      c.disconnect();
      assert.ok(values.every((v) => v === 'v'), 'every acknowledged SET is there after restart');
      assert.equal((await stop(node)).code, 0);
    } finally {
      dir.remove();
    }
  });

  it('shutdown: new connections are refused during shutdown and a client that never reads is cut at shutdownTimeoutMs', async () => {
    const node = await startRingkv(['--engine', 'memory', '--shutdown-timeout-ms', '1500']);
    const stuck = await openNonReadingClient(node.respPort);
    const t0 = Date.now();
    process.kill(node.pid, 'SIGTERM');
    await sleep(400);
    assert.equal(node.child.exitCode, null, 'still draining while the stuck client holds on');
    assert.ok(await refused(node.respPort), 'no new connections once shutdown began');
    const exit = await node.exited;
    const elapsed = Date.now() - t0;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(elapsed >= 1400 && elapsed < 6000, `exited after the timeout, took ${elapsed} ms`);
    stuck.destroy();
  });

  it('shutdown: a second signal forces exit 1 without waiting', async () => {
    const node = await startRingkv(['--engine', 'memory', '--shutdown-timeout-ms', '60000']);
    const stuck = await openNonReadingClient(node.respPort);
    process.kill(node.pid, 'SIGTERM');
    await sleep(400);
    assert.equal(node.child.exitCode, null, 'graceful shutdown is waiting for the stuck client');
    const t0 = Date.now();
    process.kill(node.pid, 'SIGINT');
    const exit = await node.exited;
    assert.deepEqual(exit, { code: 1, signal: null });
    assert.ok(Date.now() - t0 < 3000);
    assert.ok(node.stdoutLines.some((l) => l.includes('forcing exit')));
    stuck.destroy();
  });

  it('shutdown: SIGINT alone is a graceful shutdown with exit 0', async () => {
    const node = await startRingkv(['--engine', 'memory']);
    assert.deepEqual(await stop(node, 'SIGINT'), { code: 0, signal: null });
  });
});
