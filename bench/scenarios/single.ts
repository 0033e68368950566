/**
 * Scenario 1, `single`: one node, no persistence cost. redis-benchmark -c 50 -n 200000
 * -r 100000 -d 100, SET then GET, at -P 1 (client-bound: redis-benchmark saturates a core near
 * 80k ops/s) and -P 16 (server-bound). ringkv's memory engine and rocksdb with --durability none
 * against redis-server with persistence off.
 */
import { REDIS_PROGRAMS, type RunOptions, type ScenarioReport } from '../lib/scenario.js';
import { SYSTEMS } from '../lib/systems.js';
import { runThroughput, type ThroughputCase, type ThroughputPlan } from '../lib/throughput.js';

export function getSetCases(clients: number, requests: number, pipelines: readonly number[]): ThroughputCase[] {
  const cases: ThroughputCase[] = [];
  for (const pipeline of pipelines) {
    for (const test of ['set', 'get'] as const) {
      cases.push({
        id: `${test.toUpperCase()} -P ${pipeline}`,
        load: { clients, requests, keyspace: 100_000, valueBytes: 100, pipeline, test },
      });
    }
  }
  return cases;
}

const singlePlan: ThroughputPlan = {
  name: 'single',
  title: 'Single node, no persistence: ringkv vs redis-server',
  description: [
    'redis-benchmark -c 50 -n 200000 -r 100000 -d 100 -t set, then -t get, at -P 1 and -P 16',
    '(one test per run so CPU figures belong to one figure; SET runs first, so GET finds keys).',
    'At -P 1 redis-benchmark itself is near one core: compare client CPU before reading a ratio.',
  ],
  systems: [SYSTEMS.ringkvMemory, SYSTEMS.ringkvRocksdb, SYSTEMS.redis],
  cases: getSetCases(50, 200_000, [1, 16]),
  pairs: [['ringkv-memory', 'redis'], ['ringkv-rocksdb', 'redis']],
  smokeRequests: 2_000,
};

export const single = {
  name: 'single',
  title: 'Single node, no persistence: ringkv vs redis-server',
  runnable: true as const,
  needs: REDIS_PROGRAMS,
  plan: singlePlan,
  run: (opts: RunOptions): Promise<ScenarioReport> => runThroughput(singlePlan, opts),
};
