/**
 * Storage engine factory: the one place that maps `config.engine` to an implementation.
 * `now` is the clock engines use for expiry (Unix ms); tests inject a fake one.
 */
import type { Config } from '../config/schema.js';
import type { StorageEngine } from './engine.js';
import { MemoryEngine } from './memory/memory-engine.js';
import { RocksdbEngine } from './rocksdb/rocksdb-engine.js';

export interface CreateEngineOptions {
  now?: () => number;
}

export function createEngine(config: Config, opts: CreateEngineOptions = {}): StorageEngine {
  const options = opts.now === undefined ? {} : { now: opts.now };
  switch (config.engine) {
    case 'memory':
      return new MemoryEngine(config, options);
    case 'rocksdb':
      return new RocksdbEngine(config, options);
    default: {
      const never: never = config.engine;
      throw new TypeError(`unknown engine ${String(never)}`);
    }
  }
}

export { MemoryEngine, type MemoryEngineConfig, ENTRY_OVERHEAD_BYTES } from './memory/memory-engine.js';
export { RocksdbEngine, type RocksdbEngineConfig } from './rocksdb/rocksdb-engine.js';
