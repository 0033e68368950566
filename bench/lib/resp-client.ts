/**
 * The harness's own small RESP2 client: one-off commands (PING, INFO, DBSIZE) and a pipelined
 * bulk loader for the memory scenario, which needs exactly N distinct keys (redis-benchmark's
 * random keys only cover a keyspace after many times N requests).
 *
 * Only RESP2 is read (simple strings, errors, integers, bulk strings, arrays): the harness never
 * sends HELLO 3. Replies are counted, never buffered whole, so a loader of a million keys
 * holds one batch in memory.
 */
import { createConnection, type Socket } from 'node:net';

export type SimpleReply =
  | { kind: 'status' | 'error'; text: string }
  | { kind: 'integer'; value: number }
  | { kind: 'bulk'; text: string | null }
  /** Arrays (CLUSTER SLOTS, CLUSTER NODES callers); null = a nil array. */
  | { kind: 'array'; items: SimpleReply[] | null };

export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parses one reply at `pos`; returns it and the next position, or undefined if incomplete. */
export function readReply(buf: Buffer, pos: number): [SimpleReply, number] | undefined {
  if (pos >= buf.length) return undefined;
  const lineEnd = buf.indexOf('\r\n', pos);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buf[pos] ?? 0);
  const line = buf.toString('utf8', pos + 1, lineEnd);
  switch (type) {
    case '+': return [{ kind: 'status', text: line }, lineEnd + 2];
    case '-': return [{ kind: 'error', text: line }, lineEnd + 2];
    case ':': return [{ kind: 'integer', value: Number(line) }, lineEnd + 2];
    case '$': {
      const n = Number(line);
      if (n < 0) return [{ kind: 'bulk', text: null }, lineEnd + 2];
      const start = lineEnd + 2;
      if (start + n + 2 > buf.length) return undefined;
      return [{ kind: 'bulk', text: buf.toString('utf8', start, start + n) }, start + n + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [{ kind: 'array', items: null }, lineEnd + 2];
      const items: SimpleReply[] = [];
      let p = lineEnd + 2;
      for (let i = 0; i < n; i++) {
        const r = readReply(buf, p);
        if (!r) return undefined;
        items.push(r[0]);
        p = r[1];
      }
      return [{ kind: 'array', items }, p];
    }
    default:
      throw new Error(`unsupported reply type ${JSON.stringify(type)}`);
  }
}

