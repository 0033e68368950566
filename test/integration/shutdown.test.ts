/**
 * Graceful shutdown of a real process: on SIGTERM it stops accepting, answers what it already
 * parsed, ends connections cleanly, closes the engine and exits 0; a client that never closes
 * cannot hold it past shutdownTimeoutMs; a second signal forces exit 1 at once.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { killAll, startRingkv, stop, tempDir } from './cli-process.js';

after(killAll);

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen: this client does not answer the server's FIN, like a stuck peer.
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
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

  it('shutdown: new connections are refused during shutdown and a stuck client is cut at shutdownTimeoutMs', async () => {
    const node = await startRingkv(['--engine', 'memory', '--shutdown-timeout-ms', '1500']);
    const stuck = await openSocket(node.respPort);
    stuck.on('error', () => undefined);
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
    const stuck = await openSocket(node.respPort);
    stuck.on('error', () => undefined);
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
