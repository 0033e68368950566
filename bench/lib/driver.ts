/**
 * The harness's own load driver: the same loop structure for every target, so that ringkv and its
 * peers (etcd, Redis Cluster) are driven by identical code and only the wire protocol differs.
 *
 * Targets:
 * - `resp`: a raw-socket RESP2 client (no library: ioredis costs several times more CPU per op,
 *   see bench/README.md). Requests on one connection are pipelined and answered in order (FIFO),
 *   so several loops may share a connection. Routing `any` spreads connections over every
 *   endpoint (ringkv: any node coordinates any key); routing `slots` sends each key to the node
 *   that CLUSTER SLOTS names first for its slot (Redis Cluster masters).
 * - `etcd`: etcd's gRPC gateway, HTTP/1.1 JSON `POST /v3/kv/put` and `/v3/kv/range` over
 *   node:http keep-alive sockets, spread over every member.
 *
 * Modes:
 * - `closed`: `loops` concurrent loops, each issues one op, awaits it, issues the next; latency is
 *   service time (start to reply).
 * - `open`: ops are scheduled at a fixed rate regardless of replies (coordinated omission
 *   corrected): each op's latency is measured from its *intended* start time, so a stall shows
 *   as the latency every op scheduled during it would have seen. At most `outstandingMax` ops are
 *   in flight; ops due beyond that wait in a queue and their wait counts as latency.
 *
 * Latencies are microseconds in an HDR histogram (1 µs .. 60 s, 3 significant digits), which the
 * runner merges across driver processes. A warm-up runs first (unrecorded), then the measured
 * window; ops still in flight at its end are not counted.
 */
import { request as httpRequest, Agent } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { build, type Histogram } from 'hdr-histogram-js';
import calculateSlot from 'cluster-key-slot';
import { command, type SimpleReply } from './resp-client.js';

export interface Endpoint {
  host: string;
  port: number;
}

export type DriverTarget =
  | { kind: 'resp'; endpoints: Endpoint[]; routing: 'any' | 'slots' }
  | { kind: 'etcd'; endpoints: Endpoint[] };

export type DriverMode =
  | { kind: 'closed'; loops: number }
  | { kind: 'open'; rateOpsPerSec: number; outstandingMax: number };

export interface DriverSpec {
  target: DriverTarget;
  mode: DriverMode;
  op: 'set' | 'get';
  /** Keys are key:%012d with the number uniform in [0, keyspace), as redis-benchmark's -r. */
  keyspace: number;
  valueBytes: number;
  /** Connections this driver opens (spread over endpoints; per master with slot routing). */
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** Epoch ms at which the warm-up starts (drivers in several processes start together); 0 = now. */
  startAtMs?: number;
}

export interface DriverResult {
  /** Replies received (errors included) inside the measured window. */
  ops: number;
  errors: number;
  firstError: string | undefined;
  /** Length of the measured window in seconds. */
  elapsedSec: number;
  /** This process's user+system CPU over the measured window. */
  cpuSec: number;
  /** Open loop: ops that were due but could not be sent when the window ended (backlog). */
  backlog: number;
  /** Latency from the intended start (open loop) or the send (closed loop). */
  histogram: Histogram;
  /** Latency from the actual send: the server's and network's share, without client lag. */
  serviceHistogram: Histogram;
}

export const LATENCY_MAX_US = 60_000_000;

export function newHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: LATENCY_MAX_US, numberOfSignificantValueDigits: 3 });
}

export function benchKey(i: number): string {
  return `key:${String(i).padStart(12, '0')}`;
}

/** Completion callback of one request: latency is computed by the caller. */
type Done = (error: string | undefined) => void;

/** One pipelined connection: requests go out as written, replies come back in order. */
interface Channel {
  send(key: string, done: Done): void;
  close(): void;
}

/** The signed decimal integer in buf[from, to) (RESP length headers). */
function intAt(buf: Buffer, from: number, to: number): number {
  let neg = false;
  let i = from;
  if (buf[i] === 45) { neg = true; i++; }
  let n = 0;
  for (; i < to; i++) n = n * 10 + ((buf[i] as number) - 48);
  return neg ? -n : n;
}

/**
 * Length of one complete RESP2 reply at `pos` (any type, arrays nested), or -1 if the buffer
 * ends first. Nothing is decoded: the hot path only needs boundaries and the first byte.
 */
