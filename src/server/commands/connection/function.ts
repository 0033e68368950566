/**
 * FUNCTION FLUSH / FUNCTION LIST: ringkv has no scripting, so there are never any function
 * libraries. FLUSH [ASYNC|SYNC] therefore succeeds without doing anything and LIST is empty.
 * Clients and test harnesses (Redis's own suite sends FUNCTION FLUSH before every test file)
 * call these as housekeeping; other FUNCTION subcommands are unknown.
 */
import { RingkvError } from '../../../errors/index.js';
import type { CommandSpec } from '../command.js';
import { SYNTAX_ERROR, lower } from './util.js';

const flush: CommandSpec = {
  name: 'function|flush',
  arity: -2,
  flags: ['write', 'noscript'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@write', '@slow', '@scripting'],
  summary: 'Deleting all functions',
  since: '7.0.0',
  group: 'scripting',
  handler(ctx, args) {
    if (args.length > 3) throw SYNTAX_ERROR();
    if (args.length === 3) {
      const mode = lower(args[2]);
      if (mode !== 'async' && mode !== 'sync') throw SYNTAX_ERROR();
    }
    ctx.reply.simple('OK');
  },
};

const list: CommandSpec = {
  name: 'function|list',
  arity: -2,
  flags: ['noscript'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@slow', '@scripting'],
  summary: 'List information about all the functions',
  since: '7.0.0',
  group: 'scripting',
  handler(ctx) {
    ctx.reply.array(0);
  },
};

const subcommands = [flush, list];

export const fn: CommandSpec = {
  name: 'function',
  arity: -2,
  flags: [],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@slow'],
  summary: 'A container for function commands',
  since: '7.0.0',
  group: 'scripting',
  subcommands,
  handler(ctx, args) {
    const name = `function|${lower(args[1])}`;
    const sub = subcommands.find((s) => s.name === name);
    if (sub === undefined) {
      throw new RingkvError('ERR_SYNTAX', `unknown subcommand '${(args[1] as Buffer).toString('latin1')}'. Try FUNCTION HELP.`);
    }
    return sub.handler(ctx, args);
  },
};
