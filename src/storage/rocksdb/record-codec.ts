/**
 * On-disk layout of the rocksdb engine. One RocksDB keyspace, split by a namespace byte so the
 * user keyspace never sees engine entries:
 *
 *   0x00 | expiresAtMs (8 bytes, big-endian) | key   -> empty      expiry index
 *   0x01 | key                                       -> record     user records
 *   0x02 | "format"                                  -> [version]  metadata
 *   0x02 | "counts"                                  -> keys, keysWithExpiry (2 x 8 bytes BE),
 *                                                       present only between a clean close and
 *                                                       the next open
 *
 * Record value: [FORMAT_VERSION (1 byte)][expiresAtMs (8 bytes, big-endian, 0 = never)][value].
 * Big-endian expiry makes the index iterate in time order, so active expiry reads only due
 * entries. The index entry and its record are always written in the same atomic batch.
 */
import type { Key, StoredRecord } from '../engine.js';

export const NS_INDEX = 0x00;
export const NS_RECORD = 0x01;
export const NS_META = 0x02;
export const FORMAT_VERSION = 1;
export const RECORD_HEADER_BYTES = 9;
const TWO_32 = 2 ** 32;

export const META_FORMAT_KEY = Buffer.from([NS_META, ...Buffer.from('format', 'latin1')]);
export const META_COUNTS_KEY = Buffer.from([NS_META, ...Buffer.from('counts', 'latin1')]);
export const RECORDS_START = Buffer.from([NS_RECORD]);
export const RECORDS_END = Buffer.from([NS_RECORD + 1]);
export const INDEX_START = Buffer.from([NS_INDEX]);

export function encodeRecordKey(key: Key): Buffer {
  const b = Buffer.allocUnsafe(1 + key.length);
  b[0] = NS_RECORD;
  b.write(key, 1, 'latin1');
  return b;
}

export function decodeRecordKey(b: Buffer): Key {
  return b.toString('latin1', 1);
}

function writeMs(b: Buffer, offset: number, ms: number): void {
  b.writeUInt32BE(Math.floor(ms / TWO_32), offset);
  b.writeUInt32BE(ms >>> 0, offset + 4);
}

function readMs(b: Buffer, offset: number): number {
  return b.readUInt32BE(offset) * TWO_32 + b.readUInt32BE(offset + 4);
}

export function encodeIndexKey(expiresAtMs: number, key: Key): Buffer {
  const b = Buffer.allocUnsafe(9 + key.length);
  b[0] = NS_INDEX;
  writeMs(b, 1, expiresAtMs);
  b.write(key, 9, 'latin1');
  return b;
}

/** Exclusive upper bound of index entries due at `nowMs` (expiresAtMs <= nowMs). */
export function indexUpperBound(nowMs: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = NS_INDEX;
  writeMs(b, 1, nowMs + 1);
  return b;
}

export function decodeIndexKey(b: Buffer): { expiresAtMs: number; key: Key } {
  return { expiresAtMs: readMs(b, 1), key: b.toString('latin1', 9) };
}

export function encodeCounts(keys: number, keysWithExpiry: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  writeMs(b, 0, keys);
  writeMs(b, 8, keysWithExpiry);
  return b;
}

export function decodeCounts(b: Buffer): { keys: number; keysWithExpiry: number } | undefined {
  return b.length === 16 ? { keys: readMs(b, 0), keysWithExpiry: readMs(b, 8) } : undefined;
}

export function encodeRecord(record: StoredRecord): Buffer {
  const v = record.value;
  const b = Buffer.allocUnsafe(RECORD_HEADER_BYTES + v.length);
  b[0] = FORMAT_VERSION;
  writeMs(b, 1, record.expiresAtMs);
  v.copy(b, RECORD_HEADER_BYTES);
  return b;
}

/** Expiry of an encoded record without decoding the value. */
export function recordExpiry(b: Buffer): number {
  if (b.length < RECORD_HEADER_BYTES || b[0] !== FORMAT_VERSION) throw new Error(`corrupt record header (version ${String(b[0])})`);
  return readMs(b, 1);
}

export function decodeRecord(b: Buffer): StoredRecord {
  return { value: b.subarray(RECORD_HEADER_BYTES), expiresAtMs: recordExpiry(b) };
}
