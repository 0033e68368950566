/**
 * TTL, PTTL, EXPIRETIME, PEXPIRETIME (-2: no key, -1: no expiry; seconds round half up like
 * Redis's (ttl+500)/1000) and PERSIST.
 */
import { then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { keyArg, spec } from '../strings/common.js';

function ttlGeneric(ms: boolean, absolute: boolean): CommandSpec['handler'] {
  return (ctx: CommandContext, args: Buffer[]) =>
    then(ctx.store.get(keyArg(args, 1)), (e) => {
      if (e === undefined) return ctx.reply.integer(-2);
      if (e.expiresAtMs === 0) return ctx.reply.integer(-1);
      let ttl = absolute ? e.expiresAtMs : e.expiresAtMs - ctx.now();
      if (ttl < 0) ttl = 0;
      ctx.reply.integer(ms ? ttl : Math.floor((ttl + 500) / 1000));
    });
}

function persist(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  return then(
    ctx.store.update(keyArg(args, 1), (cur) => {
      if (cur === undefined || cur.expiresAtMs === 0) return { write: undefined, result: 0 };
      return { write: { kind: 'put' as const, value: cur.value, expiresAtMs: 0 }, result: 1 };
    }),
    (n) => ctx.reply.integer(n),
  );
}

const READ = ['@keyspace', '@read', '@fast'] as const;

export const ttlCommands: CommandSpec[] = [
  spec({ name: 'ttl', arity: 2, flags: ['readonly', 'fast'], categories: READ, summary: 'Get the time to live for a key in seconds', since: '1.0.0', group: 'generic', handler: ttlGeneric(false, false) }),
  spec({ name: 'pttl', arity: 2, flags: ['readonly', 'fast'], categories: READ, summary: 'Get the time to live for a key in milliseconds', since: '2.6.0', group: 'generic', handler: ttlGeneric(true, false) }),
  spec({ name: 'expiretime', arity: 2, flags: ['readonly', 'fast'], categories: READ, summary: 'Get the expiration Unix timestamp for a key', since: '7.0.0', group: 'generic', handler: ttlGeneric(false, true) }),
  spec({ name: 'pexpiretime', arity: 2, flags: ['readonly', 'fast'], categories: READ, summary: 'Get the expiration Unix timestamp for a key in milliseconds', since: '7.0.0', group: 'generic', handler: ttlGeneric(true, true) }),
  spec({ name: 'persist', arity: 2, flags: ['write', 'fast'], categories: ['@keyspace', '@write', '@fast'], summary: 'Remove the expiration from a key', since: '2.2.0', group: 'generic', handler: persist }),
];
