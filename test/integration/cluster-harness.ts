/**
 * Test harness for real clusters: N `ringkv start` processes (through cli-process.ts) on
 * 127.0.0.1, each with fixed free ports (RESP, HTTP, peer) chosen up front so a restarted node
 * comes back at the same addresses, node 1 without seeds and the others seeded with node 1.
 *
 *   const c = await LocalCluster.start({ nodes: 3 });   // resolves when every node is in the ring
 *   c.node(2).respPort ... await c.http(2, '/cluster/ring') ...
 *   await c.kill(2); await c.restart(2);                 // SIGKILL by PID, then the same node again
 *   c.pause(3); c.resume(3);                             // SIGSTOP / SIGCONT by PID
 *   await c.stop(1);                                     // SIGTERM, waits for the exit
 *   await c.dispose();                                   // stops everything, removes the data
 *
 * Every wait is bounded; every process is tracked by cli-process.ts, so killAll() in an
 * `after` hook cleans up whatever a failing test left behind. Node i is `node-<i>` (1-based).
 */
import { request } from 'node:http';
import { join } from 'node:path';
import { freePort, startRingkv, tempDir, type Exit, type RingkvProcess } from './cli-process.js';

export interface ClusterOptions {
  nodes: number;
  /** Default memory (fast); rocksdb for persistence tests. */
  engine?: 'memory' | 'rocksdb';
  /** Extra `ringkv start` flags for every node. */
  args?: readonly string[];
  /** Extra flags per node index (1-based). */
  nodeArgs?: (index: number) => readonly string[];
  readyTimeoutMs?: number;
  /** Wait until every node sees every other in the ring (default true). */
  waitForRing?: boolean;
}

export interface ClusterMember {
  readonly index: number;
  readonly id: string;
  readonly dataDir: string;
  readonly respPort: number;
  readonly httpPort: number;
  readonly peerPort: number;
  /** The running process; undefined while stopped. */
  proc: RingkvProcess | undefined;
  /** Every process this member ran, oldest first (their logs survive restarts). */
  readonly lives: RingkvProcess[];
}

export interface RingBody {
  epoch: number;
  replicationFactor: number;
  members: { id: string; replicas?: number; primaries?: number }[];
}

