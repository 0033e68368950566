/** QUIT: reply +OK, then the server closes the connection once the reply is flushed. */
import type { CommandSpec } from '../command.js';

export const quit: CommandSpec = {
  name: 'quit',
  arity: -1,
  flags: ['allow_busy', 'no_auth', 'fast', 'stale', 'loading'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@fast', '@connection'],
  summary: 'Closes the connection.',
  since: '1.0.0',
  group: 'connection',
  handler(ctx) {
    ctx.reply.simple('OK');
    ctx.client.closeAfterReply = true;
  },
};
