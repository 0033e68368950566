/**
 * The benchmark load driver (bench/lib/driver.ts) and its runner: the RESP reply framing fed
 * whole and byte by byte, CLUSTER SLOTS parsing, closed and open loops against real and fake
 * servers on loopback, coordinated-omission correction (a stalled server shows in the open
 * loop's tail, not in the closed loop's), the etcd JSON target, and histogram merging across
 * driver processes. Every server started here is stopped in a finally.
 */
import { strict as assert } from 'node:assert';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { benchKey, replyEnd, runDriver, slotTable, type DriverSpec } from '../../bench/lib/driver.js';
import { runDrivers, split } from '../../bench/lib/driver-runner.js';
import { freePort, startProcess, stopProcess, waitForPort } from '../../bench/lib/process.js';
import { command, readReply } from '../../bench/lib/resp-client.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const HOST = '127.0.0.1';

test('driver framing: every RESP2 reply type is delimited whole, and incomplete at every shorter prefix', () => {
  const replies = ['+OK\r\n', '-ERR boom\r\n', ':42\r\n', '$5\r\nhello\r\n', '$-1\r\n', '*2\r\n$1\r\na\r\n*1\r\n:1\r\n', '*-1\r\n', '$0\r\n\r\n'];
  for (const r of replies) {
    const buf = Buffer.from(r);
    assert.equal(replyEnd(buf, 0), buf.length, r);
    for (let n = 0; n < buf.length; n++) assert.equal(replyEnd(buf.subarray(0, n), 0), -1, `${JSON.stringify(r)} cut at ${n}`);
  }
  const two = Buffer.from('+OK\r\n$3\r\nabc\r\n');
  assert.equal(replyEnd(two, 5), two.length);
});

test('driver framing: CLUSTER SLOTS becomes a slot table naming each range\'s first node', () => {
  const wire = '*2\r\n'
    + '*4\r\n:0\r\n:8191\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nid\r\n*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$2\r\nid\r\n'
    + '*3\r\n:8192\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:7002\r\n';
  const parsed = readReply(Buffer.from(wire), 0);
  assert.ok(parsed);
  const table = slotTable(parsed[0]);
  assert.equal(table.length, 16384);
  assert.deepEqual(table[0], { host: '127.0.0.1', port: 7001 });
  assert.deepEqual(table[8191], { host: '127.0.0.1', port: 7001 });
  assert.deepEqual(table[8192], { host: '127.0.0.1', port: 7002 });
  assert.deepEqual(table[16383], { host: '127.0.0.1', port: 7002 });
});

test('driver runner: load splits differ by at most one and add up', () => {
  assert.deepEqual(split(10, 3), [4, 3, 3]);
  assert.deepEqual(split(2, 4), [1, 1, 0, 0]);
  assert.equal(split(64, 2).reduce((a, b) => a + b, 0), 64);
});

