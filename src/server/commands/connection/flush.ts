/**
 * FLUSHDB / FLUSHALL [ASYNC|SYNC]: ringkv has one database, so both empty the store. The reply
 * is sent once the store is empty, whichever mode was asked for.
 */
import type { CommandSpec } from '../command.js';
import { SYNTAX_ERROR, lower } from './util.js';

function flushCommand(name: 'flushdb' | 'flushall', summary: string): CommandSpec {
  return {
    name,
    arity: -1,
    flags: ['write'],
    firstKey: 0, lastKey: 0, keyStep: 0,
    categories: ['@keyspace', '@write', '@slow', '@dangerous'],
    summary,
    since: '1.0.0',
    group: 'server',
    async handler(ctx, args) {
      if (args.length > 2) throw SYNTAX_ERROR();
      if (args.length === 2) {
        const mode = lower(args[1]);
        if (mode !== 'async' && mode !== 'sync') throw SYNTAX_ERROR();
      }
      await ctx.store.flush();
      ctx.reply.simple('OK');
    },
  };
}

export const flushdb = flushCommand('flushdb', 'Removes all keys from the current database.');
export const flushall = flushCommand('flushall', 'Removes all keys from all databases.');
