/** SELECT index: ringkv has one database, 0 (as Redis Cluster). */
import { RingkvError } from '../../../errors/index.js';
import type { CommandSpec } from '../command.js';
import { integerArg } from './util.js';

export const select: CommandSpec = {
  name: 'select',
  arity: 2,
  flags: ['loading', 'stale', 'fast'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@fast', '@connection'],
  summary: 'Changes the selected database.',
  since: '1.0.0',
  group: 'connection',
  handler(ctx, args) {
    const db = integerArg(args[1] as Buffer);
    if (db !== 0) throw new RingkvError('ERR_INVALID_ARGUMENT', 'DB index is out of range');
    ctx.client.db = 0;
    ctx.reply.simple('OK');
  },
};
