/** DEBUG: no subcommands are implemented; every use gets Redis's unknown-subcommand error. */
import { RingkvError } from '../../../errors/index.js';
import type { CommandSpec } from '../command.js';

export const debug: CommandSpec = {
  name: 'debug',
  arity: -2,
  flags: ['admin', 'noscript', 'loading', 'stale'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@admin', '@slow', '@dangerous'],
  summary: 'A container for debugging commands.',
  since: '1.0.0',
  group: 'server',
  handler(_ctx, args) {
    const sub = (args[1] as Buffer).toString('latin1');
    throw new RingkvError('ERR_SYNTAX', `unknown subcommand '${sub.slice(0, 128)}'. Try DEBUG HELP.`);
  },
};
