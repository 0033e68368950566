// HTTP API throughput and latency with autocannon: GET and PUT of /v1/kv/{key} (random keys
// from a preloaded set of 10k, 100-byte values), 50 connections, against one standalone node
// and against node 1 of a 3-node cluster (replication factor 3, quorum reads and writes).
// Nodes run the memory engine so the figures are the HTTP and coordination path, not disk.
//
// Usage: node bench/http-autocannon.mjs [--duration 10] [--connections 50] [--only bare|standalone|cluster] [--dist]
// Every process it starts is stopped by PID at the end. Loopback only.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' }, only: { type: 'string' },
    // Run the built dist/cli/main.js (npm run build) instead of the sources through tsx.
    dist: { type: 'boolean', default: false },
  },
});
const duration = Number(args.duration);
const connections = Number(args.connections);
const KEYS = 10_000;
const VALUE = Buffer.alloc(100, 'x');
const root = new URL('..', import.meta.url).pathname;
const procs = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function startNode(flags) {
  const entry = args.dist ? ['dist/cli/main.js'] : ['--import', 'tsx', 'src/cli/main.ts'];
  const p = spawn(process.execPath, [...entry, 'start', '--host', '127.0.0.1', '--engine', 'memory', '--log-level', 'warn', '--resp-port', '0', ...flags], {
    cwd: root, stdio: ['ignore', 'ignore', 'inherit'],
  });
  procs.push(p);
  return p;
}

async function waitReady(port, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (r.status === 200) return;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`node on ${port} not ready`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function preload(port) {
  for (let i = 0; i < KEYS; i += 500) {
    const items = [];
    for (let k = i; k < Math.min(KEYS, i + 500); k++) items.push({ key: `key:${k}`, value: VALUE.toString('base64') });
    const r = await fetch(`http://127.0.0.1:${port}/v1/batch/put`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ items }) });
    if (r.status !== 200) throw new Error(`preload: ${r.status}`);
  }
}

function run(port, method) {
  return new Promise((resolve, reject) => {
    const inst = autocannon({
      url: `http://127.0.0.1:${port}`,
      connections,
      duration,
      requests: [{
        setupRequest: (req) => {
          const k = Math.floor(Math.random() * KEYS);
          return method === 'GET'
            ? { ...req, method: 'GET', path: `/v1/kv/key:${k}` }
            : { ...req, method: 'PUT', path: `/v1/kv/key:${k}`, headers: { 'content-type': 'application/octet-stream' }, body: VALUE };
        },
      }],
    }, (err, result) => (err ? reject(err) : resolve(result)));
    autocannon.track(inst, { renderProgressBar: false, renderResultsTable: false, renderLatencyTable: false });
  });
}

function line(target, method, r) {
  const non2xx = r.non2xx ?? 0;
  return `${target.padEnd(28)} ${method.padEnd(4)} ${String(Math.round(r.requests.average)).padStart(8)} req/s  p50 ${String(r.latency.p50).padStart(3)} ms  p99 ${String(r.latency.p99).padStart(3)} ms  max ${String(r.latency.max).padStart(4)} ms  errors ${r.errors + r.timeouts}  non-2xx ${non2xx}`;
}

const dir = mkdtempSync(join(tmpdir(), 'ringkv-http-bench-'));
const lines = [];
// A bare node:http server answering 100 bytes: the ceiling of this machine and client, measured
// in the same run so the ringkv figures can be read against it on a busy machine.
const BARE = `require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => { s.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 100 }); s.end(Buffer.alloc(100, 120)); }); }).listen(Number(process.argv[1]), '127.0.0.1')`;
try {
  if (args.only === undefined || args.only === 'bare') {
    const port = await freePort();
    const bare = spawn(process.execPath, ['-e', BARE, String(port)], { stdio: 'ignore' });
    procs.push(bare);
    await new Promise((r) => setTimeout(r, 500));
    for (const m of ['GET', 'PUT']) lines.push(line('bare node:http (ceiling)', m, await run(port, m)));
    bare.kill('SIGTERM');
  }
  if (args.only === undefined || args.only === 'standalone') {
    const port = await freePort();
    startNode(['--http-port', String(port), '--data-dir', join(dir, 'standalone')]);
    await waitReady(port);
    await preload(port);
    for (const m of ['GET', 'PUT']) lines.push(line('standalone (memory)', m, await run(port, m)));
    const p = procs.pop();
    p.kill('SIGTERM');
  }
  if (args.only === undefined || args.only === 'cluster') {
    const nodes = [];
    for (let i = 1; i <= 3; i++) nodes.push({ id: `node-${i}`, http: await freePort(), peer: await freePort() });
    for (const [i, n] of nodes.entries()) {
      startNode(['--cluster-node-id', n.id, '--http-port', String(n.http), '--peer-port', String(n.peer), '--data-dir', join(dir, n.id),
        ...(i === 0 ? [] : ['--cluster-seeds', `127.0.0.1:${nodes[0].peer}`])]);
      if (i === 0) await waitReady(n.http);
    }
    for (const n of nodes) await waitReady(n.http);
    // Wait until node 1 sees a 3-member ring.
    for (let t = 0; t < 100; t++) {
      const ring = await (await fetch(`http://127.0.0.1:${nodes[0].http}/v1/cluster/ring`)).json();
      if (ring.current.members.length === 3) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await preload(nodes[0].http);
    for (const m of ['GET', 'PUT']) lines.push(line('cluster 3 nodes, N=3, quorum', m, await run(nodes[0].http, m)));
  }
} finally {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1000));
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
const { loadavg } = await import('node:os');
console.log(`autocannon ${connections} connections, ${duration} s each, 100-byte values, 10k keys; client on the same 2-core machine; load average after: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
for (const l of lines) console.log(l);
