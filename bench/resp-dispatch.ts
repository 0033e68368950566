/**
 * Micro-benchmark of the RESP server's per-command path without the kernel: a Connection fed
 * 64 KB chunks of pipelined SET/GET (100-byte values) through a fake socket, over the memory
 * engine. Reports commands per second of this process's CPU time.
 * Usage: node --import tsx bench/resp-dispatch.ts [seconds] [setget|ping]
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { defaultConfig } from '../src/config/load.js';
import { LocalKvStore } from '../src/data/local-kv-store.js';
import { defaultCommandTable } from '../src/server/commands/registry.js';
import { Connection } from '../src/server/connection.js';
import { RespServer } from '../src/server/resp-server.js';
import { MemoryEngine } from '../src/storage/memory/memory-engine.js';

const seconds = Number(process.argv[2] ?? '3');
/** "setget" (default) or "ping": PING isolates the server's own per-command cost. */
const mode = process.argv[3] ?? 'setget';

class FakeSocket extends EventEmitter {
  remoteAddress = '127.0.0.1';
  remotePort = 1;
  localAddress = '127.0.0.1';
  localPort = 2;
  destroyed = false;
  writableLength = 0;
  bytesOut = 0;
  write(b: Buffer): boolean {
    this.bytesOut += b.length;
    return true;
  }
  cork(): void {}
  uncork(): void {}
  setNoDelay(): void {}
  setTimeout(): void {}
  pause(): void {}
  resume(): void {}
  end(): void {}
  destroy(): void {
    this.destroyed = true;
  }
}

function multibulk(...args: string[]): string {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${a.length}\r\n${a}\r\n`;
  return s;
}

const config = defaultConfig({ respPort: 0, engine: 'memory' });
const engine = new MemoryEngine();
await engine.open();
const store = new LocalKvStore({ engine, config });
const server = new RespServer({ config, store, commands: defaultCommandTable() });
const socket = new FakeSocket();
new Connection(socket as unknown as Socket, server, 1);

const value = 'v'.repeat(100);
let text = '';
let perChunk = 0;
for (let i = 0; text.length < 64 * 1024 - 200; i++) {
  if (mode === 'ping') text += multibulk('PING');
  else text += i % 2 === 0 ? multibulk('SET', `key:${i % 1000}`, value) : multibulk('GET', `key:${(i - 1) % 1000}`);
  perChunk++;
}
const chunk = Buffer.from(text, 'latin1');

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const end = performance.now() + seconds * 1000;
const c0 = cpu();
let chunks = 0;
while (performance.now() < end) {
  for (let k = 0; k < 20; k++) socket.emit('data', chunk);
  chunks += 20;
}
const dt = cpu() - c0;
const what = mode === 'ping' ? 'PING' : 'SET/GET 100 B, memory engine';
console.log(`dispatch: ${((chunks * perChunk) / dt / 1e6).toFixed(2)} M commands/s per CPU-second (${what}, no kernel); ${(socket.bytesOut / dt / 1e6).toFixed(0)} MB/s of replies`);
