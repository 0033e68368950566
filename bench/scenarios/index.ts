/**
 * Every scenario, in the order `npm run bench` runs them when none is named. Numbers follow the
 * benchmark plan; 5, 7 and 8 measure the cluster and stay listed, not runnable, until it exists.
 */
import type { Scenario } from '../lib/scenario.js';
import { ceiling } from './ceiling.js';
import { clients1000 } from './clients1000.js';
import { durable } from './durable.js';
import { memory } from './memory.js';
import { single } from './single.js';

const NEEDS_CLUSTER = 'not yet: needs the cluster';
/** The cluster scenarios' peers: Redis Cluster (redis-server, redis-cli --cluster) and etcd. */
const CLUSTER_PROGRAMS = ['redis-server', 'redis-cli', 'redis-benchmark', 'etcd', 'etcdctl'] as const;

export const SCENARIOS: readonly Scenario[] = [
  single,
  durable,
  clients1000,
  memory,
  { name: 'cluster-5', title: 'Scenario 5 (cluster)', runnable: false, needs: CLUSTER_PROGRAMS, reason: NEEDS_CLUSTER },
  ceiling,
  { name: 'cluster-7', title: 'Scenario 7 (cluster)', runnable: false, needs: CLUSTER_PROGRAMS, reason: NEEDS_CLUSTER },
  { name: 'cluster-8', title: 'Scenario 8 (cluster)', runnable: false, needs: CLUSTER_PROGRAMS, reason: NEEDS_CLUSTER },
];
