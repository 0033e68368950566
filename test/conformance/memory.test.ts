/**
 * Runs the storage conformance suite against the in-memory engine.
 */
import { MemoryEngine } from '../../src/storage/memory/memory-engine.js';
import { storageEngineConformance, type HarnessOptions } from './storage-engine-suite.js';

function make(o: HarnessOptions): MemoryEngine {
  const { now, random, ...config } = o;
  return new MemoryEngine(config, random === undefined ? { now } : { now, random });
}

storageEngineConformance({
  name: 'memory',
  capabilities: { durable: false, eviction: true, appliesWritesSynchronously: true },
  propertyRuns: 200,
  async open(o) {
    let engine = make(o);
    await engine.open();
    return {
      get engine() {
        return engine;
      },
      async reopen() {
        await engine.close();
        engine = make(o);
        await engine.open();
        return engine;
      },
      async dispose() {
        engine.invariants();
        await engine.close();
      },
    };
  },
});
