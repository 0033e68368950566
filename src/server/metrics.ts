/**
 * Node metrics in Prometheus text format (prom-client registry, one per node so several nodes
 * can live in one process).
 *
 * The per-command hot path (`onCommand`) does not touch prom-client: prom-client's labelled
 * child counter + histogram cost ~500-700 ns per call here (label hashing on every observe),
 * against a few ns for plain counters. So each command name gets one cached `CommandStat`
 * (ok/error counts, duration sum and bucket counts in integer nanoseconds), and two collector
 * objects turn those into `ringkv_commands_total` and `ringkv_command_duration_seconds` at
 * scrape time. Command names are client-controlled, so label cardinality is bounded: names
 * outside `knownCommands` (when given) and names beyond `commandLabelsMax` count as "unknown".
 *
 * Keyspace and connection gauges read their sources at scrape time only.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { KvStats } from '../data/kv-store.js';

/** The hook the RESP server calls once per executed command. */
export interface CommandMetrics {
  onCommand(name: string, durationNs: number, ok: boolean): void;
}

/** Upper bounds of the latency buckets, seconds (the +Inf bucket is implicit). */
export const COMMAND_DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];
const BOUNDS_NS: readonly number[] = COMMAND_DURATION_BUCKETS_SECONDS.map((s) => Math.round(s * 1e9));
const BUCKET_COUNT = BOUNDS_NS.length + 1;

/** Label used for command names not counted on their own. */
export const UNKNOWN_COMMAND_LABEL = 'unknown';

class CommandStat {
  ok = 0;
  error = 0;
  sumNs = 0;
  /** Non-cumulative: buckets[i] counts durations in (BOUNDS_NS[i-1], BOUNDS_NS[i]]; last = above all. */
  readonly buckets = new Float64Array(BUCKET_COUNT);
}

export interface MetricsSources {
  kvStats(): KvStats;
  connectedClients(): number;
}

export interface NodeMetricsOptions {
  /** Lower-case command names that get their own label; others count as "unknown". */
  knownCommands?: Iterable<string>;
  /** Most distinct command labels (default 512). */
  commandLabelsMax?: number;
  /** Process and Node.js runtime metrics (default true). */
  processMetrics?: boolean;
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/** A scrape-time metric in the shape prom-client's Registry reads (`name`, `help`, `type`, `get()`). */
interface CollectedMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  get(): { name: string; help: string; type: 'counter' | 'histogram'; aggregator: 'sum'; values: MetricValue[] };
}

export class NodeMetrics implements CommandMetrics {
  readonly registry = new Registry();
  private readonly stats = new Map<string, CommandStat>();
  private readonly unknown = new CommandStat();
  private readonly known: ReadonlySet<string> | undefined;
  private readonly labelsMax: number;
  private sources: MetricsSources | undefined;

  constructor(options: NodeMetricsOptions = {}) {
    this.known = options.knownCommands ? new Set(options.knownCommands) : undefined;
    this.labelsMax = options.commandLabelsMax ?? 512;
    if (!(this.labelsMax >= 1)) throw new RangeError('commandLabelsMax must be >= 1');
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.registerCommandMetrics();
    this.registerKeyspaceMetrics();
  }

  /** Where keyspace and connection figures come from; read at scrape time. */
  setSources(sources: MetricsSources): void {
    this.sources = sources;
  }

  onCommand(name: string, durationNs: number, ok: boolean): void {
    const s = this.stats.get(name) ?? this.statFor(name);
    if (ok) s.ok++;
    else s.error++;
    s.sumNs += durationNs;
    let i = 0;
    while (i < BOUNDS_NS.length && durationNs > (BOUNDS_NS[i] as number)) i++;
    s.buckets[i] = (s.buckets[i] ?? 0) + 1;
  }

