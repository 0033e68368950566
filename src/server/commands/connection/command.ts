/**
 * COMMAND [COUNT | INFO [name...] | DOCS [name...] | GETKEYS cmd args... | LIST [FILTERBY ...] |
 * HELP], built from the CommandSpec data so clients that route or hint by it (redis-py's cluster
 * client, interactive redis-cli) see the real table. Replies follow Redis 7.0's shapes: the
 * 10-element command info (name, arity, flags, first key, last key, step, ACL categories, tips,
 * key specs, subcommands) and the docs map.
 */
import { globMatch } from '../../../data/glob-match.js';
import { RingkvError } from '../../../errors/index.js';
import type { ReplyWriter } from '../../../protocol/resp/reply-writer.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { SYNTAX_ERROR, lower } from './util.js';

/** Key specs derived from first/last/step: one index+range spec, or none. */
function writeKeySpecs(r: ReplyWriter, spec: CommandSpec): void {
  if (spec.firstKey <= 0) {
    r.array(0);
    return;
  }
  const write = spec.flags.includes('write');
  r.array(1);
  r.map(3);
  r.bulk('flags');
  r.set(2);
  r.simple(write ? 'RW' : 'RO');
  r.simple(write ? 'UPDATE' : 'ACCESS');
  r.bulk('begin_search');
  r.map(2);
  r.bulk('type');
  r.bulk('index');
  r.bulk('spec');
  r.map(1);
  r.bulk('index');
  r.integer(spec.firstKey);
  r.bulk('find_keys');
  r.map(2);
  r.bulk('type');
  r.bulk('range');
  r.bulk('spec');
  r.map(3);
  r.bulk('lastkey');
  r.integer(spec.lastKey < 0 ? spec.lastKey : spec.lastKey - spec.firstKey);
  r.bulk('keystep');
  r.integer(spec.keyStep);
  r.bulk('limit');
  r.integer(0);
}

export function writeCommandInfo(r: ReplyWriter, spec: CommandSpec): void {
  r.array(10);
  r.bulk(spec.name);
  r.integer(spec.arity);
  r.set(spec.flags.length);
  for (const f of spec.flags) r.simple(f);
  r.integer(spec.firstKey);
  r.integer(spec.lastKey);
  r.integer(spec.keyStep);
  const cats = spec.categories ?? [];
  r.set(cats.length);
  for (const c of cats) r.simple(c);
  r.set(0); // tips
  writeKeySpecs(r, spec);
  const subs = spec.subcommands ?? [];
  r.array(subs.length);
  for (const s of subs) writeCommandInfo(r, s);
}

function writeDocs(r: ReplyWriter, spec: CommandSpec): void {
  const subs = spec.subcommands ?? [];
  r.map(subs.length > 0 ? 4 : 3);
  r.bulk('summary');
  r.bulk(spec.summary ?? '');
  r.bulk('since');
  r.bulk(spec.since ?? '1.0.0');
  r.bulk('group');
  r.bulk(spec.group ?? 'generic');
  if (subs.length > 0) {
    r.bulk('subcommands');
    r.map(subs.length);
    for (const s of subs) {
      r.bulk(s.name);
      writeDocs(r, s);
    }
  }
}

/** A command by name, "container|sub" names included. */
export function findCommand(ctx: CommandContext, name: string): CommandSpec | undefined {
  const n = name.toLowerCase();
  const bar = n.indexOf('|');
  const table = ctx.server.commands();
  if (bar === -1) return table.get(n);
  const container = table.get(n.slice(0, bar));
  return container?.subcommands?.find((s) => s.name === n);
}

/** Key arguments of a full command line, per its key positions. */
export function commandKeys(spec: CommandSpec, args: readonly Buffer[]): Buffer[] {
  if (spec.firstKey <= 0) return [];
  const last = spec.lastKey < 0 ? args.length + spec.lastKey : spec.lastKey;
  const step = Math.max(1, spec.keyStep);
  const keys: Buffer[] = [];
  for (let i = spec.firstKey; i <= last && i < args.length; i += step) keys.push(args[i] as Buffer);
  return keys;
}

function sub(name: string, arity: number, summary: string, handler: CommandSpec['handler']): CommandSpec {
  return {
    name: `command|${name}`,
    arity,
    flags: ['loading', 'stale'],
    firstKey: 0, lastKey: 0, keyStep: 0,
    categories: ['@slow', '@connection'],
    summary,
    since: '2.8.13',
    group: 'server',
    handler,
  };
}

function allFullNames(ctx: CommandContext): string[] {
  const out: string[] = [];
  for (const spec of ctx.server.commands().values()) {
    out.push(spec.name);
    for (const s of spec.subcommands ?? []) out.push(s.name);
  }
  return out;
}

