/**
 * Installs the external programs the selected scenarios need, with apt-get, only when a command
 * is missing (CI and fresh machines); never upgrades what is there.
 */
import { spawnSync } from 'node:child_process';

/** command -> Debian package providing it. */
export const PROGRAMS = {
  'redis-server': 'redis-server',
  'redis-benchmark': 'redis-tools',
  'redis-cli': 'redis-tools',
  etcd: 'etcd-server',
  etcdctl: 'etcd-client',
} as const;

export type Program = keyof typeof PROGRAMS;

export function hasCommand(cmd: string): boolean {
  return spawnSync('bash', ['-c', 'command -v "$0" >/dev/null 2>&1', cmd]).status === 0;
}

/** Returns the commands still missing after trying to install them. */
export function ensurePrograms(programs: readonly Program[], log: (m: string) => void): Program[] {
  const missing = programs.filter((p) => !hasCommand(p));
  if (missing.length === 0) return [];
  const pkgs = [...new Set(missing.map((p) => PROGRAMS[p]))];
  log(`installing ${pkgs.join(' ')} (missing: ${missing.join(' ')})`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const run = (args: string[]): number | null => {
    const [cmd, ...rest] = [...sudo, ...args];
    return spawnSync(cmd as string, rest, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status;
  };
  if (run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...pkgs]) !== 0) {
    run(['apt-get', 'update', '-qq']);
    run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...pkgs]);
  }
  return missing.filter((p) => !hasCommand(p));
}
