/**
 * Test harness for the RESP server: an in-process RespServer on 127.0.0.1 port 0 over the
 * memory engine, with a few test-only commands (SLOW answers after a delay, BOOM fails after
 * writing half a reply), and a raw socket client that reads exact byte strings.
 */
import net from 'node:net';
import { defaultConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { LocalKvStore } from '../../src/data/local-kv-store.js';
import type { CommandSpec } from '../../src/server/commands/command.js';
import { defaultCommandTable } from '../../src/server/commands/registry.js';
import { RespServer } from '../../src/server/resp-server.js';
import { MemoryEngine } from '../../src/storage/memory/memory-engine.js';

const testCommands: CommandSpec[] = [
  {
    name: 'slow',
    arity: 3,
    flags: [],
    firstKey: 0, lastKey: 0, keyStep: 0,
    async handler(ctx, args) {
      await new Promise((r) => setTimeout(r, Number((args[1] as Buffer).toString())));
      ctx.reply.bulk(args[2] as Buffer);
    },
  },
  {
    name: 'boom',
    arity: 1,
    flags: [],
    firstKey: 0, lastKey: 0, keyStep: 0,
    handler(ctx) {
      ctx.reply.array(2);
      ctx.reply.bulk('half');
      throw new Error('secret internal detail');
    },
  },
  {
    name: 'asyncboom',
    arity: 1,
    flags: [],
    firstKey: 0, lastKey: 0, keyStep: 0,
    async handler(ctx) {
      ctx.reply.array(2);
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('secret internal detail');
    },
  },
];

export interface TestServer {
  server: RespServer;
  port: number;
  store: LocalKvStore;
  config: Config;
}

export async function startServer(overrides: Record<string, unknown> = {}): Promise<TestServer> {
  const config = defaultConfig({ respPort: 0, engine: 'memory', host: '127.0.0.1', ...overrides });
  const engine = new MemoryEngine();
  await engine.open();
  const store = new LocalKvStore({ engine, config });
  const commands = defaultCommandTable();
  for (const c of testCommands) commands.set(c.name, c);
  const server = new RespServer({ config, store, commands });
  const { port } = await server.listen();
  return { server, port, store, config };
}

export class RawClient {
  private chunks: Buffer[] = [];
  private length = 0;
  private waiters: (() => void)[] = [];
  closed = false;
  readonly closedPromise: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.length += d.length;
      this.wake();
    });
    socket.on('error', () => {});
    this.closedPromise = new Promise((r) => {
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        r();
      });
    });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(s: string | Buffer): void {
    this.socket.write(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
  }

  /** Waits until `n` bytes arrived (or the socket closed / timeout) and takes them. */
  async read(n: number, timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.length < n && !this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.take(n);
  }

  /** Removes and returns up to n buffered bytes. */
  private take(n: number): string {
    const all = Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(out.length);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return out.toString('latin1');
  }

  /** Reads `count` complete RESP2/RESP3 replies (whatever their length) and returns their bytes. */
  async replies(count = 1, timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = Buffer.concat(this.chunks);
      let end = 0;
      for (let i = 0; i < count && end !== -1; i++) end = replyEnd(all, end);
      if (end !== -1) return this.take(end);
      if (this.closed || Date.now() >= deadline) return this.take(this.length);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  /** Reads exactly as many bytes as `expected` has. */
  expect(expected: string, timeoutMs?: number): Promise<string> {
    return this.read(Buffer.byteLength(expected, 'latin1'), timeoutMs);
  }

  /** Everything that arrives until the server closes the connection. */
  async readToClose(timeoutMs = 3000): Promise<string> {
    await Promise.race([this.closedPromise, new Promise((r) => setTimeout(r, timeoutMs))]);
    return this.take(this.length);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Offset just past the RESP reply starting at `at`, or -1 when it is incomplete. */
export function replyEnd(b: Buffer, at: number): number {
  const cr = b.indexOf('\r\n', at);
  if (cr === -1 || at >= b.length) return -1;
  const type = String.fromCharCode(b[at] ?? 0);
  const line = b.toString('latin1', at + 1, cr);
  const next = cr + 2;
  switch (type) {
    case '$': case '=': case '!': {
      const n = Number(line);
      if (n < 0) return next;
      return b.length >= next + n + 2 ? next + n + 2 : -1;
    }
    case '*': case '~': case '>': case '%': case '|': {
      let n = Number(line);
      if (n < 0) return next;
      if (type === '%' || type === '|') n *= 2;
      let end = next;
      for (let i = 0; i < n; i++) {
        end = replyEnd(b, end);
        if (end === -1) return -1;
      }
      return end;
    }
    default:
      return next;
  }
}

export function cmd(...args: string[]): string {
  let s = `*${args.length}\r\n`;
  for (const a of args) s += `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`;
  return s;
}
