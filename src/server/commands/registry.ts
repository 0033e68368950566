/**
 * The command table: every command module's `commands` array, merged into one map by lower-case
 * name. A name defined twice is a programming error and fails at startup, not at dispatch.
 */
import type { CommandSpec } from './command.js';
import { commands as clusterCommands } from './cluster/index.js';
import { commands as connectionCommands } from './connection/index.js';
import { commands as expireCommands } from './expire/index.js';
import { commands as keyspaceCommands } from './keyspace/index.js';
import { commands as stringCommands } from './strings/index.js';

export function buildCommandTable(...groups: readonly (readonly CommandSpec[])[]): Map<string, CommandSpec> {
  const table = new Map<string, CommandSpec>();
  for (const group of groups) {
    for (const spec of group) {
      const name = spec.name.toLowerCase();
      if (name !== spec.name) throw new TypeError(`command name must be lower case: ${spec.name}`);
      if (table.has(name)) throw new TypeError(`command defined twice: ${name}`);
      table.set(name, spec);
    }
  }
  return table;
}

/** Every command ringkv serves over RESP. */
export function defaultCommandTable(): Map<string, CommandSpec> {
  return buildCommandTable(connectionCommands, stringCommands, expireCommands, keyspaceCommands, clusterCommands);
}
