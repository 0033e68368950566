/**
 * Scenario 2, `durable`: every acknowledged write is on disk. ringkv rocksdb --durability fsync
 * (group commit: one WAL sync covers every write waiting for it) against redis-server
 * --appendonly yes --appendfsync always (one fsync per event-loop pass, also shared). -c 50,
 * SET and GET at -P 1 and -P 16. Data directories are on the work directory's disk, not tmpfs,
 * where an fsync would cost nothing.
 */
import { REDIS_PROGRAMS, type RunOptions, type ScenarioReport } from '../lib/scenario.js';
import { SYSTEMS } from '../lib/systems.js';
import { runThroughput, type ThroughputCase, type ThroughputPlan } from '../lib/throughput.js';

function cases(): ThroughputCase[] {
  const out: ThroughputCase[] = [];
  for (const pipeline of [1, 16]) {
    for (const test of ['set', 'get'] as const) {
      // Synced SETs run near 10k ops/s (Redis, -P 1) here: fewer requests keep a run to seconds.
      // GETs do not touch the disk; they are here to show reads beside synced writes.
      const requests = test === 'set' ? 20_000 : 50_000;
      out.push({ id: `${test.toUpperCase()} -P ${pipeline}`, load: { clients: 50, requests, keyspace: 100_000, valueBytes: 100, pipeline, test } });
    }
  }
  return out;
}

const durablePlan: ThroughputPlan = {
  name: 'durable',
  title: 'Durable writes: ringkv --durability fsync vs redis-server appendfsync always',
  description: [
    'redis-benchmark -c 50 -r 100000 -d 100, SET then GET at -P 1 and -P 16; -n 20000 for SET,',
    '50000 for GET. Both servers acknowledge a write only after it is synced to disk.',
  ],
  systems: [SYSTEMS.ringkvFsync, SYSTEMS.redisAof],
  cases: cases(),
  pairs: [['ringkv-fsync', 'redis-aof-always']],
  smokeRequests: 1_000,
};

export const durable = {
  name: 'durable',
  title: 'Durable writes: ringkv --durability fsync vs redis-server appendfsync always',
  runnable: true as const,
  needs: REDIS_PROGRAMS,
  plan: durablePlan,
  run: (opts: RunOptions): Promise<ScenarioReport> => runThroughput(durablePlan, opts),
};
