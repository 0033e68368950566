/**
 * The keyspace commands (Redis's "generic" group, minus expiry).
 */
import type { CommandSpec } from '../command.js';
import { delCommands } from './del.js';
import { objectCommands } from './object.js';
import { renameCommands } from './rename.js';
import { scanCommands } from './scan.js';

export const commands: CommandSpec[] = [...delCommands, ...scanCommands, ...renameCommands, ...objectCommands];
