/**
 * Counts the user records a stopped ringkv cluster node left in its rocksdb data directory, by
 * opening it with ringkv's own engine and scanning the 'd' (data) prefix of the node host's
 * layout (src/cluster/host/host-storage.ts). This is what the node holds, measured on disk,
 * independent of any API the node serves; the rebalance scenario uses it for keys per node.
 * The node must be stopped first (rocksdb allows one process per directory).
 */
import { loadConfig } from '../../src/config/load.js';
import { createEngine } from '../../src/storage/index.js';

/** src/cluster/host/host-storage.ts DATA_PREFIX: user records are 'd' + key. */
const DATA_PREFIX = 'd';

/** The key right after every key that starts with `prefix` (one-byte prefixes). */
function prefixEnd(prefix: string): string {
  return String.fromCharCode(prefix.charCodeAt(0) + 1);
}

export async function countStoredRecords(dataDir: string): Promise<number> {
  const config = loadConfig({ env: {}, flags: [{ name: 'engine', value: 'rocksdb' }, { name: 'data-dir', value: dataDir }, { name: 'durability', value: 'none' }] });
  const engine = createEngine(config, { now: () => Date.now() });
  await engine.open();
  try {
    let n = 0;
    for await (const _entry of engine.scan({ gte: DATA_PREFIX, lt: prefixEnd(DATA_PREFIX) })) n++;
    return n;
  } finally {
    await engine.close();
  }
}
