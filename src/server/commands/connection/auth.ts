/**
 * AUTH [username] password. The one-argument form with no requirepass configured is an error,
 * exactly as Redis 7 words it; `AUTH default <anything>` succeeds when there is no password.
 */
import { RingkvError } from '../../../errors/index.js';
import type { CommandSpec } from '../command.js';
import { SYNTAX_ERROR, WRONGPASS, credentialsValid } from './util.js';

export const auth: CommandSpec = {
  name: 'auth',
  arity: -2,
  flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@fast', '@connection'],
  summary: 'Authenticates the connection.',
  since: '1.0.0',
  group: 'connection',
  handler(ctx, args) {
    if (args.length > 3) throw SYNTAX_ERROR();
    let user = 'default';
    let password = args[1] as Buffer;
    if (args.length === 2) {
      if (ctx.config.requirepass === '') {
        throw new RingkvError(
          'ERR_INVALID_ARGUMENT',
          'AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
        );
      }
    } else {
      user = (args[1] as Buffer).toString('latin1');
      password = args[2] as Buffer;
    }
    if (!credentialsValid(ctx.config, user, password)) throw WRONGPASS();
    ctx.client.authenticated = true;
    ctx.reply.simple('OK');
  },
};
