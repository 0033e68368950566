/** Cluster-mode commands: CLUSTER & co. (Redis Cluster clients), CONSISTENCY, GETCTX/SETCTX/DELCTX. */
import type { CommandSpec } from '../command.js';
import { clusterCommands } from './cluster.js';
import { consistencyCommand } from './consistency.js';
import { siblingCommands } from './siblings.js';

export const commands: CommandSpec[] = [...clusterCommands, consistencyCommand, ...siblingCommands];
