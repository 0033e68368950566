/**
 * The TTL commands (Redis's "generic" group, expiry part).
 */
import type { CommandSpec } from '../command.js';
import { expireCommands } from './expire.js';
import { ttlCommands } from './ttl.js';

export const commands: CommandSpec[] = [...expireCommands, ...ttlCommands];