const HELP = [
  'COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  '(no subcommand)',
  '    Return details about all commands.',
  'COUNT',
  '    Return the total number of commands in this server.',
  'LIST',
  '    Return a list of all commands in this server.',
  'INFO [<command-name> ...]',
  '    Return details about multiple commands.',
  '    If no command names are given, documentation details for all',
  '    commands are returned.',
  'DOCS [<command-name> ...]',
  '    Return documentation details about multiple commands.',
  '    If no command names are given, documentation details for all',
  '    commands are returned.',
  'GETKEYS <full-command>',
  '    Return the keys from a full command.',
  'HELP',
  '    Print this help.',
];

const subcommands: CommandSpec[] = [
  sub('count', 2, 'Returns a count of commands.', (ctx) => {
    ctx.reply.integer(ctx.server.commands().size);
  }),
  sub('info', -2, 'Returns information about one, multiple or all commands.', (ctx, args) => {
    const r = ctx.reply;
    if (args.length === 2) {
      const all = ctx.server.commands();
      r.array(all.size);
      for (const spec of all.values()) writeCommandInfo(r, spec);
      return;
    }
    r.array(args.length - 2);
    for (let i = 2; i < args.length; i++) {
      const spec = findCommand(ctx, (args[i] as Buffer).toString('latin1'));
      if (spec === undefined) r.nil();
      else writeCommandInfo(r, spec);
    }
  }),
  sub('docs', -2, 'Returns documentary information about one, multiple or all commands.', (ctx, args) => {
    const r = ctx.reply;
    let specs: CommandSpec[];
    if (args.length === 2) {
      specs = [...ctx.server.commands().values()];
    } else {
      specs = [];
      for (let i = 2; i < args.length; i++) {
        const spec = findCommand(ctx, (args[i] as Buffer).toString('latin1'));
        if (spec !== undefined) specs.push(spec);
      }
    }
    r.map(specs.length);
    for (const spec of specs) {
      r.bulk(spec.name);
      writeDocs(r, spec);
    }
  }),
  sub('getkeys', -3, 'Extracts the key names from an arbitrary command.', (ctx, args) => {
    const cmdArgs = args.slice(2);
    let spec = ctx.server.commands().get(lower(cmdArgs[0]));
    if (spec === undefined) throw new RingkvError('ERR_INVALID_ARGUMENT', 'Invalid command specified');
    if (spec.subcommands !== undefined && cmdArgs.length >= 2) {
      const full = `${spec.name}|${lower(cmdArgs[1])}`;
      spec = spec.subcommands.find((s) => s.name === full);
      if (spec === undefined) throw new RingkvError('ERR_INVALID_ARGUMENT', 'Invalid command specified');
    }
    if ((spec.arity > 0 && cmdArgs.length !== spec.arity) || cmdArgs.length < -spec.arity) {
      throw new RingkvError('ERR_INVALID_ARGUMENT', 'Invalid number of arguments specified for command');
    }
    const keys = commandKeys(spec, cmdArgs);
    if (keys.length === 0) throw new RingkvError('ERR_INVALID_ARGUMENT', 'The command has no key arguments');
    ctx.reply.array(keys.length);
    for (const k of keys) ctx.reply.bulk(k);
  }),
  sub('list', -2, 'Returns a list of command names.', (ctx, args) => {
    let names = allFullNames(ctx);
    if (args.length > 2) {
      if (args.length !== 5 || lower(args[2]) !== 'filterby') throw SYNTAX_ERROR();
      const kind = lower(args[3]);
      const value = (args[4] as Buffer).toString('latin1');
      if (kind === 'module') {
        names = [];
      } else if (kind === 'aclcat') {
        const cat = `@${value.toLowerCase()}`;
        names = names.filter((n) => findCommand(ctx, n)?.categories?.includes(cat) === true);
      } else if (kind === 'pattern') {
        names = names.filter((n) => globMatch(value, n, true));
      } else {
        throw SYNTAX_ERROR();
      }
    }
    ctx.reply.array(names.length);
    for (const n of names) ctx.reply.bulk(n);
  }),
  sub('help', 2, 'Returns helpful text about the different subcommands.', (ctx) => {
    ctx.reply.array(HELP.length);
    for (const line of HELP) ctx.reply.simple(line);
  }),
];

export const command: CommandSpec = {
  name: 'command',
  arity: -1,
  flags: ['loading', 'stale'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@slow', '@connection'],
  summary: 'Returns detailed information about all commands.',
  since: '2.8.13',
  group: 'server',
  subcommands,
  handler(ctx) {
    const all = ctx.server.commands();
    ctx.reply.array(all.size);
    for (const spec of all.values()) writeCommandInfo(ctx.reply, spec);
  },
};
