/**
 * The one configuration schema. Every knob a node reads is declared here once, with its
 * default and bounds; the loader (load.ts) fills it from defaults < file < env < flags,
 * reports every problem at once and freezes the result.
 *
 * Units are in the names (`...Ms`, `...Bytes`). Sizes accept numbers or strings like "64mb".
 */
import { z } from 'zod';

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1000, kb: 1024, m: 1000 ** 2, mb: 1024 ** 2, g: 1000 ** 3, gb: 1024 ** 3,
};

/** Parses Redis-style memory sizes: 100, "100", "64mb", "1gb", "10k" (k = 1000, kb = 1024). */
export function parseBytes(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  const m = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(input);
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : undefined;
}

const bytes = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = parseBytes(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a size: ${JSON.stringify(v)} (use bytes or e.g. "64mb")` });
    return z.NEVER;
  }
  return n;
});

const port = z.coerce.number().int().min(0).max(65535);

export const MAXMEMORY_POLICIES = [
  'noeviction', 'allkeys-lru', 'allkeys-lfu', 'volatile-lru', 'volatile-lfu', 'volatile-ttl', 'allkeys-random', 'volatile-random',
] as const;
export type MaxmemoryPolicy = (typeof MAXMEMORY_POLICIES)[number];

export const DURABILITY_MODES = ['none', 'batch', 'fsync'] as const;
export type Durability = (typeof DURABILITY_MODES)[number];

export const ENGINES = ['rocksdb', 'memory'] as const;
export type EngineName = (typeof ENGINES)[number];

export const configSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  respPort: port.default(6379),
  /** 0 disables the HTTP listener. */
  httpPort: port.default(7379),
  dataDir: z.string().min(1).default('./data'),
  engine: z.enum(ENGINES).default('rocksdb'),

  /** 0 = no limit. Enforced by the memory engine (the rocksdb engine bounds its caches instead). */
  maxmemory: bytes.default(0),
  maxmemoryPolicy: z.enum(MAXMEMORY_POLICIES).default('noeviction'),
  maxmemorySamples: z.coerce.number().int().min(1).max(64).default(5),
  /** Redis's lfu-log-factor and lfu-decay-time (minutes). */
  lfuLogFactor: z.coerce.number().int().min(0).max(255).default(10),
  lfuDecayTime: z.coerce.number().int().min(0).default(1),

  /**
   * none: acknowledge after the write reached the engine's memory (WAL unsynced);
   * batch: as none, plus the WAL is synced every `batchSyncIntervalMs`;
   * fsync: acknowledge only after the WAL is synced (group commit shares one sync).
   */
  durability: z.enum(DURABILITY_MODES).default('batch'),
  batchSyncIntervalMs: z.coerce.number().int().min(1).max(60_000).default(100),

  /** Active expiry cycles per second (Redis's hz). */
  hz: z.coerce.number().int().min(1).max(500).default(10),

  maxclients: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Largest bulk string a client may send (Redis's proto-max-bulk-len). */
  protoMaxBulkLen: bytes.default(512 * 1024 * 1024),
  /** Largest key accepted by any front end. */
  maxKeyBytes: bytes.default(64 * 1024),
  /** Largest value accepted by any front end (and the largest APPEND/SETRANGE result). */
  maxValueBytes: bytes.default(512 * 1024 * 1024),
  /** Commands one connection may have parsed but not yet answered before reading pauses. */
  pipelineDepthMax: z.coerce.number().int().min(1).max(1_000_000).default(1024),
  /**
   * Keys that may have an operation in flight at once in the local store's per-key queue
   * (asynchronous engines only); beyond it commands are refused with BUSY before they start.
   */
  busyKeysMax: z.coerce.number().int().min(1).max(10_000_000).default(100_000),
  /** SCAN cursors for long keys remembered at once (oldest forgotten first: "ERR invalid cursor"). */
  scanCursorsMax: z.coerce.number().int().min(1).max(10_000_000).default(100_000),
  /** Client idle timeout in seconds, 0 = never (Redis's timeout). */
  timeout: z.coerce.number().int().min(0).default(0),

  rocksdb: z.strictObject({
    blockCacheBytes: bytes.default(64 * 1024 * 1024),
    writeBufferBytes: bytes.default(64 * 1024 * 1024),
    /**
     * zstd: RocksDB's level preset — recent levels (L0, L1) uncompressed for write speed, zstd
     * below; none: no compression at any level. (The binding offers no other codec.)
     */
    compression: z.enum(['none', 'zstd']).default('zstd'),
    bloomBitsPerKey: z.coerce.number().min(0).max(64).default(10),
  }).prefault({}),

  /** Peer transport between cluster nodes (TCP frames; see src/server/peer/). */
  peer: z.strictObject({
    /** Port other nodes dial; 0 = any free port. */
    port: port.default(7380),
    /** Nodes refuse peers that announce a different cluster name in their handshake. */
    clusterName: z.string().min(1).max(255).default('ringkv'),
    /** Largest whole frame (header included) a node sends or accepts. */
    frameBytesMax: bytes.default(16 * 1024 * 1024),
    /** Requests one connection may have sent and not yet seen answered. */
    inFlightMax: z.coerce.number().int().min(1).max(1_000_000).default(1024),
    /** Requests that may wait per peer for the window or a connection before ERR_OVERLOADED. */
    queuedRequestsMax: z.coerce.number().int().min(0).max(1_000_000).default(4096),
    /** Bytes buffered in a socket above which fire-and-forget sends are dropped. */
    writeBufferBytesMax: bytes.default(64 * 1024 * 1024),
    /** TCP connect plus handshake. */
    connectTimeoutMs: z.coerce.number().int().min(1).max(600_000).default(2000),
    requestTimeoutMs: z.coerce.number().int().min(1).max(600_000).default(5000),
    backoffBaseMs: z.coerce.number().int().min(1).max(600_000).default(100),
    backoffMaxMs: z.coerce.number().int().min(1).max(600_000).default(5000),
    /** A ping goes out when nothing was sent for this long. */
    pingIntervalMs: z.coerce.number().int().min(10).max(600_000).default(1000),
    /** A connection that received nothing for this long is closed. */
    idleTimeoutMs: z.coerce.number().int().min(20).max(3_600_000).default(5000),
  }).prefault({}),

  /**
   * Cluster mode (src/cluster/). A node runs standalone (LocalKvStore, no versioning) unless it
   * has a node id; with one it runs the Dynamo core: with no seeds it forms a one-node cluster,
   * with seeds it joins theirs.
   */
  cluster: z.strictObject({
    /** Stable name of this node in the ring ([A-Za-z0-9._-], 1..64 chars); empty = standalone. */
    nodeId: z.string().regex(/^([A-Za-z0-9._-]{1,64})?$/, 'node id: 1-64 characters of A-Z a-z 0-9 . _ -').default(''),
    /** Peer addresses (host:peerPort) to join through; empty = form a new one-node cluster. */
    seeds: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'seed: host:port')).default([]),
    /** Address other nodes and clients are told to use; empty = `host`. */
    advertiseHost: z.string().default(''),
    /** Ask a seed to add this node to the ring at start when it is not in it (Cassandra's auto_bootstrap). */
    autoJoin: z.boolean().default(true),
    replicationFactor: z.coerce.number().int().min(1).max(64).default(3),
    /** Default levels of plain GET/SET: one, two, quorum, all or a replica count. */
    readConsistency: z.union([z.enum(['one', 'two', 'quorum', 'all']), z.coerce.number().int().min(1).max(64)]).default('quorum'),
    writeConsistency: z.union([z.enum(['one', 'two', 'quorum', 'all']), z.coerce.number().int().min(1).max(64)]).default('quorum'),
    /** siblings: dotted version vectors keep concurrent writes; lww: last write wins on hybrid logical clocks. */
    conflictMode: z.enum(['siblings', 'lww']).default('siblings'),
    siblingsMax: z.coerce.number().int().min(1).max(1024).default(16),
    /** true: only preference-list replicas count toward W (Riak's PW); false: sloppy quorum with hints. */
    strictQuorum: z.boolean().default(false),
    /** Deadline of one coordinated operation (client waits at most this long). */
    requestTimeoutMs: z.coerce.number().int().min(10).max(600_000).default(2000),
    /** How often the host steps the core's clock (timeouts, probes and replays are in ticks). */
    tickMs: z.coerce.number().int().min(1).max(1000).default(20),
    rack: z.string().default(''),
    zone: z.string().default(''),
    /** Capacity weight in the ring (a node with 2 holds twice the replicas). */
    weight: z.coerce.number().positive().max(1000).default(1),
    /**
     * Route requests around members that are only suspected (true), or only around members
     * declared dead or gone (false). Quorums do not need a slow member, so waiting for the
     * confirmation costs little; a single false suspicion (a late ack on a busy machine, or an
     * indirect probe through the one paused member of three) no longer refuses requests.
     */
    routeAroundSuspects: z.boolean().default(false),
    probeIntervalMs: z.coerce.number().int().min(10).max(600_000).default(1000),
    probeTimeoutMs: z.coerce.number().int().min(5).max(600_000).default(400),
    /** Hinted handoff bounds: a hint older than the window is dropped (anti-entropy repairs instead). */
    hintCountMax: z.coerce.number().int().min(0).max(100_000_000).default(100_000),
    hintBytesMax: bytes.default(256 * 1024 * 1024),
    hintWindowMs: z.coerce.number().int().min(1000).max(30 * 24 * 3600_000).default(3 * 3600_000),
    /** Merkle anti-entropy exchange period per node; 0 disables anti-entropy. */
    antiEntropyIntervalMs: z.coerce.number().int().min(0).max(24 * 3600_000).default(10_000),
    /** A tombstone is purged only after this long and once every replica synced past it. */
    tombstoneGraceMs: z.coerce.number().int().min(0).max(365 * 24 * 3600_000).default(24 * 3600_000),
  }).prefault({}),

  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How long a graceful shutdown waits for in-flight requests before closing anyway. */
  shutdownTimeoutMs: z.coerce.number().int().min(0).max(600_000).default(10_000),
  /** Password for AUTH (Redis's requirepass); empty = no auth. */
  requirepass: z.string().default(''),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = Readonly<z.output<typeof configSchema>>;
