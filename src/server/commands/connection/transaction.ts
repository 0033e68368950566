/**
 * MULTI, EXEC, DISCARD (Redis 7.0 replies). The connection owns the transaction state
 * (ctx.transaction): while MULTI is open it answers +QUEUED and queues commands; a command that
 * fails to queue (unknown, wrong arity, NOAUTH) makes EXEC answer EXECABORT; EXEC runs the queue
 * with no command of any other connection in between and replies an array of their replies
 * (a failing command's error is its element; the others still run, as in Redis).
 * WATCH/UNWATCH: EXEC answers a null array when a watched key's value or expiry changed since
 * WATCH (compared inside EXEC's exclusive section). Unlike Redis, rewriting a key with the very
 * same value and expiry does not count as a change.
 */
import { RingkvError } from '../../../errors/index.js';
import { then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec, TransactionControl } from '../command.js';

function control(ctx: CommandContext): TransactionControl {
  const tx = ctx.transaction;
  if (tx === undefined) throw new RingkvError('ERR_SYNTAX', 'transactions are not available on this connection');
  return tx;
}

export const multi: CommandSpec = {
  name: 'multi',
  arity: 1,
  flags: ['noscript', 'loading', 'stale', 'fast', 'allow_busy'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@fast', '@transaction'],
  summary: 'Starts a transaction.',
  since: '1.2.0',
  group: 'transactions',
  handler(ctx) {
    control(ctx).begin();
    ctx.reply.simple('OK');
  },
};

export const exec: CommandSpec = {
  name: 'exec',
  arity: 1,
  flags: ['noscript', 'loading', 'stale'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@slow', '@transaction'],
  summary: 'Executes all commands in a transaction.',
  since: '1.2.0',
  group: 'transactions',
  handler(ctx) {
    return control(ctx).exec();
  },
};

export const discard: CommandSpec = {
  name: 'discard',
  arity: 1,
  flags: ['noscript', 'loading', 'stale', 'fast', 'allow_busy'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@fast', '@transaction'],
  summary: 'Discards a transaction.',
  since: '2.0.0',
  group: 'transactions',
  handler(ctx) {
    if (!control(ctx).discard()) throw new RingkvError('ERR_SYNTAX', 'DISCARD without MULTI');
    ctx.reply.simple('OK');
  },
};

export const watch: CommandSpec = {
  name: 'watch',
  arity: -2,
  flags: ['noscript', 'loading', 'stale', 'fast', 'allow_busy'],
  firstKey: 1, lastKey: -1, keyStep: 1,
  categories: ['@fast', '@transaction'],
  summary: 'Monitors changes to keys to determine the execution of a transaction.',
  since: '2.2.0',
  group: 'transactions',
  handler(ctx, args) {
    return then(control(ctx).watch(args.slice(1)), () => ctx.reply.simple('OK'));
  },
};

export const unwatch: CommandSpec = {
  name: 'unwatch',
  arity: 1,
  flags: ['noscript', 'loading', 'stale', 'fast', 'allow_busy'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@fast', '@transaction'],
  summary: 'Forgets about watched keys of a transaction.',
  since: '2.2.0',
  group: 'transactions',
  handler(ctx) {
    control(ctx).unwatch();
    ctx.reply.simple('OK');
  },
};
