/**
 * A description of the machine and software a run measured, written at the top of every results
 * file: figures from different machines, versions or commits are not comparable.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';

export interface MachineInfo {
  date: string;
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  kernel: string;
  node: string;
  redisServer: string;
  redisBenchmark: string;
  commit: string;
  dataFilesystem: string;
  loadAverage: string;
}

function firstLine(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd });
  if (r.error || r.status !== 0) return 'unavailable';
  return (r.stdout.trim().split('\n')[0] ?? '').trim() || 'unavailable';
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch {
    // Fall through to os.cpus().
  }
  return cpus()[0]?.model ?? 'unknown';
}

/**
 * `ringkvRoot`: a separate build (--ringkv-root) made from a clean export of a commit (git archive),
 * so uncommitted changes in src/ do not apply to it; its BUILD_COMMIT file names the commit.
 */
export function machineInfo(repoRoot: string, workDir: string, ringkvRoot?: string): MachineInfo {
  // A separate build says which commit it was exported from in BUILD_COMMIT (HEAD moves on).
  const built = ringkvRoot === undefined ? undefined : readOptional(join(ringkvRoot, 'BUILD_COMMIT'));
  const commit = built ?? firstLine('git', ['rev-parse', '--short=12', 'HEAD'], repoRoot);
  const dirty = ringkvRoot === undefined && spawnSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8', cwd: repoRoot }).stdout.trim() !== '';
  const fs = spawnSync('df', ['-T', workDir], { encoding: 'utf8' }).stdout.trim().split('\n')[1]?.split(/\s+/)[1] ?? 'unknown';
  return {
    date: new Date().toISOString(),
    cpuModel: cpuModel(),
    cores: cpus().length,
    memoryBytes: totalmem(),
    kernel: release(),
    node: process.version,
    redisServer: firstLine('redis-server', ['--version']),
    redisBenchmark: firstLine('redis-benchmark', ['--version']),
    commit: ringkvRoot !== undefined ? `${commit} (ringkv built separately from a clean export of this commit${built === undefined ? '?' : ''})` : dirty ? `${commit} (src/ has uncommitted changes)` : commit,
    dataFilesystem: fs,
    loadAverage: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}
