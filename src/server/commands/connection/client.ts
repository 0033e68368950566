/**
 * CLIENT and its subcommands (Redis 7.0 replies): ID, GETNAME, SETNAME, SETINFO, LIST, INFO,
 * KILL, NO-EVICT, NO-TOUCH, REPLY, HELP. ringkv has only normal clients of user "default", so
 * TYPE filters other than "normal" match nobody.
 */
import { RingkvError } from '../../../errors/index.js';
import type { ClientInfo, CommandContext, CommandSpec } from '../command.js';
import { BAD_CLIENT_NAME, SYNTAX_ERROR, lower, parseInteger, validClientName } from './util.js';

type Handler = CommandSpec['handler'];

function sub(name: string, arity: number, summary: string, handler: Handler, flags: CommandSpec['flags'] = ['noscript', 'loading', 'stale']): CommandSpec {
  return {
    name: `client|${name}`,
    arity,
    flags,
    firstKey: 0, lastKey: 0, keyStep: 0,
    categories: ['@slow', '@connection'],
    summary,
    since: '2.4.0',
    group: 'connection',
    handler,
  };
}

/** One CLIENT LIST line (7.0 fields plus 7.2's lib-name/lib-ver), without the newline. */
export function clientLine(c: ClientInfo): string {
  return (
    `id=${c.id} addr=${c.addr} laddr=${c.laddr} fd=8 name=${c.name} age=${c.ageSec} idle=${c.idleSec} ` +
    `flags=N db=${c.db} sub=0 psub=0 ssub=0 multi=-1 qbuf=${c.queryBufferBytes ?? 0} qbuf-free=0 argv-mem=0 multi-mem=0 ` +
    `rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=${c.lastCommand} user=default redir=-1 ` +
    `resp=${c.protocol} lib-name=${c.libName} lib-ver=${c.libVersion}`
  );
}

function onOff(ctx: CommandContext, args: Buffer[]): void {
  const v = lower(args[2]);
  if (v !== 'on' && v !== 'off') throw SYNTAX_ERROR();
  ctx.reply.simple('OK');
}

const HELP = [
  'CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'GETNAME',
  '    Return the name of the current connection.',
  'ID',
  '    Return the ID of the current connection.',
  'INFO',
  '    Return information about the current client connection.',
  'KILL <ip:port>',
  '    Kill connection made from <ip:port>.',
  'KILL <option> <value> [<option> <value> [...]]',
  '    Kill connections. Options are:',
  '    * ADDR (<ip:port>|<unixsocket>:0)',
  '      Kill connections made from the specified address',
  '    * LADDR (<ip:port>|<unixsocket>:0)',
  '      Kill connections made to specified local address',
  '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
  '      Kill connections by type.',
  '    * USER <username>',
  '      Kill connections authenticated by <username>.',
  '    * SKIPME (YES|NO)',
  '      Skip killing current connection (default: yes).',
  '    * ID <client-id>',
  '      Kill connections by client id.',
  'LIST [options ...]',
  '    Return information about client connections. Options:',
  '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
  '      Return clients of specified type.',
  'NO-EVICT (ON|OFF)',
  '    Protect current client connection from eviction.',
  'NO-TOUCH (ON|OFF)',
  "    Will not touch LRU/LFU stats when this mode is on.",
  'REPLY (ON|OFF|SKIP)',
  '    Control the replies sent to the current connection.',
  'SETNAME <name>',
  '    Assign the name <name> to the current connection.',
  'SETINFO <LIB-NAME|LIB-VER> <value>',
  '    Set client meta attr.',
  'HELP',
  '    Print this help.',
];

