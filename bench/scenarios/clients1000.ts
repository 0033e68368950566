/**
 * Scenario 3, `clients1000`: 1000 concurrent connections (-c 1000, -P 1). Shows per-connection
 * overhead and whether every connection is served: redis-benchmark stops at the first error
 * reply (for example "max number of clients reached"), which is counted as a failed run. The
 * harness raises the open-files limit of servers and client before starting them.
 */
import { REDIS_PROGRAMS, type RunOptions, type ScenarioReport } from '../lib/scenario.js';
import { SYSTEMS } from '../lib/systems.js';
import { runThroughput, type ThroughputPlan } from '../lib/throughput.js';
import { getSetCases } from './single.js';

const clients1000Plan: ThroughputPlan = {
  name: 'clients1000',
  title: '1000 clients: ringkv vs redis-server',
  description: [
    'redis-benchmark -c 1000 -n 200000 -r 100000 -d 100 -P 1, SET then GET. "failed runs" counts',
    'runs where redis-benchmark reported an error (it stops at the first one).',
  ],
  systems: [SYSTEMS.ringkvMemory, SYSTEMS.redis],
  cases: getSetCases(1000, 200_000, [1]),
  pairs: [['ringkv-memory', 'redis']],
  smokeRequests: 5_000,
};

export const clients1000 = {
  name: 'clients1000',
  title: '1000 clients: ringkv vs redis-server',
  runnable: true as const,
  needs: REDIS_PROGRAMS,
  plan: clients1000Plan,
  run: (opts: RunOptions): Promise<ScenarioReport> => runThroughput(clients1000Plan, opts),
};
