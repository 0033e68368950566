/**
 * The interleaved rounds runner with real processes on loopback: figures and ratios for healthy
 * servers, and failures (which make `npm run bench` exit non-zero) when a server cannot start or
 * when redis-benchmark gets error replies. Every process started is stopped by the runner.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunOptions } from '../../bench/lib/scenario.js';
import { command, info, loadKeys, loaderKey } from '../../bench/lib/resp-client.js';
import { ceilingSystem, HOST, redisSystem, REDIS_NO_PERSISTENCE, type SystemSpec } from '../../bench/lib/systems.js';
import { runThroughput, runThroughputSession, sameCases, type Sample } from '../../bench/lib/throughput.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

function options(workDir: string): RunOptions {
  return { rounds: 1, smoke: true, scale: 1, ctx: { workDir, repoRoot, startTimeoutMs: 15_000 }, log: () => {} };
}

const cases = [{ id: 'SET -P 4', load: { clients: 5, requests: 500, keyspace: 100, valueBytes: 10, pipeline: 4, test: 'set' } }];

test('bench runner: two healthy servers give a figure each, CPU for both sides and a ratio row', async () => {
  const workDir = mkdtempSync(join(tmpdir(), 'bench-runner-test-'));
  try {
    const report = await runThroughput({
      name: 't', title: 't', description: [], cases, smokeRequests: 500,
      systems: [ceilingSystem(), redisSystem({ id: 'redis', label: 'redis', persistence: REDIS_NO_PERSISTENCE })],
      pairs: [['ceiling', 'redis']],
    }, options(workDir));
    assert.deepEqual(report.failures, []);
    const samples = report.raw as Sample[];
    assert.deepEqual(samples.map((s) => s.system), ['ceiling', 'redis']);
    for (const s of samples) {
      assert.ok((s.opsPerSec ?? 0) > 0, `${s.system} ops/s`);
      assert.ok(s.clientCpuSec !== undefined && s.serverCpuSec !== undefined, `${s.system} CPU`);
    }
    assert.equal(report.summary.length, 1);
    assert.match(report.summary[0]?.ratio ?? '', /^\d+\.\d\d$/);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
});

test('bench runner: a server that cannot start and error replies are both reported as failures', async () => {
  const workDir = mkdtempSync(join(tmpdir(), 'bench-runner-test-'));
  try {
    const refusing = redisSystem({ id: 'redis-1-client', label: 'maxclients 1', persistence: [...REDIS_NO_PERSISTENCE, '--maxclients', '1'] });
    const errors = await runThroughput({
      name: 't', title: 't', description: [], cases, smokeRequests: 500, systems: [refusing], pairs: [],
    }, options(workDir));
    assert.match(errors.failures.join('\n'), /max number of clients reached/);

    const broken: SystemSpec = redisSystem({ id: 'redis-bad-flag', label: 'bad flag', persistence: ['--no-such-option', 'x'] });
    const start = await runThroughput({
      name: 't', title: 't', description: [], cases, smokeRequests: 500, systems: [broken], pairs: [],
    }, options(workDir));
    assert.match(start.failures.join('\n'), /redis-bad-flag exited/);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
});

test('bench loader: a pipelined load into redis-server leaves exactly the keys and values it sent', async () => {
  const workDir = mkdtempSync(join(tmpdir(), 'bench-runner-test-'));
  const sys = await redisSystem({ id: 'redis', label: 'redis', persistence: REDIS_NO_PERSISTENCE }).start({ workDir, repoRoot, startTimeoutMs: 15_000 });
  try {
    const r = await loadKeys(HOST, sys.port, { count: 3333, valueBytes: 100, batch: 500, window: 3 });
    assert.deepEqual([r.okReplies, r.errorReplies], [3333, 0]);
    assert.deepEqual(await command(HOST, sys.port, ['DBSIZE']), { kind: 'integer', value: 3333 });
    assert.deepEqual(await command(HOST, sys.port, ['GET', loaderKey(3332)]), { kind: 'bulk', text: 'v'.repeat(100) });
    assert.equal(Number((await info(HOST, sys.port, 'memory')).get('used_memory')) > 0, true);
  } finally {
    await sys.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
});

test('bench runner: plans with the same cases share one session and each report keeps only its systems', async () => {
  const workDir = mkdtempSync(join(tmpdir(), 'bench-runner-test-'));
  try {
    const ceiling = ceilingSystem();
    const redis = redisSystem({ id: 'redis', label: 'redis', persistence: REDIS_NO_PERSISTENCE });
    const a = { name: 'a', title: 'a', description: [], cases, smokeRequests: 500, systems: [ceiling, redis], pairs: [['ceiling', 'redis']] as const };
    const b = { name: 'b', title: 'b', description: [], cases, smokeRequests: 500, systems: [ceiling], pairs: [] };
    assert.equal(sameCases(a, b), true);
    assert.equal(sameCases(a, { ...b, smokeRequests: 501 }), false);
    const [ra, rb] = await runThroughputSession([a, b], options(workDir));
    assert.deepEqual((ra?.raw as Sample[]).map((s) => s.system), ['ceiling', 'redis']);
    assert.deepEqual((rb?.raw as Sample[]).map((s) => s.system), ['ceiling']);
    assert.deepEqual(rb?.systems.map((s) => s.id), ['ceiling']);
    assert.equal(rb?.commands.length, 1);
    assert.match(rb?.description.join(' ') ?? '', /one session with `a`/);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
});
