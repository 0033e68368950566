/**
 * The operator commands of `ringkv` (one file each): status, ring, get, put, del, join,
 * decommission, remove, repair. They talk to any node's HTTP API through the client library.
 */
import type { Command } from 'commander';
import type { OpsContext } from './common.js';
import { registerDecommission } from './decommission.js';
import { registerDel } from './del.js';
import { registerGet } from './get.js';
import { registerJoin } from './join.js';
import { registerPut } from './put.js';
import { registerRemove } from './remove.js';
import { registerRepair } from './repair.js';
import { registerRing } from './ring.js';
import { registerStatus } from './status.js';

export type { OpsContext, OpsIo } from './common.js';

export function registerOpsCommands(program: Command, ctx: OpsContext): void {
  registerStatus(program, ctx);
  registerRing(program, ctx);
  registerGet(program, ctx);
  registerPut(program, ctx);
  registerDel(program, ctx);
  registerJoin(program, ctx);
  registerDecommission(program, ctx);
  registerRemove(program, ctx);
  registerRepair(program, ctx);
}
