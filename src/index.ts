/**
 * The library entry point (`import { startNode } from 'ringkv'`): embed a node, load and
 * validate configuration the way the CLI does, and use the error registry. Internals (codec,
 * engines' private helpers, the sans-IO core) are not part of this surface yet.
 */
export { startNode, runNode, StartupError, type NodeHandle, type StartNodeOptions, type RunNodeOptions } from './main.js';
export {
  configSchema, parseBytes, MAXMEMORY_POLICIES, DURABILITY_MODES, ENGINES,
  type Config, type ConfigInput, type MaxmemoryPolicy, type Durability, type EngineName,
} from './config/schema.js';
export {
  loadConfig, defaultConfig, ConfigError, CONFIG_KEYS,
  type ConfigProblem, type ConfigSource, type ConfigKey, type LoadConfigOptions, type FlagValue,
} from './config/load.js';
export { ERROR_CODES, RingkvError, isRingkvError, toClientError, type ErrorCode, type ErrorSpec } from './errors/index.js';
export type { StorageEngine, StoredRecord, EngineStats, EngineCapabilities, Key } from './storage/engine.js';
export { createEngine } from './storage/index.js';
export type { KvStore, KvEntry, KvStats, WriteOptions, ReadOptions, Expiry } from './data/kv-store.js';
export { LocalKvStore } from './data/local-kv-store.js';
export { NodeMetrics, type CommandMetrics } from './server/metrics.js';
export { HttpServer } from './server/http.js';
export { createLogger, type Logger } from './server/logger.js';
