/**
 * CONFIG GET pattern [pattern ...] / CONFIG SET name value [name value ...] / CONFIG RESETSTAT /
 * CONFIG REWRITE / CONFIG HELP, with Redis 7.0's replies: GET matches glob patterns (case
 * insensitive) over the Redis names in config-params and returns a map (unknown names give an
 * empty map); SET validates every pair through the config schema before applying any.
 */
import { globMatch } from '../../../data/glob-match.js';
import { RingkvError } from '../../../errors/index.js';
import type { CommandSpec } from '../command.js';
import { CONFIG_PARAMS } from './config-params.js';
import { SYNTAX_ERROR } from './util.js';

function sub(name: string, arity: number, summary: string, handler: CommandSpec['handler'], flags: CommandSpec['flags'] = ['admin', 'noscript', 'loading', 'stale']): CommandSpec {
  return {
    name: `config|${name}`,
    arity,
    flags,
    firstKey: 0, lastKey: 0, keyStep: 0,
    categories: ['@admin', '@slow', '@dangerous'],
    summary,
    since: '2.0.0',
    group: 'server',
    handler,
  };
}

const HELP = [
  'CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'GET <pattern>',
  '    Return parameters matching the glob-like <pattern> and their values.',
  'SET <directive> <value>',
  '    Set the configuration <directive> to <value>.',
  'RESETSTAT',
  '    Reset statistics reported by the INFO command.',
  'REWRITE',
  '    Rewrite the configuration file.',
  'HELP',
  '    Print this help.',
];

const subcommands: CommandSpec[] = [
  sub('get', -3, 'Returns the effective values of configuration parameters.', (ctx, args) => {
    const patterns = args.slice(2).map((a) => a.toString('latin1'));
    const config = ctx.config;
    const hits = CONFIG_PARAMS.filter((p) => patterns.some((pat) => globMatch(pat, p.name, true)));
    ctx.reply.map(hits.length);
    for (const p of hits) {
      ctx.reply.bulk(p.name);
      ctx.reply.bulk(p.get(config));
    }
  }),
  sub('set', -4, 'Sets configuration parameters in-flight.', (ctx, args) => {
    if (args.length % 2 !== 0) throw SYNTAX_ERROR();
    const pairs: [string, string][] = [];
    for (let i = 2; i < args.length; i += 2) {
      pairs.push([(args[i] as Buffer).toString('latin1'), (args[i + 1] as Buffer).toString('latin1')]);
    }
    const server = ctx.server;
    if (server.setConfigMany !== undefined) server.setConfigMany(pairs);
    else for (const [n, v] of pairs) server.setConfig(n, v);
    ctx.reply.simple('OK');
  }),
  sub('resetstat', 2, 'Resets the server\'s statistics.', (ctx) => {
    ctx.server.resetStats?.();
    ctx.reply.simple('OK');
  }),
  sub('rewrite', 2, 'Persists the effective configuration to file.', () => {
    throw new RingkvError('ERR_CONFIG', 'The server is running without a config file');
  }),
  sub('help', 2, 'Returns helpful text about the different subcommands.', (ctx) => {
    ctx.reply.array(HELP.length);
    for (const line of HELP) ctx.reply.simple(line);
  }, ['loading', 'stale']),
];

export const config: CommandSpec = {
  name: 'config',
  arity: -2,
  flags: [],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@slow'],
  summary: 'A container for server configuration commands.',
  since: '2.0.0',
  group: 'server',
  subcommands,
  handler() {
    throw SYNTAX_ERROR(); // unreachable: arity -2 always dispatches to a subcommand
  },
};
