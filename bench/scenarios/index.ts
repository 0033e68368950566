/**
 * Every scenario, in the order `npm run bench` runs them when none is named. Numbers follow the
 * benchmark plan: 1 single, 2 durable, 3 clients1000, 4 memory, 5 cluster and cluster-etcd, 6 ceiling,
 * 7 latency, 8 rebalance. The cluster scenarios (5, 7, 8) run their peers (Redis Cluster, etcd)
 * in every build and say so, instead of inventing figures, when ringkv's cluster mode is absent.
 */
import type { Scenario } from '../lib/scenario.js';
import { ceiling } from './ceiling.js';
import { clients1000 } from './clients1000.js';
import { cluster, clusterEtcd } from './cluster.js';
import { durable } from './durable.js';
import { latency } from './latency.js';
import { memory } from './memory.js';
import { rebalance } from './rebalance.js';
import { single } from './single.js';

export const SCENARIOS: readonly Scenario[] = [
  single,
  durable,
  clients1000,
  memory,
  cluster,
  clusterEtcd,
  ceiling,
  latency,
  rebalance,
];
