/**
 * HELLO [protover [AUTH username password] [SETNAME clientname]]: switches RESP2/RESP3 and
 * replies the server map, as Redis 7.0 does.
 *
 * The map says server "redis" and version "7.0.15" on purpose: clients (node-redis, redis-py,
 * ioredis) gate features on those fields, and ringkv implements the 7.0 protocol. ringkv's own
 * name and version are in INFO server (ringkv_version).
 */
import { RingkvError } from '../../../errors/index.js';
import type { CommandSpec } from '../command.js';
import { BAD_CLIENT_NAME, WRONGPASS, credentialsValid, lower, parseInteger, validClientName } from './util.js';

export const REDIS_COMPAT_VERSION = '7.0.15';

export const hello: CommandSpec = {
  name: 'hello',
  arity: -1,
  flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@fast', '@connection'],
  summary: 'Handshakes with the Redis server.',
  since: '6.0.0',
  group: 'connection',
  handler(ctx, args) {
    let protocol: 2 | 3 | undefined;
    let next = 1;
    if (args.length >= 2) {
      const v = parseInteger(args[1] as Buffer);
      next = 2;
      if (v === undefined) throw new RingkvError('ERR_NOT_INTEGER', 'Protocol version is not an integer or out of range');
      if (v !== 2 && v !== 3) throw new RingkvError('ERR_NO_PROTO', 'NOPROTO unsupported protocol version');
      protocol = v;
    }
    let user: string | undefined;
    let password: Buffer | undefined;
    let name: Buffer | undefined;
    for (let j = next; j < args.length; j++) {
      const more = args.length - 1 - j;
      const opt = lower(args[j]);
      if (opt === 'auth' && more >= 2) {
        user = (args[j + 1] as Buffer).toString('latin1');
        password = args[j + 2] as Buffer;
        j += 2;
      } else if (opt === 'setname' && more >= 1) {
        name = args[j + 1] as Buffer;
        j++;
      } else {
        throw new RingkvError('ERR_SYNTAX', `Syntax error in HELLO option '${(args[j] as Buffer).toString('latin1')}'`);
      }
    }
    if (user !== undefined && password !== undefined) {
      if (!credentialsValid(ctx.config, user, password)) throw WRONGPASS();
      ctx.client.authenticated = true;
    }
    if (ctx.config.requirepass !== '' && !ctx.client.authenticated) {
      throw new RingkvError(
        'ERR_NO_AUTH',
        'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
      );
    }
    if (name !== undefined) {
      if (!validClientName(name)) throw BAD_CLIENT_NAME();
      ctx.client.name = name.toString('latin1');
    }
    // The writer reads the protocol from the client state, so this reply is already in it.
    if (protocol !== undefined) ctx.client.protocol = protocol;
    const r = ctx.reply;
    r.map(7);
    r.bulk('server');
    r.bulk('redis');
    r.bulk('version');
    r.bulk(REDIS_COMPAT_VERSION);
    r.bulk('proto');
    r.integer(ctx.client.protocol);
    r.bulk('id');
    r.integer(ctx.client.id);
    r.bulk('mode');
    r.bulk('standalone');
    r.bulk('role');
    r.bulk('master');
    r.bulk('modules');
    r.array(0);
  },
};
