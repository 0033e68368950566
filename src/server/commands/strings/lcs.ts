/**
 * LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: Redis 7.0's dynamic-programming
 * longest common subsequence, with the same backtracking order so IDX ranges come out exactly as
 * Redis lists them. The table costs 4 bytes per cell; like Redis it refuses when that exceeds
 * maxValueBytes (proto-max-bulk-len).
 */
import { then } from '../../../util/maybe-promise.js';
import type { CommandContext, CommandSpec } from '../command.js';
import { ERRORS, arg, intArg, isWord, keyArg, spec } from './common.js';

const EMPTY = Buffer.alloc(0);

function lcs(ctx: CommandContext, args: Buffer[]): ReturnType<CommandSpec['handler']> {
  return then(ctx.store.getMany([keyArg(args, 1), keyArg(args, 2)]), ([ea, eb]) => {
    const a = ea?.value ?? EMPTY;
    const b = eb?.value ?? EMPTY;
    let getLen = false;
    let getIdx = false;
    let withMatchLen = false;
    let minMatchLen = 0;
    for (let j = 3; j < args.length; j++) {
      const opt = arg(args, j);
      const moreArgs = args.length - 1 - j;
      if (isWord(opt, 'idx')) getIdx = true;
      else if (isWord(opt, 'len')) getLen = true;
      else if (isWord(opt, 'withmatchlen')) withMatchLen = true;
      else if (isWord(opt, 'minmatchlen') && moreArgs > 0) {
        const v = intArg(arg(args, j + 1));
        minMatchLen = v < 0 ? 0 : Number(v);
        j++;
      } else throw ERRORS.syntax();
    }
    if (getLen && getIdx) throw ERRORS.invalid('If you want both the length and indexes, please just use IDX.');
    const alen = a.length;
    const blen = b.length;
    const cells = (alen + 1) * (blen + 1);
    if (cells * 4 > ctx.config.maxValueBytes) {
      throw ERRORS.invalid('Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len');
    }
    const table = new Uint32Array(cells);
    const w = blen + 1;
    for (let i = 1; i <= alen; i++) {
      for (let j = 1; j <= blen; j++) {
        if (a[i - 1] === b[j - 1]) table[i * w + j] = (table[(i - 1) * w + j - 1] as number) + 1;
        else {
          const l1 = table[(i - 1) * w + j] as number;
          const l2 = table[i * w + j - 1] as number;
          table[i * w + j] = l1 > l2 ? l1 : l2;
        }
      }
    }
    const total = table[alen * w + blen] as number;
    if (getLen) return ctx.reply.integer(total);

    const result = Buffer.alloc(total);
    let idx = total;
    const matches: [number, number, number, number, number][] = [];
    let aStart = alen;
    let aEnd = 0;
    let bStart = 0;
    let bEnd = 0;
    let i = alen;
    let j = blen;
    while (i > 0 && j > 0) {
      let emit = false;
      if (a[i - 1] === b[j - 1]) {
        result[idx - 1] = a[i - 1] as number;
        if (aStart === alen) {
          aStart = i - 1;
          aEnd = i - 1;
          bStart = j - 1;
          bEnd = j - 1;
        } else if (aStart === i && bStart === j) {
          aStart--;
          bStart--;
        } else {
          emit = true;
        }
        if (aStart === 0 || bStart === 0) emit = true;
        idx--;
        i--;
        j--;
      } else {
        const l1 = table[(i - 1) * w + j] as number;
        const l2 = table[i * w + j - 1] as number;
        if (l1 > l2) i--;
        else j--;
        if (aStart !== alen) emit = true;
      }
      const matchLen = aEnd - aStart + 1;
      if (emit) {
        if (minMatchLen === 0 || matchLen >= minMatchLen) matches.push([aStart, aEnd, bStart, bEnd, matchLen]);
        aStart = alen;
      }
    }
    if (!getIdx) return ctx.reply.bulk(result);
    ctx.reply.map(2);
    ctx.reply.bulk('matches');
    ctx.reply.array(matches.length);
    for (const [as, ae, bs, be, ml] of matches) {
      ctx.reply.array(withMatchLen ? 3 : 2);
      ctx.reply.array(2);
      ctx.reply.integer(as);
      ctx.reply.integer(ae);
      ctx.reply.array(2);
      ctx.reply.integer(bs);
      ctx.reply.integer(be);
      if (withMatchLen) ctx.reply.integer(ml);
    }
    ctx.reply.bulk('len');
    ctx.reply.integer(total);
  });
}

export const lcsCommands: CommandSpec[] = [
  spec({ name: 'lcs', arity: -3, flags: ['readonly'], lastKey: 2, categories: ['@read', '@string', '@slow'], summary: 'Find longest common substring', since: '7.0.0', group: 'string', handler: lcs }),
];