  /** Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private statFor(name: string): CommandStat {
    // Not cached when refused, so a client sending random names cannot grow the map.
    if (this.known !== undefined && !this.known.has(name)) return this.unknown;
    if (this.stats.size >= this.labelsMax) return this.unknown;
    const s = new CommandStat();
    this.stats.set(name, s);
    return s;
  }

  private entries(): [string, CommandStat][] {
    const out = [...this.stats.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    if (this.unknown.ok + this.unknown.error > 0) out.push([UNKNOWN_COMMAND_LABEL, this.unknown]);
    return out;
  }

  private registerCommandMetrics(): void {
    const commands: CollectedMetric = {
      name: 'ringkv_commands_total',
      help: 'Commands executed, by command name and result (ok or error).',
      type: 'counter',
      aggregator: 'sum',
      get: () => {
        const values: MetricValue[] = [];
        for (const [command, s] of this.entries()) {
          values.push({ value: s.ok, labels: { command, result: 'ok' } });
          values.push({ value: s.error, labels: { command, result: 'error' } });
        }
        return { name: commands.name, help: commands.help, type: commands.type, aggregator: 'sum', values };
      },
    };
    const duration: CollectedMetric = {
      name: 'ringkv_command_duration_seconds',
      help: 'Command execution time in seconds, from dispatch to reply written, by command name.',
      type: 'histogram',
      aggregator: 'sum',
      get: () => {
        const values: MetricValue[] = [];
        const base = duration.name;
        for (const [command, s] of this.entries()) {
          let cumulative = 0;
          for (let i = 0; i < BOUNDS_NS.length; i++) {
            cumulative += s.buckets[i] ?? 0;
            values.push({ metricName: `${base}_bucket`, value: cumulative, labels: { command, le: COMMAND_DURATION_BUCKETS_SECONDS[i] ?? 0 } });
          }
          cumulative += s.buckets[BOUNDS_NS.length] ?? 0;
          values.push({ metricName: `${base}_bucket`, value: cumulative, labels: { command, le: '+Inf' } });
          values.push({ metricName: `${base}_sum`, value: s.sumNs / 1e9, labels: { command } });
          values.push({ metricName: `${base}_count`, value: cumulative, labels: { command } });
        }
        return { name: base, help: duration.help, type: duration.type, aggregator: 'sum', values };
      },
    };
    // The Registry only reads name/help/type/get(); it does not need a prom-client class.
    this.registry.registerMetric(commands as unknown as Metric);
    this.registry.registerMetric(duration as unknown as Metric);
  }

  private registerKeyspaceMetrics(): void {
    const registers = [this.registry];
    const self = this;
    const gauge = (name: string, help: string, read: (s: KvStats) => number): void => {
      new Gauge({
        name, help, registers,
        collect() {
          const src = self.sources;
          this.set(src ? read(src.kvStats()) : 0);
        },
      });
    };
    const counter = (name: string, help: string, read: (s: KvStats) => number): void => {
      new Counter({
        name, help, registers,
        collect() {
          // The engine keeps the running total; mirror it.
          const src = self.sources;
          this.reset();
          this.inc(src ? read(src.kvStats()) : 0);
        },
      });
    };
    gauge('ringkv_keys', 'Live keys.', (s) => s.keys);
    gauge('ringkv_keys_with_expiry', 'Live keys with a time to live.', (s) => s.keysWithExpiry);
    gauge('ringkv_used_memory_bytes', 'Approximate bytes used by keys, values and engine overhead.', (s) => s.usedBytes);
    counter('ringkv_expired_keys_total', 'Keys removed because their time to live passed.', (s) => s.expiredKeys);
    counter('ringkv_evicted_keys_total', 'Keys evicted to stay under maxmemory.', (s) => s.evictedKeys);
    new Gauge({
      name: 'ringkv_connected_clients',
      help: 'Open client connections on the RESP port.',
      registers,
      collect() {
        this.set(self.sources ? self.sources.connectedClients() : 0);
      },
    });
  }
}