/** GET/POST JSON on 127.0.0.1:port; resolves with status and parsed body (text when not JSON). */
export function httpJson(port: number, path: string, options: { method?: string; body?: unknown; timeoutMs?: number } = {}): Promise<{ status: number; body: unknown; text: string }> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: options.method ?? 'GET', timeout: options.timeoutMs ?? 5000,
      headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => {
        let body: unknown = text;
        try { body = JSON.parse(text); } catch { /* NDJSON or text */ }
        resolve({ status: res.statusCode ?? 0, body, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`HTTP ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export class LocalCluster {
  readonly members: ClusterMember[] = [];
  private readonly dir = tempDir('ringkv-cluster-');

  private constructor(private readonly opts: ClusterOptions) {}

  /** Starts node 1, then the others seeded with it; resolves when all are in one ring. */
  static async start(opts: ClusterOptions): Promise<LocalCluster> {
    if (!Number.isInteger(opts.nodes) || opts.nodes < 1) throw new RangeError('nodes must be a positive integer');
    const c = new LocalCluster(opts);
    try {
      for (let i = 1; i <= opts.nodes; i++) {
        c.members.push({
          index: i, id: `node-${i}`, dataDir: join(c.dir.path, `node-${i}`), respPort: await freePort(), httpPort: await freePort(),
          peerPort: await freePort(), proc: undefined, lives: [],
        });
      }
      await c.launch(1);
      await Promise.all(c.members.slice(1).map((m) => c.launch(m.index)));
      if (opts.waitForRing !== false) await c.waitForRing(c.members.map((m) => m.id));
    } catch (e) {
      await c.dispose();
      throw e;
    }
    return c;
  }

  get dataRoot(): string {
    return this.dir.path;
  }

  node(index: number): ClusterMember {
    const m = this.members[index - 1];
    if (m === undefined) throw new RangeError(`no node ${index}`);
    return m;
  }

  /** `--host 127.0.0.1:<peer>` of node 1: what other nodes seed with. */
  seedOf(index = 1): string {
    return `127.0.0.1:${this.node(index).peerPort}`;
  }

  /** The `ringkv start` arguments of node `index` (seeds: node 1's peer address, except for node 1). */
  argsOf(index: number): string[] {
    const m = this.node(index);
    return [
      '--cluster-node-id', m.id, '--data-dir', m.dataDir, '--engine', this.opts.engine ?? 'memory',
      '--resp-port', String(m.respPort), '--http-port', String(m.httpPort), '--peer-port', String(m.peerPort),
      '--peer-connect-timeout-ms', '1000', '--peer-backoff-max-ms', '500', '--shutdown-timeout-ms', '3000',
      ...(index === 1 ? [] : ['--cluster-seeds', this.seedOf(1)]),
      ...(this.opts.args ?? []), ...(this.opts.nodeArgs?.(index) ?? []),
    ];
  }

  private async launch(index: number): Promise<RingkvProcess> {
    const m = this.node(index);
    if (m.proc !== undefined && m.proc.child.exitCode === null && m.proc.child.signalCode === null) throw new Error(`${m.id} is running`);
    const p = await startRingkv(this.argsOf(index), { readyTimeoutMs: this.opts.readyTimeoutMs ?? 30_000 });
    m.proc = p;
    m.lives.push(p);
    return p;
  }

  /** Starts a stopped node again with the same id, ports, data and seeds; resolves when it listens. */
  async restart(index: number): Promise<RingkvProcess> {
    return this.launch(index);
  }

  /** SIGKILL by PID; resolves with the exit. */
  async kill(index: number): Promise<Exit> {
    return this.signal(index, 'SIGKILL');
  }

  /** Graceful stop (SIGTERM by default); resolves with the exit. */
  async stop(index: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    return this.signal(index, signal);
  }

  private async signal(index: number, signal: NodeJS.Signals): Promise<Exit> {
    const m = this.node(index);
    const p = m.proc;
    if (p === undefined) throw new Error(`${m.id} is not running`);
    if (p.child.exitCode === null && p.child.signalCode === null) {
      // A paused process cannot act on SIGTERM: let it run first.
      if (signal !== 'SIGKILL') process.kill(p.pid, 'SIGCONT');
      process.kill(p.pid, signal);
    }
    const exit = await p.exited;
    m.proc = undefined;
    return exit;
  }

  /** SIGSTOP by PID: the node stops answering without closing its connections. */
  pause(index: number): void {
    const p = this.node(index).proc;
    if (p === undefined) throw new Error(`node ${index} is not running`);
    process.kill(p.pid, 'SIGSTOP');
  }

  resume(index: number): void {
    const p = this.node(index).proc;
    if (p === undefined) throw new Error(`node ${index} is not running`);
    process.kill(p.pid, 'SIGCONT');
  }

  running(): ClusterMember[] {
    return this.members.filter((m) => m.proc !== undefined);
  }

  /** JSON from node `index`'s HTTP port. */
  async http(index: number, path: string, options: { method?: string; body?: unknown; timeoutMs?: number } = {}): Promise<{ status: number; body: unknown; text: string }> {
    return httpJson(this.node(index).httpPort, path, options);
  }

  async ring(index: number): Promise<RingBody> {
    const r = await this.http(index, '/cluster/ring');
    if (r.status !== 200) throw new Error(`GET /cluster/ring on node ${index}: ${r.status} ${r.text}`);
    return r.body as RingBody;
  }

  async stats(index: number): Promise<Record<string, number>> {
    const r = await this.http(index, '/cluster/stats');
    if (r.status !== 200) throw new Error(`GET /cluster/stats on node ${index}: ${r.status} ${r.text}`);
    return (r.body as { stats: Record<string, number> }).stats;
  }

  /**
   * Waits until every running node (or those of `indexes`) holds a ring of exactly `ids` at the
   * same epoch.
   */
  async waitForRing(ids: readonly string[], timeoutMs = 20_000, indexes?: readonly number[]): Promise<RingBody> {
    const want = [...ids].sort().join(',');
    const which = indexes ?? this.running().map((m) => m.index);
    return eventually(`nodes ${which.join(',')} to hold the ring [${want}]`, async () => {
      const rings = await Promise.all(which.map((i) => this.ring(i)));
      const first = rings[0];
      if (first === undefined) return undefined;
      const ok = rings.every((r) => r.epoch === first.epoch && r.members.map((x) => x.id).sort().join(',') === want);
      return ok ? first : undefined;
    }, timeoutMs);
  }

  /** Stops every running node (SIGTERM, in parallel); resolves with their exits by index. */
  async stopAll(): Promise<Map<number, Exit>> {
    const out = new Map<number, Exit>();
    await Promise.all(this.running().map(async (m) => out.set(m.index, await this.stop(m.index))));
    return out;
  }

  /** Kills what is still running (SIGKILL) and removes the data directory. */
  async dispose(): Promise<void> {
    await Promise.all(this.running().map((m) => this.kill(m.index).catch(() => undefined)));
    this.dir.remove();
  }
}
