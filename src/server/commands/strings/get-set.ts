/**
 * GET, SET (EX PX EXAT PXAT NX XX KEEPTTL GET), SETNX, SETEX, PSETEX, GETSET, GETDEL, GETEX.
 * Option parsing follows t_string.c parseExtendedStringArgumentsOrReply exactly: a repeated or
 * conflicting option is a syntax error, options are case-insensitive, expire errors name the
 * command ("invalid expire time in 'set' command").
 */
import type { Expiry, KvEntry, PutResult } from '../../../data/kv-store.js';
import { isPromise, then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, expireArgMs, keyArg, retain, spec, type ExpireUnit } from './common.js';

const STRING = ['@write', '@string'] as const;
const STRING_READ = ['@read', '@string', '@fast'] as const;

const F_NX = 1;
const F_XX = 2;
const F_GET = 4;
const F_KEEPTTL = 8;
const F_PERSIST = 16;
const F_EX = 32;
const F_PX = 64;
const F_EXAT = 128;
const F_PXAT = 256;
const F_ANY_EXPIRE = F_EX | F_PX | F_EXAT | F_PXAT;

interface ParsedOptions {
  flags: number;
  expire: Buffer | undefined;
}

function lowerCode(b: Buffer, i: number): number {
  const c = b[i];
  if (c === undefined) return 0;
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** parseExtendedStringArgumentsOrReply; `forSet` false = GETEX. */
function parseOptions(args: readonly Buffer[], forSet: boolean): ParsedOptions {
  let flags = 0;
  let expire: Buffer | undefined;
  for (let j = forSet ? 3 : 2; j < args.length; j++) {
    const opt = arg(args, j);
    const next = j === args.length - 1 ? undefined : args[j + 1];
    const len = opt.length;
    const c0 = lowerCode(opt, 0);
    const c1 = lowerCode(opt, 1);
    const c2 = lowerCode(opt, 2);
    const c3 = lowerCode(opt, 3);
    if (len === 2 && c0 === 110 && c1 === 120 && !(flags & F_XX) && forSet) { // nx
      flags |= F_NX;
    } else if (len === 2 && c0 === 120 && c1 === 120 && !(flags & F_NX) && forSet) { // xx
      flags |= F_XX;
    } else if (len === 3 && c0 === 103 && c1 === 101 && c2 === 116 && forSet) { // get
      flags |= F_GET;
    } else if (len === 7 && opt.toString('latin1').toLowerCase() === 'keepttl' && !(flags & (F_PERSIST | F_ANY_EXPIRE)) && forSet) {
      flags |= F_KEEPTTL;
    } else if (len === 7 && opt.toString('latin1').toLowerCase() === 'persist' && !forSet && !(flags & (F_ANY_EXPIRE | F_KEEPTTL))) {
      flags |= F_PERSIST;
    } else if (len === 2 && c0 === 101 && c1 === 120 && !(flags & (F_KEEPTTL | F_PERSIST | F_EXAT | F_PX | F_PXAT)) && next) { // ex
      flags |= F_EX;
      expire = next;
      j++;
    } else if (len === 2 && c0 === 112 && c1 === 120 && !(flags & (F_KEEPTTL | F_PERSIST | F_EX | F_EXAT | F_PXAT)) && next) { // px
      flags |= F_PX;
      expire = next;
      j++;
    } else if (len === 4 && c0 === 101 && c1 === 120 && c2 === 97 && c3 === 116 && !(flags & (F_KEEPTTL | F_PERSIST | F_EX | F_PX | F_PXAT)) && next) { // exat
      flags |= F_EXAT;
      expire = next;
      j++;
    } else if (len === 4 && c0 === 112 && c1 === 120 && c2 === 97 && c3 === 116 && !(flags & (F_KEEPTTL | F_PERSIST | F_EX | F_EXAT | F_PX)) && next) { // pxat
      flags |= F_PXAT;
      expire = next;
      j++;
    } else {
      throw ERRORS.syntax();
    }
  }
  return { flags, expire };
}

function unitOf(flags: number): ExpireUnit {
  if (flags & F_EX) return 'ex';
  if (flags & F_PX) return 'px';
  if (flags & F_EXAT) return 'exat';
  return 'pxat';
}

function replyBulkOrNil(ctx: CommandContext, e: KvEntry | undefined): void {
  if (e === undefined) ctx.reply.nil();
  else ctx.reply.bulk(e.value);
}

function replyGet(ctx: CommandContext, e: KvEntry | undefined): void {
  ctx.countHit(e !== undefined);
  if (e === undefined) ctx.reply.nil();
  else ctx.reply.bulk(e.value);
}

// GET and plain SET are the hot path: no closure or promise unless the engine is asynchronous.
function get(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const e = ctx.store.get(keyArg(args, 1));
  if (isPromise(e)) return e.then((v) => replyGet(ctx, v));
  replyGet(ctx, e);
}

function setHandler(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const key = keyArg(args, 1);
  const value = retain(arg(args, 2));
  if (args.length === 3) {
    const r = ctx.store.put(key, value);
    if (isPromise(r)) return r.then(() => ctx.reply.simple('OK'));
    ctx.reply.simple('OK');
    return;
  }
  const { flags, expire } = parseOptions(args, true);
  let expiry: Expiry | undefined;
  if (expire !== undefined) expiry = { kind: 'at', atMs: expireArgMs(expire, unitOf(flags), ctx.now(), 'set') };
  else if (flags & F_KEEPTTL) expiry = { kind: 'keep' };
  const wantGet = (flags & F_GET) !== 0;
  const condition = flags & F_NX ? 'nx' : flags & F_XX ? 'xx' : undefined;
  return then(ctx.store.put(key, value, { expiry, condition, returnPrevious: wantGet }), (r: PutResult) => {
    if (wantGet) replyBulkOrNil(ctx, r.previous);
    else if (r.written) ctx.reply.simple('OK');
    else ctx.reply.nil();
  });
}

function setnx(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  return then(ctx.store.put(keyArg(args, 1), retain(arg(args, 2)), { condition: 'nx' }), (r) => ctx.reply.integer(r.written ? 1 : 0));
}

function setexFamily(unit: 'ex' | 'px', name: string): CommandSpec['handler'] {
  return (ctx, args) => {
    const atMs = expireArgMs(arg(args, 2), unit, ctx.now(), name);
    return then(ctx.store.put(keyArg(args, 1), retain(arg(args, 3)), { expiry: { kind: 'at', atMs } }), () => ctx.reply.simple('OK'));
  };
}

function getset(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  return then(ctx.store.put(keyArg(args, 1), retain(arg(args, 2)), { returnPrevious: true }), (r) => replyBulkOrNil(ctx, r.previous));
}

function getdel(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  return then(
    ctx.store.update(keyArg(args, 1), (cur) => ({ write: cur === undefined ? undefined : { kind: 'delete' as const }, result: cur })),
    (e) => replyBulkOrNil(ctx, e),
  );
}

function getex(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const { flags, expire } = parseOptions(args, false);
  const persist = (flags & F_PERSIST) !== 0;
  const now = ctx.now();
  return then(
    ctx.store.update(keyArg(args, 1), (cur) => {
      if (cur === undefined) return { write: undefined, result: cur };
      if (expire !== undefined) {
        // As in Redis, the time is validated only once the key is known to exist.
        const atMs = expireArgMs(expire, unitOf(flags), now, 'getex');
        // checkAlreadyExpired: a time at or before now deletes the key (after replying its value).
        if (atMs <= now) return { write: { kind: 'delete' as const }, result: cur };
        return { write: { kind: 'put' as const, value: cur.value, expiresAtMs: atMs }, result: cur };
      }
      if (persist && cur.expiresAtMs !== 0) return { write: { kind: 'put' as const, value: cur.value, expiresAtMs: 0 }, result: cur };
      return { write: undefined, result: cur };
    }),
    (e) => {
      ctx.countHit(e !== undefined);
      replyBulkOrNil(ctx, e);
    },
  );
}

export const getSetCommands: CommandSpec[] = [
  spec({ name: 'get', arity: 2, flags: ['readonly', 'fast'], categories: STRING_READ, summary: 'Get the value of a key', since: '1.0.0', group: 'string', handler: get }),
  spec({ name: 'set', arity: -3, flags: ['write', 'denyoom'], categories: ['@write', '@string', '@slow'], summary: 'Set the string value of a key', since: '1.0.0', group: 'string', handler: setHandler }),
  spec({ name: 'setnx', arity: 3, flags: ['write', 'denyoom', 'fast'], categories: [...STRING, '@fast'], summary: 'Set the value of a key, only if the key does not exist', since: '1.0.0', group: 'string', handler: setnx }),
  spec({ name: 'setex', arity: 4, flags: ['write', 'denyoom'], categories: [...STRING, '@slow'], summary: 'Set the value and expiration of a key', since: '2.0.0', group: 'string', handler: setexFamily('ex', 'setex') }),
  spec({ name: 'psetex', arity: 4, flags: ['write', 'denyoom'], categories: [...STRING, '@slow'], summary: 'Set the value and expiration in milliseconds of a key', since: '2.6.0', group: 'string', handler: setexFamily('px', 'psetex') }),
  spec({ name: 'getset', arity: 3, flags: ['write', 'denyoom', 'fast'], categories: [...STRING, '@fast'], summary: 'Set the string value of a key and return its old value', since: '1.0.0', group: 'string', handler: getset }),
  spec({ name: 'getdel', arity: 2, flags: ['write', 'fast'], categories: [...STRING, '@fast'], summary: 'Get the value of a key and delete the key', since: '6.2.0', group: 'string', handler: getdel }),
  spec({ name: 'getex', arity: -2, flags: ['write', 'fast'], categories: [...STRING, '@fast'], summary: 'Get the value of a key and optionally set its expiration', since: '6.2.0', group: 'string', handler: getex }),
];
