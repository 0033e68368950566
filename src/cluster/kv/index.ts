/** The cluster KvStore and its helpers (see cluster-kv-store.ts). */
export {
  ClusterKvStore, ClusterScanCursors, FAN_OUT_MAX, UPDATE_ATTEMPTS_MAX, clusterHexId, pick,
  type CausalKvStore, type ClusterKvStoreOptions, type ClusterScanPosition, type KeyVersions,
} from './cluster-kv-store.js';
