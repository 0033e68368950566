/**
 * Network-namespace topology for the fault harness: one namespace per host plus one namespace
 * holding the bridge (and the harness itself, see cli.ts), all connected by veth pairs.
 *
 *   <prefix>-br   br0 10.77.<k>.254/24, veth v1..vN enslaved to br0
 *   <prefix>-n1   eth0 10.77.<k>.1/24 (peer of v1), lo
 *   ...
 *
 * Invariants:
 * - Nothing is created in the root namespace: every interface is created inside a namespace of
 *   ours (`ip -n BR link add vI type veth peer name eth0 netns NI`), so no address or route
 *   exists outside them and no traffic can leave them (the /24 is private and has no gateway).
 * - Every name starts with NAME_PREFIX and a per-run tag, so teardown and the stale sweep touch
 *   only namespaces this harness created. Teardown kills the processes inside them by PID
 *   (`ip netns pids`) before deleting them; it never throws and is safe to call twice.
 * - Commands run synchronously with a time limit: setup and teardown are a few dozen `ip`
 *   calls, and a hung one must not hang the harness.
 */
import { spawnSync } from 'node:child_process';

export const NAME_PREFIX = 'rkvc';

export interface Topology {
  readonly tag: string;
  readonly bridgeNs: string;
  /** Address of the bridge namespace (where the harness and its clients run). */
  readonly bridgeAddr: string;
  readonly hosts: readonly HostInfo[];
}

export interface HostInfo {
  /** 1-based. */
  readonly index: number;
  readonly ns: string;
  readonly addr: string;
}

export class CommandError extends Error {
  constructor(message: string, readonly stderr: string) {
    super(message);
    this.name = 'CommandError';
  }
}

/** Runs a command to completion; throws CommandError on a non-zero exit. */
export function sh(cmd: string, args: readonly string[], options: { timeoutMs?: number; input?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: options.timeoutMs ?? 10_000, input: options.input });
  if (r.error) throw new CommandError(`${cmd} ${args.join(' ')}: ${r.error.message}`, '');
  if (r.status !== 0) {
    throw new CommandError(`${cmd} ${args.join(' ')} exited ${String(r.status ?? r.signal)}: ${r.stderr.trim()}`, r.stderr);
  }
  return r.stdout;
}

function trySh(cmd: string, args: readonly string[]): boolean {
  try {
    sh(cmd, args);
    return true;
  } catch {
    return false;
  }
}

export function nsName(tag: string, suffix: string): string {
  return `${NAME_PREFIX}-${tag}-${suffix}`;
}

/** The third octet of 10.77.X.0/24; separate runs on one machine use different subnets. */
export function hostAddr(subnet: number, index: number): string {
  return `10.77.${subnet}.${index}`;
}

/**
 * Explains why the harness cannot run here, or returns null when it can. Checks root, the
 * `ip` and `nft` commands, namespace creation and nftables inside a namespace; faketime is
 * reported separately because clock faults can be switched off.
 */
export function preflight(): string | null {
  if (process.platform !== 'linux') return 'the fault harness needs Linux network namespaces';
  if (process.getuid?.() !== 0) {
    return 'the fault harness must run as root (it creates network namespaces and nftables rules); run it with sudo';
  }
  for (const [cmd, pkg] of [['ip', 'iproute2'], ['nft', 'nftables']] as const) {
    if (!trySh('sh', ['-c', `command -v ${cmd}`])) return `'${cmd}' not found: apt-get install ${pkg}`;
  }
  const probe = nsName(`probe${process.pid}`, 'x');
  try {
    sh('ip', ['netns', 'add', probe]);
  } catch (e) {
    return `cannot create a network namespace (${(e as Error).message}); the kernel or container may not allow it`;
  }
  try {
    sh('ip', ['netns', 'exec', probe, 'nft', 'add table inet probe']);
  } catch (e) {
    return `nftables does not work inside a namespace (${(e as Error).message})`;
  } finally {
    trySh('ip', ['netns', 'del', probe]);
  }
  return null;
}

