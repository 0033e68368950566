/**
 * SCAN cursors that fit Redis's unsigned 64-bit cursor range, which clients such as redis-cli
 * parse as integers (a wider cursor overflows there and the iteration breaks).
 *
 * A page ends at some key; the next page starts after it. Two encodings, told apart by bit 63:
 * - keys of at most 7 bytes are the cursor itself: the integer whose bytes are 0x01 + key
 *   (< 2^57), stateless and valid across restarts;
 * - longer keys get a cursor >= 2^63 naming an entry in a bounded table (oldest dropped first).
 *   Ids start from a clock-derived base so a cursor from before a restart does not name another
 *   key; an unknown id is refused with "ERR invalid cursor" rather than silently restarting.
 */
import { RingkvError } from '../errors/index.js';
import type { Key } from '../storage/engine.js';

const U64_LIMIT = 1n << 64n;
const TABLE_BIT = 1n << 63n;
const INLINE_KEY_BYTES_MAX = 7;

function invalid(): RingkvError {
  return new RingkvError('ERR_INVALID_ARGUMENT', 'ERR invalid cursor');
}

export class ScanCursors {
  private readonly table = new Map<bigint, Key>();
  private nextId: bigint;

  constructor(private readonly cursorsMax: number, nowMs: number) {
    if (!Number.isSafeInteger(cursorsMax) || cursorsMax < 1) throw new RangeError('cursorsMax must be a positive integer');
    // ms since epoch < 2^42; shifted by 20 leaves room for 2^20 cursors per ms below 2^63.
    this.nextId = BigInt(Math.max(0, Math.floor(nowMs))) << 20n;
  }

  /** Cursor for "continue after `key`". */
  encode(key: Key): string {
    if (key.length <= INLINE_KEY_BYTES_MAX) {
      return BigInt('0x01' + Buffer.from(key, 'latin1').toString('hex')).toString(10);
    }
    const id = TABLE_BIT | (this.nextId++ & (TABLE_BIT - 1n));
    this.table.set(id, key);
    if (this.table.size > this.cursorsMax) {
      const oldest = this.table.keys().next();
      if (oldest.done !== true) this.table.delete(oldest.value);
    }
    return id.toString(10);
  }

  /** undefined = start of the keyspace; throws "ERR invalid cursor" for anything unknown. */
  decode(cursor: string): Key | undefined {
    if (!/^[0-9]+$/.test(cursor)) throw invalid();
    const n = BigInt(cursor);
    if (n === 0n) return undefined;
    if (n >= U64_LIMIT) throw invalid();
    if ((n & TABLE_BIT) !== 0n) {
      const key = this.table.get(n);
      if (key === undefined) throw invalid();
      return key;
    }
    const hex = n.toString(16);
    if (hex.length % 2 !== 1 || hex[0] !== '1') throw invalid();
    return Buffer.from(hex.slice(1), 'hex').toString('latin1');
  }

  get size(): number {
    return this.table.size;
  }
}