export function replyEnd(buf: Buffer, pos: number): number {
  if (pos >= buf.length) return -1;
  const lineEnd = buf.indexOf(13, pos);
  if (lineEnd < 0 || lineEnd + 1 >= buf.length) return -1;
  const type = buf[pos];
  switch (type) {
    case 43: // +
    case 45: // -
    case 58: // :
      return lineEnd + 2;
    case 36: { // $
      const n = intAt(buf, pos + 1, lineEnd);
      if (n < 0) return lineEnd + 2;
      const end = lineEnd + 2 + n + 2;
      return end <= buf.length ? end : -1;
    }
    case 42: { // *
      const n = intAt(buf, pos + 1, lineEnd);
      let p = lineEnd + 2;
      for (let i = 0; i < n; i++) {
        p = replyEnd(buf, p);
        if (p < 0) return -1;
      }
      return p;
    }
    default:
      throw new Error(`unexpected RESP type byte ${type ?? 'none'}`);
  }
}

class RespChannel implements Channel {
  private readonly queue: Done[] = [];
  private head = 0;
  private pending: Buffer = Buffer.alloc(0);
  private failed: string | undefined;

  constructor(private readonly socket: Socket, private readonly op: 'set' | 'get', private readonly value: string) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    const fail = (why: string): void => {
      this.failed ??= why;
      for (let i = this.head; i < this.queue.length; i++) this.queue[i]?.(why);
      this.queue.length = 0;
      this.head = 0;
    };
    socket.on('error', (err) => fail(`connection error: ${err.message}`));
    socket.on('close', () => fail('connection closed'));
  }

  private onData(d: Buffer): void {
    let buf = this.pending.length === 0 ? d : Buffer.concat([this.pending, d]);
    let pos = 0;
    for (;;) {
      const end = replyEnd(buf, pos);
      if (end < 0) break;
      const done = this.queue[this.head];
      this.queue[this.head++] = noop;
      const err = buf[pos] === 45 ? buf.toString('utf8', pos + 1, end - 2) : undefined;
      pos = end;
      done?.(err);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    buf = buf.subarray(pos);
    this.pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }

  send(key: string, done: Done): void {
    if (this.failed !== undefined) {
      done(this.failed);
      return;
    }
    this.queue.push(done);
    // Keys and values are ASCII: one latin1 string per command, one write.
    const k = key.length;
    if (this.op === 'set') {
      this.socket.write(`*3\r\n$3\r\nSET\r\n$${k}\r\n${key}\r\n$${this.value.length}\r\n${this.value}\r\n`, 'latin1');
    } else {
      this.socket.write(`*2\r\n$3\r\nGET\r\n$${k}\r\n${key}\r\n`, 'latin1');
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

const noop: Done = () => {};

async function connect(ep: Endpoint): Promise<Socket> {
  return await new Promise<Socket>((resolve, reject) => {
    const s = createConnection({ host: ep.host, port: ep.port });
    s.once('connect', () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

/** CLUSTER SLOTS as a slot -> endpoint table (the first node of each range: the master). */
export function slotTable(reply: SimpleReply): Array<Endpoint | undefined> {
  if (reply.kind !== 'array' || reply.items === null) throw new Error(`CLUSTER SLOTS answered ${JSON.stringify(reply)}`);
  const table: Array<Endpoint | undefined> = new Array<Endpoint | undefined>(16384).fill(undefined);
  for (const range of reply.items) {
    if (range.kind !== 'array' || range.items === null) continue;
    const [start, end, master] = range.items;
    if (start?.kind !== 'integer' || end?.kind !== 'integer' || master?.kind !== 'array' || master.items === null) continue;
    const [host, port] = master.items;
    if (host?.kind !== 'bulk' || host.text === null || port?.kind !== 'integer') continue;
    const ep = { host: host.text, port: port.value };
    for (let s = start.value; s <= end.value && s < 16384; s++) table[s] = ep;
  }
  return table;
}

/** Key -> channel choice for one target; built once per driver. */
interface Router {
  pick(key: string): Channel;
  close(): void;
}

async function respRouter(spec: DriverSpec, target: Extract<DriverTarget, { kind: 'resp' }>): Promise<Router> {
  const value = 'x'.repeat(spec.valueBytes);
  if (target.routing === 'any') {
    const channels: Channel[] = [];
    for (let i = 0; i < spec.connections; i++) {
      const ep = target.endpoints[i % target.endpoints.length] as Endpoint;
      channels.push(new RespChannel(await connect(ep), spec.op, value));
    }
    let next = 0;
    return {
      pick: () => channels[next++ % channels.length] as Channel,
      close: () => { for (const c of channels) c.close(); },
    };
  }
  const seed = target.endpoints[0];
  if (seed === undefined) throw new Error('no endpoint');
  const table = slotTable(await command(seed.host, seed.port, ['CLUSTER', 'SLOTS']));
  const masters = [...new Map(table.filter((e): e is Endpoint => e !== undefined).map((e) => [`${e.host}:${e.port}`, e])).values()];
  if (masters.length === 0) throw new Error('CLUSTER SLOTS names no node');
  const perMaster = Math.max(1, Math.ceil(spec.connections / masters.length));
  const byMaster = new Map<string, { channels: Channel[]; next: number }>();
  for (const m of masters) {
    const channels: Channel[] = [];
    for (let i = 0; i < perMaster; i++) channels.push(new RespChannel(await connect(m), spec.op, value));
    byMaster.set(`${m.host}:${m.port}`, { channels, next: 0 });
  }
  const bySlot = table.map((e) => (e === undefined ? undefined : byMaster.get(`${e.host}:${e.port}`)));
  return {
    pick: (key) => {
      const g = bySlot[calculateSlot(key)];
      if (g === undefined) throw new Error(`no node serves the slot of ${key}`);
      return g.channels[g.next++ % g.channels.length] as Channel;
    },
    close: () => { for (const g of byMaster.values()) for (const c of g.channels) c.close(); },
  };
}

/** etcd's JSON gateway: one keep-alive agent per member, `connections` sockets in all. */
function etcdRouter(spec: DriverSpec, target: Extract<DriverTarget, { kind: 'etcd' }>): Router {
  const valueB64 = Buffer.alloc(spec.valueBytes, 'x').toString('base64');
  const perMember = Math.max(1, Math.ceil(spec.connections / target.endpoints.length));
  const members = target.endpoints.map((ep) => ({ ep, agent: new Agent({ keepAlive: true, maxSockets: perMember, maxFreeSockets: perMember }) }));
  const path = spec.op === 'set' ? '/v3/kv/put' : '/v3/kv/range';
  let next = 0;
  const channelOf = (m: { ep: Endpoint; agent: Agent }): Channel => ({
    send(key, done) {
      const keyB64 = Buffer.from(key, 'latin1').toString('base64');
      const body = spec.op === 'set' ? `{"key":"${keyB64}","value":"${valueB64}"}` : `{"key":"${keyB64}"}`;
      const req = httpRequest({
        host: m.ep.host, port: m.ep.port, method: 'POST', path, agent: m.agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode === 200) done(undefined);
          else done(`HTTP ${res.statusCode ?? '?'}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`);
        });
        res.on('error', (err) => done(err.message));
      });
      req.on('error', (err) => done(err.message));
      req.end(body);
    },
    close() { m.agent.destroy(); },
  });
  const channels = members.map(channelOf);
  return {
    pick: () => channels[next++ % channels.length] as Channel,
    close: () => { for (const c of channels) c.close(); },
  };
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Runs one driver in this process; resolves when the measured window has ended. */
export async function runDriver(spec: DriverSpec): Promise<DriverResult> {
  if (spec.connections < 1 || spec.keyspace < 1 || spec.durationMs <= 0) throw new RangeError('driver: connections, keyspace and duration must be positive');
  const router = spec.target.kind === 'resp' ? await respRouter(spec, spec.target) : etcdRouter(spec, spec.target);
  try {
    if (spec.startAtMs !== undefined && spec.startAtMs > Date.now()) {
      await new Promise((r) => setTimeout(r, (spec.startAtMs as number) - Date.now()));
    }
    return spec.mode.kind === 'closed' ? await closedLoop(spec, spec.mode, router) : await openLoop(spec, spec.mode, router);
  } finally {
    router.close();
  }
}

/** Shared bookkeeping: the recording window and its counters. */
class Window {
  readonly histogram = newHistogram();
  readonly serviceHistogram = newHistogram();
  ops = 0;
  errors = 0;
  firstError: string | undefined;
  recording = false;
  startUs = 0;
  endUs = 0;
  cpu0 = process.cpuUsage();

  /** Starts recording ops issued (or, open loop, intended) from `startUs` on. */
  begin(startUs = nowUs()): void {
    this.recording = true;
    this.startUs = startUs;
    this.cpu0 = process.cpuUsage();
  }

  /** `startUs`: intended start (open loop) or send time; `sentUs`: when it was written. */
  record(startUs: number, sentUs: number, error: string | undefined): void {
    if (!this.recording) return;
    if (startUs < this.startUs) return; // issued during warm-up
    const now = nowUs();
    this.histogram.recordValue(Math.max(1, Math.min(LATENCY_MAX_US, now - startUs)));
    this.serviceHistogram.recordValue(Math.max(1, Math.min(LATENCY_MAX_US, now - sentUs)));
    this.ops++;
    if (error !== undefined) {
      this.errors++;
      this.firstError ??= error;
    }
  }

  /** Ends the window at `endUs` (default now); later replies are not recorded. */
  finish(backlog: number, endUs = nowUs()): DriverResult {
    this.recording = false;
    this.endUs = endUs;
    const cpu = process.cpuUsage(this.cpu0);
    return {
      ops: this.ops, errors: this.errors, firstError: this.firstError,
      elapsedSec: (this.endUs - this.startUs) / 1e6, cpuSec: (cpu.user + cpu.system) / 1e6,
      backlog, histogram: this.histogram, serviceHistogram: this.serviceHistogram,
    };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function closedLoop(spec: DriverSpec, mode: Extract<DriverMode, { kind: 'closed' }>, router: Router): Promise<DriverResult> {
  const w = new Window();
  let stop = false;
  const loop = async (): Promise<void> => {
    while (!stop) {
      const key = benchKey(Math.floor(Math.random() * spec.keyspace));
      const t0 = nowUs();
      const err = await new Promise<string | undefined>((resolve) => router.pick(key).send(key, resolve));
      w.record(t0, t0, err);
      // A dead connection answers at once: do not spin.
      if (err !== undefined && err.startsWith('connection')) await sleep(10);
    }
  };
  const loops = Array.from({ length: mode.loops }, () => loop());
  await sleep(spec.warmupMs);
  w.begin();
  await sleep(spec.durationMs);
  const result = w.finish(0);
  stop = true;
  await Promise.all(loops);
  return result;
}

async function openLoop(spec: DriverSpec, mode: Extract<DriverMode, { kind: 'open' }>, router: Router): Promise<DriverResult> {
  if (!(mode.rateOpsPerSec > 0) || mode.outstandingMax < 1) throw new RangeError('open loop: rate and outstandingMax must be positive');
  const w = new Window();
  const intervalUs = 1e6 / mode.rateOpsPerSec;
  const t0 = nowUs();
  const warmEndUs = t0 + spec.warmupMs * 1000;
  const endUs = warmEndUs + spec.durationMs * 1000;
  let issued = 0;
  let outstanding = 0;
  let stopped = false;
  const issue = (intendedUs: number): void => {
    const key = benchKey(Math.floor(Math.random() * spec.keyspace));
    outstanding++;
    const sentUs = nowUs();
    router.pick(key).send(key, (err) => {
      outstanding--;
      w.record(intendedUs, sentUs, err);
      pump();
    });
  };
  // Sends every op whose intended time has come, as far as the in-flight bound allows.
  const pump = (): void => {
    if (stopped) return;
    const now = nowUs();
    if (!w.recording && now >= warmEndUs) w.begin(warmEndUs);
    while (outstanding < mode.outstandingMax) {
      const intended = t0 + issued * intervalUs;
      if (intended > now || intended >= endUs) break;
      issued++;
      issue(Math.round(intended));
    }
  };
  while (nowUs() < endUs) {
    pump();
    await sleep(1);
  }
  pump(); // ops intended between the last pump and the end of the window
  stopped = true;
  // Ops in flight at the end still count (their latency is the tail a stall produces); wait
  // for them a bounded time. Ops never sent (backlog) mean the rate was not sustained.
  const drainDeadline = nowUs() + DRAIN_MAX_MS * 1000;
  while (outstanding > 0 && nowUs() < drainDeadline) await sleep(1);
  const due = Math.ceil((endUs - t0) / intervalUs); // intended times t0 + i * interval < endUs
  const result = w.finish(Math.max(0, due - issued) + outstanding, endUs);
  return result;
}

/** How long the open loop waits for in-flight ops after its window. */
const DRAIN_MAX_MS = 5000;
