/**
 * Test harness for the data commands: runs a command's handler the way the connection does
 * (arity check, RingkvError → error line) against a LocalKvStore on the memory engine with a
 * fake clock, and records the reply as a plain value tree.
 */
import { configSchema, type Config } from '../../src/config/schema.js';
import { LocalKvStore } from '../../src/data/local-kv-store.js';
import { isRingkvError, type RingkvError } from '../../src/errors/index.js';
import type { ReplyWriter } from '../../src/protocol/resp/reply-writer.js';
import type { ClientState, CommandContext, CommandSpec, ServerFacade } from '../../src/server/commands/command.js';
import { commands as expireCommands } from '../../src/server/commands/expire/index.js';
import { commands as keyspaceCommands } from '../../src/server/commands/keyspace/index.js';
import { commands as stringCommands } from '../../src/server/commands/strings/index.js';
import { MemoryEngine } from '../../src/storage/memory/memory-engine.js';
import type { StorageEngine } from '../../src/storage/engine.js';

export type Reply = null | string | number | bigint | Reply[] | { simple: string } | { error: string } | { map: Reply[] };

/** Builds a value tree from ReplyWriter calls: bulk → string (latin1), simple → {simple}. */
export class RecordingWriter implements ReplyWriter {
  readonly protocol = 2 as const;
  readonly top: Reply[] = [];
  private stack: { items: Reply[]; left: number; kind: 'array' | 'map' }[] = [];

  private add(v: Reply): void {
    const cur = this.stack[this.stack.length - 1];
    if (cur === undefined) {
      this.top.push(v);
      return;
    }
    cur.items.push(v);
    cur.left--;
    while (this.stack.length > 0 && (this.stack[this.stack.length - 1] as { left: number }).left === 0) {
      const done = this.stack.pop() as { items: Reply[]; kind: 'array' | 'map' };
      const value: Reply = done.kind === 'map' ? { map: done.items } : done.items;
      const parent = this.stack[this.stack.length - 1];
      if (parent === undefined) this.top.push(value);
      else {
        parent.items.push(value);
        parent.left--;
      }
    }
  }

  private open(n: number, kind: 'array' | 'map'): void {
    if (n === 0) this.add(kind === 'map' ? { map: [] } : []);
    else this.stack.push({ items: [], left: n, kind });
  }

  simple(s: string): void { this.add({ simple: s }); }
  errorLine(line: string): void { this.add({ error: line }); }
  error(e: RingkvError): void { this.add({ error: e.toRespLine() }); }
  integer(n: number | bigint): void { this.add(typeof n === 'bigint' ? n : Number(n)); }
  bulk(b: Buffer | string): void { this.add(typeof b === 'string' ? b : b.toString('latin1')); }
  nil(): void { this.add(null); }
  double(n: number): void { this.add(String(n)); }
  boolean(b: boolean): void { this.add(b ? 1 : 0); }
  array(n: number): void { this.open(n, 'array'); }
  nilArray(): void { this.add(null); }
  map(n: number): void { this.open(n * 2, 'map'); }
  set(n: number): void { this.open(n, 'array'); }
  verbatim(s: string): void { this.add(s); }
  push(n: number): void { this.open(n, 'array'); }
}

export const ALL_COMMANDS: ReadonlyMap<string, CommandSpec> = new Map(
  [...stringCommands, ...expireCommands, ...keyspaceCommands].map((c) => [c.name, c]),
);

export interface Harness {
  store: LocalKvStore;
  engine: StorageEngine;
  config: Config;
  clock: { now: number };
  /** Runs one command; resolves with its single reply. */
  run(...argv: (string | Buffer)[]): Promise<Reply>;
}

export function makeHarness(overrides: Partial<Record<keyof Config, unknown>> = {}, engine?: StorageEngine): Harness {
  const config = configSchema.parse({ engine: 'memory', ...overrides });
  const clock = { now: 1_700_000_000_000 };
  const now = (): number => clock.now;
  const eng = engine ?? new MemoryEngine(config, { now });
  const store = new LocalKvStore({ engine: eng, config, now });
  const client: ClientState = {
    id: 1, name: '', protocol: 2, db: 0, authenticated: true, libName: '', libVersion: '', closeAfterReply: false,
  };
  async function run(...argv: (string | Buffer)[]): Promise<Reply> {
    const args = argv.map((a) => (typeof a === 'string' ? Buffer.from(a, 'latin1') : a));
    const writer = new RecordingWriter();
    const ctx: CommandContext = {
      store, config, client, server: {} as ServerFacade, reply: writer, now, countHit: () => undefined,
    };
    const name = (args[0] as Buffer).toString('latin1').toLowerCase();
    let spec = ALL_COMMANDS.get(name);
    if (spec === undefined) throw new Error(`unknown command ${name}`);
    if (spec.subcommands !== undefined && args.length >= 2) {
      const sub = spec.subcommands.find((s) => s.name === `${name}|${(args[1] as Buffer).toString('latin1').toLowerCase()}`);
      if (sub !== undefined) spec = sub;
    }
    if ((spec.arity > 0 && args.length !== spec.arity) || args.length < -spec.arity) {
      return { error: `ERR wrong number of arguments for '${spec.name}' command` };
    }
    try {
      await spec.handler(ctx, args);
    } catch (e) {
      if (isRingkvError(e)) writer.error(e);
      else throw e;
    }
    if (writer.top.length !== 1) throw new Error(`expected one reply, got ${writer.top.length}`);
    return writer.top[0] as Reply;
  }
  return { store, engine: eng, config, clock, run };
}

export const OK = { simple: 'OK' };
export const err = (line: string): Reply => ({ error: line });
