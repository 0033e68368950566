/**
 * Micro-benchmark of the RESP codec on one core: commands decoded per second for pipelined
 * SET/GET with 100-byte values (fed in 64 KB chunks, as a socket delivers them), and replies
 * encoded per second. Rates are per second of this process's CPU time, so a shared machine
 * skews them less than wall time would. Usage: node --import tsx bench/resp-codec.ts [seconds]
 */

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
import { RespDecoder } from '../src/protocol/resp/decoder.js';
import { RespWriter } from '../src/protocol/resp/writer.js';

const seconds = Number(process.argv[2] ?? '3');
const value = 'v'.repeat(100);

function multibulk(...args: string[]): string {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${a.length}\r\n${a}\r\n`;
  return s;
}

// 64 KB of alternating SET key:N value / GET key:N.
let text = '';
let perChunk = 0;
for (let i = 0; text.length < 64 * 1024 - 200; i++) {
  text += i % 2 === 0 ? multibulk('SET', `key:${i % 10000}`, value) : multibulk('GET', `key:${i % 10000}`);
  perChunk++;
}
const chunk = Buffer.from(text, 'latin1');

function decodeRun(): void {
  const d = new RespDecoder({ protoMaxBulkLen: 512 * 1024 * 1024 });
  let commands = 0;
  let argBytes = 0;
  const end = performance.now() + seconds * 1000;
  const c0 = cpuSeconds();
  while (performance.now() < end) {
    for (let k = 0; k < 100; k++) {
      d.feed(chunk);
      for (let a = d.next(); a !== undefined; a = d.next()) {
        commands++;
        argBytes += a.length;
      }
    }
  }
  const dt = cpuSeconds() - c0;
  console.log(`decode: ${(commands / dt / 1e6).toFixed(2)} M commands/s (${perChunk} per 64 KB chunk, ${(commands * chunk.length / perChunk / dt / 1e6).toFixed(0)} MB/s) [args ${argBytes > 0}]`);
}

function encodeRun(): void {
  const w = new RespWriter();
  const v = Buffer.from(value);
  let replies = 0;
  let bytes = 0;
  const end = performance.now() + seconds * 1000;
  const c0 = cpuSeconds();
  while (performance.now() < end) {
    for (let k = 0; k < 1000; k++) {
      w.beginReply();
      w.simple('OK');
      w.endReply();
      w.beginReply();
      w.bulk(v);
      w.endReply();
      replies += 2;
    }
    w.drain((b) => {
      bytes += b.length;
    });
  }
  const dt = cpuSeconds() - c0;
  console.log(`encode: ${(replies / dt / 1e6).toFixed(2)} M replies/s (+OK and 100-byte bulks, ${(bytes / dt / 1e6).toFixed(0)} MB/s)`);
}

decodeRun();
encodeRun();