async function connect(host: string, port: number): Promise<Socket> {
  return await new Promise<Socket>((resolve, reject) => {
    const s = createConnection({ host, port });
    s.once('connect', () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

/** Sends one command on a fresh connection and returns its reply. */
export async function command(host: string, port: number, args: readonly string[], timeoutMs = 10_000): Promise<SimpleReply> {
  const s = await connect(host, port);
  try {
    return await new Promise<SimpleReply>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => reject(new Error(`${args[0] ?? ''}: no reply within ${timeoutMs} ms`)), timeoutMs);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        try {
          const r = readReply(buf, 0);
          if (r) { clearTimeout(timer); resolve(r[0]); }
        } catch (err) {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      s.once('error', (err) => { clearTimeout(timer); reject(err); });
      s.once('close', () => { clearTimeout(timer); reject(new Error(`${args[0] ?? ''}: connection closed`)); });
      s.write(encodeCommand(args));
    });
  } finally {
    s.destroy();
  }
}

/** `INFO [section]` parsed into field -> value. */
export async function info(host: string, port: number, section?: string): Promise<Map<string, string>> {
  const r = await command(host, port, section === undefined ? ['INFO'] : ['INFO', section]);
  const out = new Map<string, string>();
  if (r.kind !== 'bulk' || r.text === null) return out;
  for (const line of r.text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

/** Keys of the form key:%012d, the same 16-byte shape redis-benchmark's key:__rand_int__ uses. */
export function loaderKey(i: number): string {
  return `key:${String(i).padStart(12, '0')}`;
}

export interface LoadResult {
  okReplies: number;
  errorReplies: number;
  firstError: string | undefined;
  wallSec: number;
}

/**
 * SETs keys 0..count-1 (loaderKey) to `valueBytes`-byte values over one connection, `batch`
 * commands per write, with at most `window` batches unanswered (enough to keep the server busy,
 * bounded so neither side buffers the whole load).
 */
export async function loadKeys(host: string, port: number, opts: {
  count: number; valueBytes: number; batch: number; window?: number;
  /** The i-th key sent (default loaderKey(i)); must be as long as loaderKey's keys. */
  keyAt?: (i: number) => string;
}): Promise<LoadResult> {
  const keyAt = opts.keyAt ?? loaderKey;
  const s = await connect(host, port);
  s.setNoDelay(true);
  const window = opts.window ?? 4;
  const value = Buffer.alloc(opts.valueBytes, 'v');
  // Every command is this head, a 16-byte key, then this tail: built once, copied per key.
  const head = Buffer.from(`*3\r\n$3\r\nSET\r\n$${loaderKey(0).length}\r\n`);
  const tail = Buffer.concat([Buffer.from(`\r\n$${value.length}\r\n`), value, Buffer.from('\r\n')]);
  const perCommand = head.length + loaderKey(0).length + tail.length;
  const started = process.hrtime.bigint();
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  let failure: Error | undefined;
  let waiter: { until: number; resolve: () => void } | undefined;
  const wake = (): void => {
    if (waiter && (ok + errors >= waiter.until || failure)) { const w = waiter; waiter = undefined; w.resolve(); }
  };
  const answered = async (until: number): Promise<void> => {
    if (ok + errors >= until || failure) return;
    await new Promise<void>((resolve) => { waiter = { until, resolve }; });
  };
  try {
    let pending: Buffer = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
      let pos = 0;
      for (;;) {
        const r = readReply(pending, pos);
        if (!r) break;
        const [reply, next] = r;
        pos = next;
        if (reply.kind === 'status' && reply.text === 'OK') ok++;
        else {
          errors++;
          firstError ??= reply.kind === 'error' || reply.kind === 'status' ? reply.text : JSON.stringify(reply);
        }
      }
      pending = pending.subarray(pos);
      wake();
    });
    s.on('error', (err) => { failure = err; wake(); });
    s.on('close', () => { failure ??= new Error('connection closed during load'); wake(); });
    let sent = 0;
    for (let i = 0; i < opts.count; i += opts.batch) {
      const n = Math.min(opts.batch, opts.count - i);
      const out = Buffer.allocUnsafe(n * perCommand);
      let p = 0;
      for (let j = 0; j < n; j++) {
        p += head.copy(out, p);
        const key = keyAt(i + j);
        if (key.length !== loaderKey(0).length) throw new RangeError(`loader keys must be ${loaderKey(0).length} bytes: ${key}`);
        p += out.write(key, p, 'latin1');
        p += tail.copy(out, p);
      }
      s.write(out);
      sent += n;
      await answered(sent - window * opts.batch);
      if (failure) throw failure;
    }
    await answered(sent);
    if (failure) throw failure;
  } finally {
    s.destroy();
  }
  return { okReplies: ok, errorReplies: errors, firstError, wallSec: Number(process.hrtime.bigint() - started) / 1e9 };
}

/**
 * GETs keys 0..count-1 (keyAt) over one connection, `batch` per pipelined write, and counts the
 * replies that are not `expected` (missing keys, other values, errors).
 */
export async function countMismatches(host: string, port: number, opts: { count: number; expected: string; batch: number; keyAt?: (i: number) => string }): Promise<number> {
  const keyAt = opts.keyAt ?? loaderKey;
  const s = await connect(host, port);
  s.setNoDelay(true);
  let mismatches = 0;
  let got = 0;
  let pending: Buffer = Buffer.alloc(0);
  let waiter: (() => void) | undefined;
  let failure: Error | undefined;
  s.on('data', (d: Buffer) => {
    pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
    let pos = 0;
    for (;;) {
      const r = readReply(pending, pos);
      if (!r) break;
      pos = r[1];
      got++;
      if (r[0].kind !== 'bulk' || r[0].text !== opts.expected) mismatches++;
    }
    pending = pending.subarray(pos);
    waiter?.();
  });
  s.on('error', (err) => { failure = err; waiter?.(); });
  s.on('close', () => { failure ??= new Error('connection closed'); waiter?.(); });
  try {
    for (let i = 0; i < opts.count; i += opts.batch) {
      const n = Math.min(opts.batch, opts.count - i);
      s.write(Buffer.concat(Array.from({ length: n }, (_v, j) => encodeCommand(['GET', keyAt(i + j)]))));
      const until = i + n;
      while (got < until && failure === undefined) await new Promise<void>((resolve) => { waiter = resolve; });
      waiter = undefined;
      if (failure !== undefined && got < until) throw failure;
    }
  } finally {
    s.destroy();
  }
  return mismatches;
}
