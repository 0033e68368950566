/** TIME and LASTSAVE. ringkv does not take snapshots; LASTSAVE reports the start time. */
import type { CommandSpec } from '../command.js';

export const time: CommandSpec = {
  name: 'time',
  arity: 1,
  flags: ['loading', 'stale', 'fast'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@fast'],
  summary: 'Returns the server time.',
  since: '2.6.0',
  group: 'server',
  handler(ctx) {
    const ms = ctx.now();
    const sec = Math.floor(ms / 1000);
    // Sub-millisecond digits from the monotonic clock keep successive replies distinct.
    const micros = (ms - sec * 1000) * 1000 + Math.floor((performance.now() % 1) * 1000);
    ctx.reply.array(2);
    ctx.reply.bulk(String(sec));
    ctx.reply.bulk(String(Math.min(999_999, Math.floor(micros))));
  },
};

export const lastsave: CommandSpec = {
  name: 'lastsave',
  arity: 1,
  flags: ['loading', 'stale', 'fast'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@admin', '@fast', '@dangerous'],
  summary: 'Returns the Unix timestamp of the last successful save to disk.',
  since: '1.0.0',
  group: 'server',
  handler(ctx) {
    ctx.reply.integer(Math.floor(ctx.server.startedAtMs / 1000));
  },
};
