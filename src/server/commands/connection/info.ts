/**
 * INFO [section ...]: Redis 7.0's text format ("# Section" headers, "field:value" lines, CRLF,
 * a blank line between sections), as a bulk string in RESP2 and a verbatim string in RESP3.
 * Sections: server, clients, memory, persistence (loading:0, which ioredis waits for), stats,
 * replication (role:master), cpu, commandstats, errorstats, cluster, keyspace. No argument or
 * "default" selects all but commandstats; "all" and "everything" select all. Several names
 * may be given (7.0); unknown names select nothing, as in Redis.
 *
 * used_memory is the store's own accounting of keys and values (what maxmemory is enforced
 * against); used_memory_rss is the process's resident set.
 */
import os from 'node:os';
import type { CommandContext, CommandSpec } from '../command.js';
import { REDIS_COMPAT_VERSION } from './hello.js';

export const RINGKV_VERSION = '0.1.0';

/** Every section, in Redis's order; "all" and "everything" select these. */
const SECTIONS = [
  'server', 'clients', 'memory', 'persistence', 'stats', 'replication', 'cpu', 'commandstats', 'errorstats', 'cluster', 'keyspace',
] as const;
type Section = (typeof SECTIONS)[number];
/** What INFO and INFO default show (Redis leaves commandstats out). */
const DEFAULT_SECTIONS: readonly Section[] = SECTIONS.filter((s) => s !== 'commandstats');

