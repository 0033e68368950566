/**
 * DEL, UNLINK (the same here: values are freed by the engine), EXISTS (duplicates count twice,
 * as in Redis), TOUCH, TYPE (we hold only strings: "string" or "none").
 */
import { then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { keyArg, spec } from '../strings/common.js';

function keysFrom(args: Buffer[], first: number): string[] {
  const keys = new Array<string>(args.length - first);
  for (let i = first; i < args.length; i++) keys[i - first] = keyArg(args, i);
  return keys;
}

function del(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  return then(ctx.store.delete(keysFrom(args, 1)), (n) => ctx.reply.integer(n));
}

function exists(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  return then(ctx.store.exists(keysFrom(args, 1)), (n) => ctx.reply.integer(n));
}

function touch(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  return then(ctx.store.touch(keysFrom(args, 1)), (n) => ctx.reply.integer(n));
}

function type(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  return then(ctx.store.exists([keyArg(args, 1)]), (n) => ctx.reply.simple(n > 0 ? 'string' : 'none'));
}

export const delCommands: CommandSpec[] = [
  spec({ name: 'del', arity: -2, flags: ['write'], lastKey: -1, categories: ['@keyspace', '@write', '@slow'], summary: 'Delete a key', since: '1.0.0', group: 'generic', handler: del }),
  spec({ name: 'unlink', arity: -2, flags: ['write', 'fast'], lastKey: -1, categories: ['@keyspace', '@write', '@fast'], summary: 'Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.', since: '4.0.0', group: 'generic', handler: del }),
  spec({ name: 'exists', arity: -2, flags: ['readonly', 'fast'], lastKey: -1, categories: ['@keyspace', '@read', '@fast'], summary: 'Determine if a key exists', since: '1.0.0', group: 'generic', handler: exists }),
  spec({ name: 'touch', arity: -2, flags: ['readonly', 'fast'], lastKey: -1, categories: ['@keyspace', '@read', '@fast'], summary: 'Alters the last access time of a key(s). Returns the number of existing keys specified.', since: '3.2.1', group: 'generic', handler: touch }),
  spec({ name: 'type', arity: 2, flags: ['readonly', 'fast'], categories: ['@keyspace', '@read', '@fast'], summary: 'Determine the type stored at key', since: '1.0.0', group: 'generic', handler: type }),
];
