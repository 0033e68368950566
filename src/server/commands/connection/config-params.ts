/**
 * The parameters CONFIG GET / CONFIG SET know, by their Redis names, mapped onto the one config
 * schema. Parameters that Redis clients and tools read but ringkv does not have (save,
 * appendonly, databases) report fixed values so those tools work; setting them accepts only
 * the value that is already true.
 *
 * `set` only converts the Redis spelling into schema input; validation (bounds, enums) is the
 * schema's, run by the server over the whole patched config.
 */
import type { Config } from '../../../config/schema.js';

export type SetResult =
  | { ok: true; key?: keyof Config; value?: unknown }
  | { ok: false; error: string };

export interface ConfigParam {
  /** Redis's name, lower case. */
  name: string;
  /** The schema key it maps to, if any. */
  key?: keyof Config;
  get(c: Config): string;
  /** Absent = immutable at runtime. */
  set?(value: string, c: Config): SetResult;
}

const APPENDFSYNC: Record<Config['durability'], string> = { none: 'no', batch: 'everysec', fsync: 'always' };

function integer(key: keyof Config): (value: string) => SetResult {
  return (value) => {
    if (!/^-?\d+$/.test(value.trim())) return { ok: false, error: 'argument couldn\'t be parsed into an integer' };
    return { ok: true, key, value: Number(value) };
  };
}

function memory(key: keyof Config): (value: string) => SetResult {
  return (value) => {
    if (!/^\s*\d+\s*[a-zA-Z]*\s*$/.test(value)) return { ok: false, error: 'argument must be a memory value' };
    return { ok: true, key, value: value.trim().toLowerCase() };
  };
}

function fixed(current: string): (value: string) => SetResult {
  return (value) =>
    value.toLowerCase() === current ? { ok: true } : { ok: false, error: `only '${current}' is supported by ringkv` };
}

export const CONFIG_PARAMS: readonly ConfigParam[] = [
  { name: 'bind', key: 'host', get: (c) => c.host },
  { name: 'port', key: 'respPort', get: (c) => String(c.respPort) },
  { name: 'dir', key: 'dataDir', get: (c) => c.dataDir },
  { name: 'maxmemory', key: 'maxmemory', get: (c) => String(c.maxmemory), set: memory('maxmemory') },
  {
    name: 'maxmemory-policy',
    key: 'maxmemoryPolicy',
    get: (c) => c.maxmemoryPolicy,
    set: (v) => ({ ok: true, key: 'maxmemoryPolicy', value: v.toLowerCase() }),
  },
  { name: 'maxmemory-samples', key: 'maxmemorySamples', get: (c) => String(c.maxmemorySamples), set: integer('maxmemorySamples') },
  { name: 'lfu-log-factor', key: 'lfuLogFactor', get: (c) => String(c.lfuLogFactor), set: integer('lfuLogFactor') },
  { name: 'lfu-decay-time', key: 'lfuDecayTime', get: (c) => String(c.lfuDecayTime), set: integer('lfuDecayTime') },
  { name: 'timeout', key: 'timeout', get: (c) => String(c.timeout), set: integer('timeout') },
  { name: 'maxclients', key: 'maxclients', get: (c) => String(c.maxclients), set: integer('maxclients') },
  { name: 'hz', key: 'hz', get: (c) => String(c.hz), set: integer('hz') },
  { name: 'requirepass', key: 'requirepass', get: (c) => c.requirepass, set: (v) => ({ ok: true, key: 'requirepass', value: v }) },
  { name: 'proto-max-bulk-len', key: 'protoMaxBulkLen', get: (c) => String(c.protoMaxBulkLen), set: memory('protoMaxBulkLen') },
  { name: 'appendfsync', key: 'durability', get: (c) => APPENDFSYNC[c.durability] },
  { name: 'save', get: () => '', set: fixed('') },
  { name: 'appendonly', get: () => 'no', set: fixed('no') },
  { name: 'databases', get: () => '1' },
  { name: 'cluster-enabled', get: (c) => (c.cluster.nodeId !== '' ? 'yes' : 'no') },
  { name: 'daemonize', get: () => 'no' },
  { name: 'io-threads', get: () => '1' },
];

const BY_NAME = new Map(CONFIG_PARAMS.map((p) => [p.name, p]));

export function findConfigParam(name: string): ConfigParam | undefined {
  return BY_NAME.get(name.toLowerCase());
}
