/**
 * Runs the storage conformance suite against the RocksDB engine, each test in a fresh temp dir
 * (removed afterwards). Durability 'none' keeps the suite fast; group commit and the other
 * durability modes are covered in test/unit/storage-rocksdb.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../../src/config/schema.js';
import { RocksdbEngine } from '../../src/storage/rocksdb/rocksdb-engine.js';
import { storageEngineConformance, type HarnessOptions } from './storage-engine-suite.js';

storageEngineConformance({
  name: 'rocksdb',
  capabilities: { durable: true, eviction: false, appliesWritesSynchronously: true },
  propertyRuns: 60,
  async open(o: HarnessOptions) {
    const dataDir = mkdtempSync(join(tmpdir(), 'ringkv-rocksdb-'));
    const config = configSchema.parse({ dataDir, durability: 'none', rocksdb: { blockCacheBytes: 8 * 1024 * 1024, writeBufferBytes: 4 * 1024 * 1024 } });
    const make = (): RocksdbEngine => new RocksdbEngine(config, o.random === undefined ? { now: o.now } : { now: o.now, random: o.random });
    let engine = make();
    await engine.open();
    return {
      get engine() {
        return engine;
      },
      async reopen() {
        await engine.close();
        engine = make();
        await engine.open();
        return engine;
      },
      async dispose() {
        await engine.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
});
