/**
 * Scenario 6, `ceiling`: ringkv's memory engine against bench/ceiling-server.ts (GET answers a
 * constant, SET answers +OK, nothing stored) under scenario 1's load. The ratio is the share of
 * what Node's sockets and event loop allow on this machine that ringkv reaches; 1 - ratio is the
 * cost of ringkv's own work (decoding into values, command table, store, engine, encoding).
 */
import { REDIS_PROGRAMS, type RunOptions, type ScenarioReport } from '../lib/scenario.js';
import { SYSTEMS } from '../lib/systems.js';
import { runThroughput, type ThroughputPlan } from '../lib/throughput.js';
import { getSetCases } from './single.js';

const ceilingPlan: ThroughputPlan = {
  name: 'ceiling',
  title: 'ringkv vs a do-nothing Node.js RESP server',
  description: [
    'Same load as `single`: redis-benchmark -c 50 -n 200000 -r 100000 -d 100, SET then GET, -P 1 and -P 16.',
    'The ceiling server parses each request fully but stores nothing and answers from constants.',
  ],
  systems: [SYSTEMS.ringkvMemory, SYSTEMS.ceiling],
  cases: getSetCases(50, 200_000, [1, 16]),
  pairs: [['ringkv-memory', 'ceiling']],
  smokeRequests: 2_000,
};

export const ceiling = {
  name: 'ceiling',
  title: 'ringkv vs a do-nothing Node.js RESP server',
  runnable: true as const,
  needs: REDIS_PROGRAMS,
  plan: ceilingPlan,
  run: (opts: RunOptions): Promise<ScenarioReport> => runThroughput(ceilingPlan, opts),
};
