/** DBSIZE: number of live keys. */
import { isPromise } from '../../../util/maybe-promise.js';
import type { CommandSpec } from '../command.js';

export const dbsize: CommandSpec = {
  name: 'dbsize',
  arity: 1,
  flags: ['readonly', 'fast'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@keyspace', '@read', '@fast'],
  summary: 'Returns the number of keys in the database.',
  since: '1.0.0',
  group: 'server',
  handler(ctx) {
    const n = ctx.store.count();
    if (isPromise(n)) return n.then((v) => ctx.reply.integer(v));
    ctx.reply.integer(n);
  },
};
