/**
 * Type declarations for the parts of @nxtedition/rocksdb (12.x) that ringkv uses; the package
 * ships none. Read from its index.js, chained-batch.js, iterator.js and binding.cc.
 *
 * Facts that shape the rocksdb engine:
 * - `ChainedBatch._writeSync` calls rocksdb::DB::Write on the calling (main) thread; with
 *   `sync: true` it blocks until the WAL is fdatasync'ed. An empty batch with `sync: true`
 *   still syncs the WAL (checked with strace), which is how pending writes are made durable.
 * - `_getManySync` reads on the main thread; `_getManyAsync` and `Iterator._nextvAsync` run on
 *   the libuv thread pool.
 * - Open options (per column family): `cacheSize` (block cache bytes, uint32), `filterPolicy`
 *   (a RocksDB FilterPolicy string such as "bloomfilter:10:false"), `compression` (boolean:
 *   zstd or none; no lz4/snappy choice), `compaction: 'level'` with `memtableMemoryBudget`
 *   (write_buffer_size = budget / 4). The WAL is always on (zstd-compressed by default).
 * - Iterator options take Buffer bounds; `keyEncoding`/`valueEncoding` must be 'buffer' to get
 *   Buffers back (any other string yields strings).
 */
declare module '@nxtedition/rocksdb' {
  export interface RocksOpenOptions {
    createIfMissing?: boolean;
    errorIfExists?: boolean;
    parallelism?: number;
    walCompression?: boolean;
    pipelinedWrite?: boolean;
    infoLogLevel?: 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'header' | null;
    cacheSize?: number;
    cacheIndexAndFilterBlocks?: boolean;
    filterPolicy?: string;
    compression?: boolean;
    compaction?: 'level' | 'universal';
    memtableMemoryBudget?: number;
    optimize?: 'point-lookup' | 'range-lookup';
    blockSize?: number;
  }

  export interface RocksWriteOptions {
    sync?: boolean;
    lowPriority?: boolean;
  }

  export interface RocksIteratorOptions {
    gt?: Buffer;
    gte?: Buffer;
    lt?: Buffer;
    lte?: Buffer;
    reverse?: boolean;
    limit?: number;
    keys?: boolean;
    values?: boolean;
    keyEncoding?: 'buffer' | 'utf8';
    valueEncoding?: 'buffer' | 'utf8';
    highWaterMarkBytes?: number;
  }

  export interface RocksNextvResult {
    /** Flat [key0, value0, key1, value1, ...]. */
    rows: Buffer[];
    finished: boolean;
  }

  export class RocksChainedBatch {
    _put(key: Buffer, value: Buffer, options?: object): void;
    _del(key: Buffer, options?: object): void;
    _clear(): void;
    _writeSync(options?: RocksWriteOptions): void;
    _closeSync(): void;
    readonly length: number;
  }

  export class RocksIterator {
    _seekSync(target: Buffer): void;
    _nextvSync(size: number, options?: object): RocksNextvResult;
    _nextvAsync(size: number, options: object, callback: (err: Error | null, result: RocksNextvResult) => void): void;
    _closeSync(): void;
  }

  export class RocksLevel {
    constructor(location: string, options?: { keyEncoding?: 'buffer'; valueEncoding?: 'buffer' });
    readonly status: 'opening' | 'open' | 'closing' | 'closed';
    readonly location: string;
    open(options?: RocksOpenOptions): Promise<void>;
    close(): Promise<void>;
    getProperty(property: string): string;
    _chainedBatch(): RocksChainedBatch;
    _getManySync(keys: Buffer[], options?: { fillCache?: boolean; valueEncoding?: 'buffer' }): (Buffer | undefined)[];
    _iterator(options: RocksIteratorOptions): RocksIterator;
    _clear(options: { gte?: Buffer; lt?: Buffer }, callback: (err: Error | null) => void): void;
  }
}