const subcommands: CommandSpec[] = [
  sub('id', 2, 'Returns the unique client ID of the connection.', (ctx) => {
    ctx.reply.integer(ctx.client.id);
  }),
  sub('getname', 2, 'Returns the name of the connection.', (ctx) => {
    if (ctx.client.name === '') ctx.reply.nil();
    else ctx.reply.bulk(ctx.client.name);
  }),
  sub('setname', 3, 'Sets the connection name.', (ctx, args) => {
    const name = args[2] as Buffer;
    if (!validClientName(name)) throw BAD_CLIENT_NAME();
    ctx.client.name = name.toString('latin1');
    ctx.reply.simple('OK');
  }),
  sub('setinfo', 4, 'Sets information specific to the client or connection.', (ctx, args) => {
    const attr = lower(args[2]);
    const value = args[3] as Buffer;
    if (attr !== 'lib-name' && attr !== 'lib-ver') {
      throw new RingkvError('ERR_SYNTAX', `Unrecognized option '${(args[2] as Buffer).toString('latin1')}'`);
    }
    if (!validClientName(value) && value.length > 0) {
      throw new RingkvError('ERR_INVALID_ARGUMENT', `${attr} cannot contain spaces, newlines or special characters.`);
    }
    if (attr === 'lib-name') ctx.client.libName = value.toString('latin1');
    else ctx.client.libVersion = value.toString('latin1');
    ctx.reply.simple('OK');
  }),
  sub('list', -2, 'Lists open connections.', (ctx, args) => {
    let ids: Set<number> | undefined;
    let typeOk = true;
    for (let i = 2; i < args.length; i++) {
      const opt = lower(args[i]);
      if (opt === 'type' && i + 1 < args.length) {
        const t = lower(args[++i]);
        if (t !== 'normal' && t !== 'master' && t !== 'replica' && t !== 'slave' && t !== 'pubsub') {
          throw new RingkvError('ERR_SYNTAX', `Unknown client type '${(args[i] as Buffer).toString('latin1')}'`);
        }
        typeOk = t === 'normal';
      } else if (opt === 'id' && i + 1 < args.length) {
        ids = new Set();
        for (i++; i < args.length; i++) {
          const id = parseInteger(args[i] as Buffer);
          if (id === undefined || id <= 0) throw new RingkvError('ERR_INVALID_ARGUMENT', 'Invalid client ID');
          ids.add(id);
        }
      } else {
        throw SYNTAX_ERROR();
      }
    }
    let text = '';
    if (typeOk) {
      for (const c of ctx.server.listClients()) {
        if (ids !== undefined && !ids.has(c.id)) continue;
        text += clientLine(c) + '\n';
      }
    }
    ctx.reply.verbatim(text);
  }),
  sub('info', 2, 'Returns information about the connection.', (ctx) => {
    const me = ctx.server.listClients().find((c) => c.id === ctx.client.id);
    ctx.reply.verbatim(me === undefined ? '' : clientLine(me) + '\n');
  }),
  sub('kill', -3, 'Terminates open connections.', (ctx, args) => {
    if (args.length === 3) {
      // Old form: CLIENT KILL addr:port, may kill the caller itself.
      const addr = (args[2] as Buffer).toString('latin1');
      const n = ctx.server.killClients({ addr, skipme: false }, ctx.client.id);
      if (n === 0) throw new RingkvError('ERR_INVALID_ARGUMENT', 'No such client');
      ctx.reply.simple('OK');
      return;
    }
    const filter: { id?: number; addr?: string; laddr?: string; skipme?: boolean } = {};
    let matchNone = false;
    for (let i = 2; i < args.length; i += 2) {
      const opt = lower(args[i]);
      const val = args[i + 1];
      if (val === undefined) throw SYNTAX_ERROR();
      const v = val.toString('latin1');
      switch (opt) {
        case 'id': {
          const id = parseInteger(val);
          if (id === undefined || id <= 0) throw new RingkvError('ERR_INVALID_ARGUMENT', 'client-id should be greater than 0');
          filter.id = id;
          break;
        }
        case 'addr': filter.addr = v; break;
        case 'laddr': filter.laddr = v; break;
        case 'type': {
          const t = v.toLowerCase();
          if (t !== 'normal' && t !== 'master' && t !== 'replica' && t !== 'slave' && t !== 'pubsub') {
            throw new RingkvError('ERR_SYNTAX', `Unknown client type '${v}'`);
          }
          if (t !== 'normal') matchNone = true;
          break;
        }
        case 'user':
          if (v !== 'default') throw new RingkvError('ERR_INVALID_ARGUMENT', `No such user '${v}'`);
          break;
        case 'skipme': {
          const t = v.toLowerCase();
          if (t === 'yes') filter.skipme = true;
          else if (t === 'no') filter.skipme = false;
          else throw SYNTAX_ERROR();
          break;
        }
        case 'maxage': {
          const age = parseInteger(val);
          if (age === undefined) throw new RingkvError('ERR_NOT_INTEGER', 'value is not an integer or out of range');
          break;
        }
        default:
          throw SYNTAX_ERROR();
      }
    }
    ctx.reply.integer(matchNone ? 0 : ctx.server.killClients(filter, ctx.client.id));
  }),
  sub('no-evict', 3, 'Sets the client eviction mode of the connection.', onOff),
  sub('no-touch', 3, 'Controls whether commands sent by the client affect the LRU/LFU of accessed keys.', onOff),
  sub('reply', 3, 'Instructs the server whether to reply to commands.', (ctx, args) => {
    const mode = lower(args[2]);
    if (mode === 'on') {
      ctx.client.replyMode = 'on';
      ctx.reply.simple('OK');
    } else if (mode === 'off' || mode === 'skip') {
      ctx.client.replyMode = mode; // no reply, by definition
    } else {
      throw SYNTAX_ERROR();
    }
  }),
  sub('help', 2, 'Returns helpful text about the different subcommands.', (ctx) => {
    ctx.reply.array(HELP.length);
    for (const line of HELP) ctx.reply.simple(line);
  }, ['loading', 'stale']),
];

export const client: CommandSpec = {
  name: 'client',
  arity: -2,
  flags: [],
  firstKey: 0, lastKey: 0, keyStep: 0,
  categories: ['@slow'],
  summary: 'A container for client connection commands.',
  since: '2.4.0',
  group: 'connection',
  subcommands: subcommands,
  handler() {
    // Unreachable: arity -2 means a subcommand is always present and dispatched to.
    throw SYNTAX_ERROR();
  },
};