export function faketimeLibrary(): string | null {
  for (const p of ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1']) {
    if (trySh('test', ['-f', p])) return p;
  }
  return null;
}

/** Creates the bridge namespace and `hostCount` host namespaces. Tears down what it made on failure. */
export function createTopology(options: { tag: string; hostCount: number; subnet: number }): Topology {
  const { tag, hostCount, subnet } = options;
  if (!/^[a-z0-9]{1,12}$/.test(tag)) throw new RangeError(`topology tag must be 1-12 of [a-z0-9], got ${tag}`);
  if (!Number.isInteger(hostCount) || hostCount < 1 || hostCount > 200) throw new RangeError(`hostCount 1..200, got ${hostCount}`);
  if (!Number.isInteger(subnet) || subnet < 0 || subnet > 255) throw new RangeError(`subnet 0..255, got ${subnet}`);
  const bridgeNs = nsName(tag, 'br');
  const hosts: HostInfo[] = [];
  for (let i = 1; i <= hostCount; i++) hosts.push({ index: i, ns: nsName(tag, `n${i}`), addr: hostAddr(subnet, i) });
  const topo: Topology = { tag, bridgeNs, bridgeAddr: hostAddr(subnet, 254), hosts };
  try {
    sh('ip', ['netns', 'add', bridgeNs]);
    sh('ip', ['-n', bridgeNs, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', bridgeNs, 'addr', 'add', `${topo.bridgeAddr}/24`, 'dev', 'br0']);
    sh('ip', ['-n', bridgeNs, 'link', 'set', 'br0', 'up']);
    for (const h of hosts) {
      sh('ip', ['netns', 'add', h.ns]);
      sh('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', bridgeNs, 'link', 'add', `v${h.index}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
      sh('ip', ['-n', bridgeNs, 'link', 'set', `v${h.index}`, 'master', 'br0']);
      sh('ip', ['-n', bridgeNs, 'link', 'set', `v${h.index}`, 'up']);
      sh('ip', ['-n', h.ns, 'addr', 'add', `${h.addr}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up']);
    }
  } catch (e) {
    destroyTopology(topo);
    throw e;
  }
  return topo;
}

/** PIDs of every process inside a namespace (empty when it does not exist). */
export function pidsIn(ns: string): number[] {
  try {
    return sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter((s) => s !== '').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    if (pid === process.pid) continue;
    try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

/** Kills every process in the topology's namespaces (by PID) and deletes the namespaces. Never throws. */
export function destroyTopology(topo: Topology): void {
  const all = [...topo.hosts.map((h) => h.ns), topo.bridgeNs];
  for (const ns of all) killPids(pidsIn(ns));
  for (const ns of all) {
    // A namespace still holding a dying process deletes fine (the kernel frees it later).
    trySh('ip', ['netns', 'del', ns]);
  }
}

/** Namespaces of ours left behind by a run that was killed before its teardown (SIGKILL, power loss). */
export function staleNamespaces(): string[] {
  let out = '';
  try {
    out = sh('ip', ['netns', 'list']);
  } catch {
    return [];
  }
  return out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`${NAME_PREFIX}-`));
}

/** A run tag: the owning process id (so a sweep can tell live runs from dead ones) and a random suffix. */
export function newTag(): string {
  return `${process.pid}r${Math.floor(Math.random() * 1296).toString(36)}`;
}

function ownerAlive(tag: string): boolean {
  const m = /^(\d+)r/.exec(tag);
  if (m === null) return false;
  try {
    process.kill(Number(m[1]), 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes namespaces of ours whose owning harness process is gone (live runs are left alone). */
export function sweepStale(): string[] {
  const removed: string[] = [];
  for (const ns of staleNamespaces()) {
    const tag = ns.split('-')[1] ?? '';
    if (ownerAlive(tag)) continue;
    killPids(pidsIn(ns));
    if (trySh('ip', ['netns', 'del', ns])) removed.push(ns);
  }
  return removed;
}
