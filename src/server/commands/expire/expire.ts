/**
 * EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with NX / XX / GT / LT, following expire.c
 * expireGenericCommand: options are checked before the time argument, overflow of the unit
 * conversion or of the base-time addition is "invalid expire time in '<command>' command", and a
 * time at or before now deletes the key (reply 1). GT treats "no TTL" as infinite; LT lets any
 * time replace "no TTL".
 */
import { I64_MAX, I64_MIN } from '../../../data/redis-number.js';
import { then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, intArg, keyArg, spec } from '../strings/common.js';

const NX = 1;
const XX = 2;
const GT = 4;
const LT = 8;

function parseFlags(args: readonly Buffer[]): number {
  let flags = 0;
  for (let j = 3; j < args.length; j++) {
    const opt = arg(args, j);
    const s = opt.toString('latin1').toLowerCase();
    if (s === 'nx') flags |= NX;
    else if (s === 'xx') flags |= XX;
    else if (s === 'gt') flags |= GT;
    else if (s === 'lt') flags |= LT;
    else throw ERRORS.invalid(`Unsupported option ${opt.toString('latin1')}`);
  }
  if (flags & NX && flags & (XX | GT | LT)) throw ERRORS.invalid('NX and XX, GT or LT options at the same time are not compatible');
  if (flags & GT && flags & LT) throw ERRORS.invalid('GT and LT options at the same time are not compatible');
  return flags;
}

function expireGeneric(name: string, unit: 's' | 'ms', relative: boolean): CommandSpec['handler'] {
  return (ctx: CommandContext, args: Buffer[]) => {
    const flags = parseFlags(args);
    let when = BigInt(intArg(arg(args, 2)));
    if (unit === 's') {
      if (when > I64_MAX / 1000n || when < I64_MIN / 1000n) throw ERRORS.expireTime(name);
      when *= 1000n;
    }
    const now = ctx.now();
    const base = relative ? BigInt(now) : 0n;
    if (when > I64_MAX - base) throw ERRORS.expireTime(name);
    when += base;
    const whenMs = Number(when);
    return then(
      ctx.store.update(keyArg(args, 1), (cur) => {
        if (cur === undefined) return { write: undefined, result: 0 };
        if (flags !== 0) {
          const current = cur.expiresAtMs === 0 ? -1 : cur.expiresAtMs;
          if (flags & NX && current !== -1) return { write: undefined, result: 0 };
          if (flags & XX && current === -1) return { write: undefined, result: 0 };
          if (flags & GT && (current === -1 || whenMs <= current)) return { write: undefined, result: 0 };
          if (flags & LT && current !== -1 && whenMs >= current) return { write: undefined, result: 0 };
        }
        if (whenMs <= now) return { write: { kind: 'delete' as const }, result: 1 };
        return { write: { kind: 'put' as const, value: cur.value, expiresAtMs: whenMs }, result: 1 };
      }),
      (n) => ctx.reply.integer(n),
    );
  };
}

const CATS = ['@keyspace', '@write', '@fast'] as const;

export const expireCommands: CommandSpec[] = [
  spec({ name: 'expire', arity: -3, flags: ['write', 'fast'], categories: CATS, summary: "Set a key's time to live in seconds", since: '1.0.0', group: 'generic', handler: expireGeneric('expire', 's', true) }),
  spec({ name: 'pexpire', arity: -3, flags: ['write', 'fast'], categories: CATS, summary: "Set a key's time to live in milliseconds", since: '2.6.0', group: 'generic', handler: expireGeneric('pexpire', 'ms', true) }),
  spec({ name: 'expireat', arity: -3, flags: ['write', 'fast'], categories: CATS, summary: 'Set the expiration for a key as a UNIX timestamp', since: '1.2.0', group: 'generic', handler: expireGeneric('expireat', 's', false) }),
  spec({ name: 'pexpireat', arity: -3, flags: ['write', 'fast'], categories: CATS, summary: 'Set the expiration for a key as a UNIX timestamp specified in milliseconds', since: '2.6.0', group: 'generic', handler: expireGeneric('pexpireat', 'ms', false) }),
];
