/** PING [message] and ECHO message. */
import { RingkvError } from '../../../errors/index.js';
import type { CommandSpec } from '../command.js';

export const ping: CommandSpec = {
  name: 'ping',
  arity: -1,
  flags: ['fast', 'stale'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@fast', '@connection'],
  summary: 'Returns the server\'s liveliness response.',
  since: '1.0.0',
  group: 'connection',
  handler(ctx, args) {
    if (args.length > 2) throw new RingkvError('ERR_WRONG_ARGS', "wrong number of arguments for 'ping' command");
    const msg = args[1];
    if (msg === undefined) ctx.reply.simple('PONG');
    else ctx.reply.bulk(msg);
  },
};

export const echo: CommandSpec = {
  name: 'echo',
  arity: 2,
  flags: ['fast'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@fast', '@connection'],
  summary: 'Returns the given string.',
  since: '1.0.0',
  group: 'connection',
  handler(ctx, args) {
    ctx.reply.bulk(args[1] as Buffer);
  },
};