/** A RESP server answering +OK to anything, which holds every reply while `stalled()` is true. */
async function fakeResp(stalled: () => boolean): Promise<{ server: Server; port: number; commands: () => number }> {
  let commands = 0;
  const server = createServer((sock: Socket) => {
    let held = 0;
    const flush = (): void => {
      if (held > 0 && !stalled()) {
        sock.write('+OK\r\n'.repeat(held));
        held = 0;
      }
    };
    const timer = setInterval(flush, 1);
    sock.on('data', (d: Buffer) => {
      // One command per '*' header at line start is enough for the driver's SET/GET.
      let n = 0;
      for (let i = 0; i < d.length; i++) if (d[i] === 42 && (i === 0 || d[i - 1] === 10)) n++;
      commands += n;
      held += n;
      flush();
    });
    sock.on('close', () => clearInterval(timer));
    sock.on('error', () => clearInterval(timer));
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr !== null ? addr.port : 0, commands: () => commands };
}

function respSpec(port: number, mode: DriverSpec['mode'], durationMs: number): DriverSpec {
  return { target: { kind: 'resp', endpoints: [{ host: HOST, port }], routing: 'any' }, mode, op: 'set', keyspace: 1000, valueBytes: 10, connections: 4, warmupMs: 100, durationMs };
}

test('driver: a closed loop against redis-server records one latency per reply, without errors, and its SETs land', async () => {
  const port = await freePort();
  const proc = startProcess({ name: 'redis-test', cmd: 'redis-server', args: ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'], logPath: '/dev/null' });
  try {
    await waitForPort(proc, HOST, port, 10_000);
    const r = await runDriver(respSpec(port, { kind: 'closed', loops: 8 }, 500));
    assert.ok(r.ops > 100, `ops ${r.ops}`);
    assert.equal(r.errors, 0, r.firstError);
    assert.equal(r.histogram.totalCount, r.ops);
    assert.ok(r.elapsedSec > 0.4 && r.elapsedSec < 1.5, `window ${r.elapsedSec}`);
    const db = await command(HOST, port, ['DBSIZE']);
    assert.ok(db.kind === 'integer' && db.value > 0 && db.value <= 1000, JSON.stringify(db));
    const v = await command(HOST, port, ['GET', benchKey(0)]);
    assert.ok(v.kind === 'bulk' && (v.text === null || v.text === 'x'.repeat(10)));
  } finally {
    await stopProcess(proc);
  }
});

test('driver: error replies are counted as errors with the first message kept', async () => {
  const server = createServer((sock) => sock.on('data', () => sock.write('-ERR nope\r\n')));
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  try {
    const addr = server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    const r = await runDriver({ ...respSpec(port, { kind: 'closed', loops: 1 }, 200), connections: 1 });
    assert.ok(r.errors > 0);
    assert.equal(r.errors, r.ops);
    assert.equal(r.firstError, 'ERR nope');
  } finally {
    server.close();
  }
});

test('driver: the open loop holds its rate, and a server stall shows in its tail (coordinated omission corrected) but not in a closed loop\'s', async () => {
  let stallUntil = 0;
  const fake = await fakeResp(() => Date.now() < stallUntil);
  try {
    const rate = 1000;
    const stallMs = 300;
    const open = runDriver(respSpec(fake.port, { kind: 'open', rateOpsPerSec: rate, outstandingMax: 10_000 }, 1200));
    setTimeout(() => { stallUntil = Date.now() + stallMs; }, 600);
    const r = await open;
    assert.equal(r.errors, 0);
    assert.equal(r.backlog, 0);
    // 1.2 s at 1000/s: every scheduled op was sent and answered.
    assert.ok(Math.abs(r.ops - 1200) <= 60, `ops ${r.ops}`);
    const p99 = r.histogram.getValueAtPercentile(99) / 1000;
    assert.ok(p99 >= stallMs * 0.6, `open-loop p99 ${p99} ms should show the ${stallMs} ms stall`);

    stallUntil = 0;
    const closed = runDriver({ ...respSpec(fake.port, { kind: 'closed', loops: 1 }, 1200), connections: 1 });
    setTimeout(() => { stallUntil = Date.now() + stallMs; }, 600);
    const c = await closed;
    const cp99 = c.histogram.getValueAtPercentile(99) / 1000;
    // One loop waits out the stall once: one slow op among thousands, invisible at p99.
    assert.ok(cp99 < stallMs * 0.5, `closed-loop p99 ${cp99} ms`);
    assert.ok(c.histogram.maxValue / 1000 >= stallMs * 0.6, 'the stalled op itself is recorded');
  } finally {
    fake.server.close();
  }
});

test('driver: the etcd target sends base64 JSON puts over keep-alive and counts non-200 answers as errors', async () => {
  const seen: Array<{ path: string; key: string; value: string }> = [];
  let fail = false;
  const server = createHttpServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { key: string; value: string };
      seen.push({ path: req.url ?? '', key: Buffer.from(body.key, 'base64').toString(), value: Buffer.from(body.value, 'base64').toString() });
      if (fail) {
        res.writeHead(503).end('{"error":"unavailable"}');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"header":{}}');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  try {
    const addr = server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    const spec: DriverSpec = { target: { kind: 'etcd', endpoints: [{ host: HOST, port }] }, mode: { kind: 'closed', loops: 4 }, op: 'set', keyspace: 100, valueBytes: 8, connections: 4, warmupMs: 50, durationMs: 300 };
    const ok = await runDriver(spec);
    assert.ok(ok.ops > 10, `ops ${ok.ops}`);
    assert.equal(ok.errors, 0, ok.firstError);
    const first = seen[0];
    assert.ok(first);
    assert.equal(first.path, '/v3/kv/put');
    assert.match(first.key, /^key:\d{12}$/);
    assert.equal(first.value, 'x'.repeat(8));
    fail = true;
    const bad = await runDriver(spec);
    assert.ok(bad.errors > 0 && bad.errors === bad.ops);
    assert.match(bad.firstError ?? '', /^HTTP 503/);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('driver runner: two driver processes against one server merge into one figure (ops and histograms summed)', async () => {
  const fake = await fakeResp(() => false);
  try {
    const f = await runDrivers(repoRoot, respSpec(fake.port, { kind: 'closed', loops: 4 }, 400), 2);
    assert.deepEqual(f.failures, []);
    assert.equal(f.errors, 0);
    assert.ok(f.ops > 100, `ops ${f.ops}`);
    assert.ok(f.opsPerSec > 0 && f.p50Ms > 0 && f.p99Ms >= f.p50Ms && f.p999Ms >= f.p99Ms);
    assert.ok(f.clientCpu > 0);
    assert.match(f.commandLine, /^2 x node --import tsx bench\/driver-worker\.ts/);
    // Both processes sent commands (warm-up included), at least as many as were measured.
    assert.ok(fake.commands() >= f.ops);
  } finally {
    fake.server.close();
  }
});