/** Redis's bytesToHuman. */
export function bytesToHuman(n: number): string {
  const units = ['K', 'M', 'G', 'T', 'P'];
  if (n < 1024) return `${n}B`;
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)}${units[i] ?? 'P'}`;
}

function lines(fields: readonly (readonly [string, string | number])[]): string {
  let s = '';
  for (const [k, v] of fields) s += `${k}:${v}\r\n`;
  return s;
}

function section(ctx: CommandContext, name: Section): string {
  const server = ctx.server;
  const config = ctx.config;
  const now = ctx.now();
  const uptimeSec = Math.max(0, Math.floor((now - server.startedAtMs) / 1000));
  switch (name) {
    case 'server':
      return '# Server\r\n' + lines([
        ['redis_version', REDIS_COMPAT_VERSION],
        ['redis_git_sha1', '00000000'],
        ['redis_git_dirty', 0],
        ['redis_build_id', '0'],
        ['redis_mode', config.cluster.nodeId !== '' ? 'cluster' : 'standalone'],
        ['os', `${os.type()} ${os.release()} ${os.arch()}`],
        ['arch_bits', 64],
        ['monotonic_clock', 'POSIX clock_gettime'],
        ['multiplexing_api', 'epoll'],
        ['atomicvar_api', 'c11-builtin'],
        ['gcc_version', '0.0.0'],
        ['process_id', process.pid],
        ['process_supervised', 'no'],
        ['run_id', server.runId ?? '0'.repeat(40)],
        ['tcp_port', server.port ?? config.respPort],
        ['server_time_usec', now * 1000],
        ['uptime_in_seconds', uptimeSec],
        ['uptime_in_days', Math.floor(uptimeSec / 86400)],
        ['hz', config.hz],
        ['configured_hz', config.hz],
        ['lru_clock', Math.floor(now / 1000) & ((1 << 24) - 1)],
        ['executable', process.execPath],
        ['config_file', ''],
        ['io_threads_active', 0],
        ['ringkv_version', RINGKV_VERSION],
        ['ringkv_engine', config.engine],
        ['node_version', process.version],
      ]);
    case 'clients':
      return '# Clients\r\n' + lines([
        ['connected_clients', server.connectedClients()],
        ['cluster_connections', 0],
        ['maxclients', config.maxclients],
        ['client_recent_max_input_buffer', 0],
        ['client_recent_max_output_buffer', 0],
        ['blocked_clients', 0],
        ['tracking_clients', 0],
        ['clients_in_timeout_table', 0],
      ]);
    case 'memory': {
      const st = ctx.store.stats();
      const rss = process.memoryUsage.rss();
      return '# Memory\r\n' + lines([
        ['used_memory', st.usedBytes],
        ['used_memory_human', bytesToHuman(st.usedBytes)],
        ['used_memory_rss', rss],
        ['used_memory_rss_human', bytesToHuman(rss)],
        ['used_memory_peak', st.usedBytes],
        ['used_memory_peak_human', bytesToHuman(st.usedBytes)],
        ['used_memory_dataset', st.usedBytes],
        ['total_system_memory', os.totalmem()],
        ['total_system_memory_human', bytesToHuman(os.totalmem())],
        ['maxmemory', config.maxmemory],
        ['maxmemory_human', bytesToHuman(config.maxmemory)],
        ['maxmemory_policy', config.maxmemoryPolicy],
        ['mem_fragmentation_ratio', st.usedBytes > 0 ? (rss / st.usedBytes).toFixed(2) : '0.00'],
        ['mem_allocator', 'v8'],
        ['lazyfree_pending_objects', 0],
      ]);
    }
    case 'persistence': {
      const started = Math.floor(server.startedAtMs / 1000);
      return '# Persistence\r\n' + lines([
        ['loading', 0],
        ['async_loading', 0],
        ['current_cow_peak', 0],
        ['current_cow_size', 0],
        ['current_fork_perc', '0.00'],
        ['current_save_keys_processed', 0],
        ['current_save_keys_total', 0],
        ['rdb_changes_since_last_save', 0],
        ['rdb_bgsave_in_progress', 0],
        ['rdb_last_save_time', started],
        ['rdb_last_bgsave_status', 'ok'],
        ['rdb_last_bgsave_time_sec', -1],
        ['rdb_current_bgsave_time_sec', -1],
        ['aof_enabled', 0],
        ['aof_rewrite_in_progress', 0],
        ['aof_rewrite_scheduled', 0],
        ['aof_last_rewrite_time_sec', -1],
        ['aof_current_rewrite_time_sec', -1],
        ['aof_last_bgrewrite_status', 'ok'],
        ['aof_last_write_status', 'ok'],
        ['module_fork_in_progress', 0],
        ['module_fork_last_cow_size', 0],
      ]);
    }
    case 'stats': {
      const s = server.stats();
      const st = ctx.store.stats();
      const inst = server.instantaneous?.() ?? { opsPerSec: 0, inputKbps: 0, outputKbps: 0 };
      return '# Stats\r\n' + lines([
        ['total_connections_received', s.totalConnectionsReceived],
        ['total_commands_processed', s.totalCommandsProcessed],
        ['instantaneous_ops_per_sec', inst.opsPerSec],
        ['total_net_input_bytes', s.totalNetInputBytes],
        ['total_net_output_bytes', s.totalNetOutputBytes],
        ['instantaneous_input_kbps', inst.inputKbps.toFixed(2)],
        ['instantaneous_output_kbps', inst.outputKbps.toFixed(2)],
        ['rejected_connections', s.rejectedConnections],
        ['sync_full', 0],
        ['sync_partial_ok', 0],
        ['sync_partial_err', 0],
        ['expired_keys', st.expiredKeys],
        ['expired_stale_perc', '0.00'],
        ['expired_time_cap_reached_count', 0],
        ['expire_cycle_cpu_milliseconds', 0],
        ['evicted_keys', st.evictedKeys],
        ['evicted_clients', 0],
        ['total_eviction_exceeded_time', 0],
        ['current_eviction_exceeded_time', 0],
        ['keyspace_hits', s.keyspaceHits],
        ['keyspace_misses', s.keyspaceMisses],
        ['pubsub_channels', 0],
        ['pubsub_patterns', 0],
        ['latest_fork_usec', 0],
        ['total_forks', 0],
        ['migrate_cached_sockets', 0],
        ['slave_expires_tracked_keys', 0],
        ['active_defrag_hits', 0],
        ['active_defrag_misses', 0],
        ['active_defrag_key_hits', 0],
        ['active_defrag_key_misses', 0],
        ['total_active_defrag_time', 0],
        ['current_active_defrag_time', 0],
        ['tracking_total_keys', 0],
        ['tracking_total_items', 0],
        ['tracking_total_prefixes', 0],
        ['unexpected_error_replies', 0],
        ['total_error_replies', [...(server.errorStats?.().values() ?? [])].reduce((a, b) => a + b, 0)],
        ['dump_payload_sanitizations', 0],
        ['total_reads_processed', 0],
        ['total_writes_processed', 0],
        ['io_threaded_reads_processed', 0],
        ['io_threaded_writes_processed', 0],
      ]);
    }
    case 'replication':
      return '# Replication\r\n' + lines([
        ['role', 'master'],
        ['connected_slaves', 0],
        ['master_failover_state', 'no-failover'],
        ['master_replid', server.runId ?? '0'.repeat(40)],
        ['master_replid2', '0'.repeat(40)],
        ['master_repl_offset', 0],
        ['second_repl_offset', -1],
        ['repl_backlog_active', 0],
        ['repl_backlog_size', 1048576],
        ['repl_backlog_first_byte_offset', 0],
        ['repl_backlog_histlen', 0],
      ]);
    case 'cpu': {
      const u = process.cpuUsage();
      return '# CPU\r\n' + lines([
        ['used_cpu_sys', (u.system / 1e6).toFixed(6)],
        ['used_cpu_user', (u.user / 1e6).toFixed(6)],
        ['used_cpu_sys_children', '0.000000'],
        ['used_cpu_user_children', '0.000000'],
      ]);
    }
    case 'commandstats': {
      let text = '# Commandstats\r\n';
      for (const [cmd, st] of server.commandStats?.() ?? []) {
        const usec = Math.round(st.usec);
        const perCall = st.calls > 0 ? (st.usec / st.calls).toFixed(2) : '0.00';
        text += `cmdstat_${cmd}:calls=${st.calls},usec=${usec},usec_per_call=${perCall},rejected_calls=${st.rejectedCalls},failed_calls=${st.failedCalls}\r\n`;
      }
      return text;
    }
    case 'errorstats': {
      let text = '# Errorstats\r\n';
      for (const [kind, n] of server.errorStats?.() ?? []) text += `errorstat_${kind}:count=${n}\r\n`;
      return text;
    }
    case 'cluster':
      // redis-py's cluster client requires cluster_enabled:1 (cluster mode = a node id is set).
      return '# Cluster\r\n' + lines([['cluster_enabled', config.cluster.nodeId !== '' ? 1 : 0]]);
    case 'keyspace': {
      const st = ctx.store.stats();
      return '# Keyspace\r\n' + (st.keys > 0 ? `db0:keys=${st.keys},expires=${st.keysWithExpiry},avg_ttl=0\r\n` : '');
    }
  }
}

/** The INFO text for the given section arguments (lower-cased). */
export function infoText(ctx: CommandContext, requested: readonly string[]): string {
  const wanted = new Set<string>();
  if (requested.length === 0) for (const s of DEFAULT_SECTIONS) wanted.add(s);
  for (const r of requested) {
    if (r === 'all' || r === 'everything') for (const s of SECTIONS) wanted.add(s);
    else if (r === 'default') for (const s of DEFAULT_SECTIONS) wanted.add(s);
    else wanted.add(r);
  }
  return SECTIONS.filter((s) => wanted.has(s)).map((s) => section(ctx, s)).join('\r\n');
}

export const info: CommandSpec = {
  name: 'info',
  arity: -1,
  flags: ['loading', 'stale'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@slow', '@dangerous'],
  summary: 'Returns information and statistics about the server.',
  since: '1.0.0',
  group: 'server',
  handler(ctx, args) {
    const requested = args.slice(1).map((a) => a.toString('latin1').toLowerCase());
    ctx.reply.verbatim(infoText(ctx, requested));
  },
};
