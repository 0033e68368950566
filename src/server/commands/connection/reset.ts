/**
 * RESET: back to a fresh connection's state (no transaction, RESP2, no name, db 0, CLIENT
 * REPLY ON, node-default CONSISTENCY levels, and unauthenticated when a password is set),
 * replying +RESET as Redis does.
 */
import type { CommandSpec } from '../command.js';

export const reset: CommandSpec = {
  name: 'reset',
  arity: 1,
  flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@fast', '@connection'],
  summary: 'Resets the connection.',
  since: '6.2.0',
  group: 'connection',
  handler(ctx) {
    ctx.transaction?.discard();
    const c = ctx.client;
    c.protocol = 2;
    c.name = '';
    c.db = 0;
    c.replyMode = 'on';
    // Cleared in place: the connection's store view holds this object.
    if (c.consistency !== undefined) {
      delete c.consistency.read;
      delete c.consistency.write;
    }
    c.authenticated = ctx.config.requirepass === '';
    ctx.reply.simple('RESET');
  },
};
