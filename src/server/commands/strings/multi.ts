/**
 * MGET, MSET, MSETNX. MSET and MSETNX are atomic on one node (one engine batch); MSETNX writes
 * nothing when any key exists. Duplicate keys behave as in Redis: the last value wins.
 */
import { then } from '../../../util/maybe-promise.js';
import type { KeyWrite } from '../../../data/kv-store.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, keyArg, retain, spec } from './common.js';

function mget(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const keys: string[] = new Array<string>(args.length - 1);
  for (let i = 1; i < args.length; i++) keys[i - 1] = keyArg(args, i);
  return then(ctx.store.getMany(keys), (entries) => {
    ctx.reply.array(entries.length);
    for (const e of entries) {
      ctx.countHit(e !== undefined);
      if (e === undefined) ctx.reply.nil();
      else ctx.reply.bulk(e.value);
    }
  });
}

function pairs(args: Buffer[], name: string): [string, Buffer][] {
  if (args.length % 2 === 0) throw ERRORS.wrongArgs(name);
  const out: [string, Buffer][] = [];
  for (let i = 1; i < args.length; i += 2) out.push([keyArg(args, i), retain(arg(args, i + 1))]);
  return out;
}

function mset(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  return then(ctx.store.putMany(pairs(args, 'mset')), () => ctx.reply.simple('OK'));
}

function msetnx(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const entries = pairs(args, 'msetnx');
  const keys = entries.map((e) => e[0]);
  return then(
    ctx.store.updateMany(keys, (current) => {
      if (current.some((e) => e !== undefined)) return { writes: keys.map((): KeyWrite => undefined), result: 0 };
      return { writes: entries.map(([, value]): KeyWrite => ({ kind: 'put', value, expiresAtMs: 0 })), result: 1 };
    }),
    (n) => ctx.reply.integer(n),
  );
}

export const multiCommands: CommandSpec[] = [
  spec({ name: 'mget', arity: -2, flags: ['readonly', 'fast'], lastKey: -1, categories: ['@read', '@string', '@fast'], summary: 'Get the values of all the given keys', since: '1.0.0', group: 'string', handler: mget }),
  spec({ name: 'mset', arity: -3, flags: ['write', 'denyoom'], lastKey: -1, keyStep: 2, categories: ['@write', '@string', '@slow'], summary: 'Set multiple keys to multiple values', since: '1.0.1', group: 'string', handler: mset }),
  spec({ name: 'msetnx', arity: -3, flags: ['write', 'denyoom'], lastKey: -1, keyStep: 2, categories: ['@write', '@string', '@slow'], summary: 'Set multiple keys to multiple values, only if none of the keys exist', since: '1.0.1', group: 'string', handler: msetnx }),
];
