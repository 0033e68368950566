/** The connection and server-administration commands, one file per command or family. */
import type { CommandSpec } from '../command.js';
import { auth } from './auth.js';
import { client } from './client.js';
import { command } from './command.js';
import { config } from './config.js';
import { dbsize } from './dbsize.js';
import { debug } from './debug.js';
import { flushall, flushdb } from './flush.js';
import { fn } from './function.js';
import { hello } from './hello.js';
import { info } from './info.js';
import { echo, ping } from './ping.js';
import { quit } from './quit.js';
import { reset } from './reset.js';
import { select } from './select.js';
import { lastsave, time } from './time.js';
import { discard, exec, multi, unwatch, watch } from './transaction.js';

export const commands: CommandSpec[] = [
  ping, echo, hello, auth, quit, select, reset, dbsize, flushdb, flushall, time, lastsave, debug,
  client, command, config, info, fn, multi, exec, discard, watch, unwatch,
];
