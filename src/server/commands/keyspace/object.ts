/**
 * OBJECT ENCODING | FREQ | IDLETIME | REFCOUNT | HELP for string values. Encodings follow
 * Redis's rules for a freshly set string (int when it reads as a 64-bit integer of at most 20
 * chars, embstr up to 44 bytes, raw beyond). Access time and frequency are not exposed by the
 * storage engine interface: IDLETIME and FREQ answer 0 (with Redis's errors when the
 * maxmemory policy says the figure is not tracked), REFCOUNT answers 1.
 */
import { then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { arg, keyArg, spec, stringEncoding } from '../strings/common.js';
import { RingkvError } from '../../../errors/index.js';

const ADJUST = 'Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.';

const HELP = [
  'OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'ENCODING <key>',
  '    Return the kind of internal representation used in order to store the value',
  '    associated with a <key>.',
  'FREQ <key>',
  '    Return the access frequency index of the <key>. The returned integer is',
  '    proportional to the logarithm of the recent access frequency of the key.',
  'IDLETIME <key>',
  '    Return the idle time of the <key>, that is the approximated number of',
  '    seconds elapsed since the last access to the key.',
  'REFCOUNT <key>',
  '    Return the number of references of the value associated with the specified',
  '    <key>.',
  'HELP',
  '    Print this help.',
];

function lookup(what: 'encoding' | 'freq' | 'idletime' | 'refcount'): CommandSpec['handler'] {
  return (ctx: CommandContext, args: Buffer[]) =>
    then(ctx.store.get(keyArg(args, 2)), (e) => {
      if (e === undefined) return ctx.reply.nil();
      const lfu = ctx.config.maxmemoryPolicy.endsWith('-lfu');
      switch (what) {
        case 'encoding': return ctx.reply.bulk(stringEncoding(e.value));
        case 'freq':
          if (!lfu) throw new RingkvError('ERR_INVALID_ARGUMENT', `ERR An LFU maxmemory policy is not selected, access frequency not tracked. ${ADJUST}`);
          return ctx.reply.integer(0);
        case 'idletime':
          if (lfu) throw new RingkvError('ERR_INVALID_ARGUMENT', `ERR An LFU maxmemory policy is selected, idle time not tracked. ${ADJUST}`);
          return ctx.reply.integer(0);
        case 'refcount': return ctx.reply.integer(1);
        default: {
          const never: never = what;
          throw new TypeError(`unknown OBJECT subcommand ${String(never)}`);
        }
      }
    });
}

function help(ctx: CommandContext): void {
  ctx.reply.array(HELP.length);
  for (const line of HELP) ctx.reply.simple(line);
}

const SUB = { flags: ['readonly'] as const, firstKey: 2, lastKey: 2, keyStep: 1, categories: ['@keyspace', '@read', '@slow'], group: 'generic' };

const subcommands: CommandSpec[] = [
  spec({ ...SUB, name: 'object|encoding', arity: 3, summary: 'Inspect the internal encoding of a Redis object', since: '2.2.3', handler: lookup('encoding') }),
  spec({ ...SUB, name: 'object|freq', arity: 3, summary: 'Get the logarithmic access frequency counter of a Redis object', since: '4.0.0', handler: lookup('freq') }),
  spec({ ...SUB, name: 'object|idletime', arity: 3, summary: 'Get the time since a Redis object was last accessed', since: '2.2.3', handler: lookup('idletime') }),
  spec({ ...SUB, name: 'object|refcount', arity: 3, summary: 'Get the number of references to the value of the key', since: '2.2.3', handler: lookup('refcount') }),
  spec({ name: 'object|help', arity: 2, flags: ['loading', 'stale'], firstKey: 0, lastKey: 0, keyStep: 0, categories: ['@keyspace', '@slow'], summary: 'Show helpful text about the different subcommands', since: '6.2.0', group: 'generic', handler: help }),
];

/** The container dispatches itself too, for a dispatcher that does not look at subcommands. */
function object(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  const sub = arg(args, 1).toString('latin1').toLowerCase();
  const s = subcommands.find((c) => c.name === `object|${sub}`);
  if (s === undefined) {
    throw new RingkvError('ERR_SYNTAX', `ERR unknown subcommand '${arg(args, 1).toString('latin1')}'. Try OBJECT HELP.`);
  }
  if ((s.arity > 0 && args.length !== s.arity) || (s.arity < 0 && args.length < -s.arity)) {
    throw new RingkvError('ERR_WRONG_ARGS', `ERR wrong number of arguments for 'object|${sub}' command`);
  }
  return s.handler(ctx, args);
}

export const objectCommands: CommandSpec[] = [
  { ...spec({ name: 'object', arity: -2, flags: [], firstKey: 0, lastKey: 0, keyStep: 0, categories: ['@slow'], summary: 'A container for object introspection commands', since: '2.2.3', group: 'generic', handler: object }), subcommands },
];
