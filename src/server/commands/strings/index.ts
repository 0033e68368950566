/**
 * The string commands (Redis's "string" and "bitmap" groups), one file per family.
 */
import type { CommandSpec } from '../command.js';
import { bitfieldCommands } from './bitfield.js';
import { bitCommands } from './bits.js';
import { counterCommands } from './counters.js';
import { getSetCommands } from './get-set.js';
import { lcsCommands } from './lcs.js';
import { multiCommands } from './multi.js';
import { rangeCommands } from './range.js';

export const commands: CommandSpec[] = [
  ...getSetCommands,
  ...multiCommands,
  ...counterCommands,
  ...rangeCommands,
  ...bitCommands,
  ...bitfieldCommands,
  ...lcsCommands,
];
