/**
 * Makes RocksDB's WAL durable without blocking the event loop: fdatasync of every WAL file
 * (`*.log` in the database directory) on libuv's thread pool, plus an fsync of the directory
 * whenever a WAL file appeared since the last sync (so the new file's entry is durable too).
 *
 * Why syncing the files from outside RocksDB is enough:
 * - the binding writes with manual_wal_flush off, so rocksdb::DB::Write hands each WAL record to
 *   the kernel (write(2)) before it returns (checked with strace); an fdatasync on any fd of the
 *   same file, started after that, covers the record;
 * - the WAL lives in the database directory (wal_dir unset) and files are not recycled
 *   (recycle_log_file_num = 0), so every WAL file holding a write is a `*.log` listed there;
 * - a WAL file that disappears was obsolete: RocksDB deletes it only after the memtables it
 *   covers were flushed to SST files and synced, so its writes are durable elsewhere.
 * The engine still uses a synchronous sync:true write where blocking is fine (close, clear).
 */
import { type FileHandle, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';

function isNotFound(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'ENOENT';
}

export class WalSyncer {
  /** Open read-only handles of the WAL files seen so far, by file name. */
  private readonly files = new Map<string, FileHandle>();

  constructor(private readonly dir: string) {}

  /** Resolves once every WAL record written before the call is on stable storage. */
  async sync(): Promise<void> {
    // Known files are synced while the directory is listed; only new files wait for the list.
    const known = [...this.files.values()];
    const [names] = await Promise.all([readdir(this.dir), ...known.map((fh) => fh.datasync())]);
    const logs = names.filter((n) => n.endsWith('.log'));
    const added: FileHandle[] = [];
    for (const name of logs) {
      if (this.files.has(name)) continue;
      try {
        const fh = await open(join(this.dir, name), 'r');
        this.files.set(name, fh);
        added.push(fh);
      } catch (e) {
        if (!isNotFound(e)) throw e; // deleted since readdir: obsolete, see above
      }
    }
    const live = new Set(logs);
    for (const [name, fh] of this.files) {
      if (!live.has(name)) {
        this.files.delete(name);
        await fh.close();
      }
    }
    if (added.length > 0) {
      await Promise.all(added.map((fh) => fh.datasync()));
      const d = await open(this.dir, 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    }
  }

  async close(): Promise<void> {
    const handles = [...this.files.values()];
    this.files.clear();
    await Promise.all(handles.map((fh) => fh.close().catch(() => undefined)));
  }
}
