/**
 * Process helper for the benchmark harness: spawn servers and load generators, wait for a port,
 * measure CPU, stop by PID.
 *
 * Invariants:
 * - Every child is spawned in its own process group (detached) and registered here, so that
 *   `stopAll()` (called on normal exit, on error and on Ctrl-C) can end it and anything it forked
 *   by that group id, never by name.
 * - Servers write their output to log files, not pipes: a chatty server must never block on a
 *   full pipe while it is being measured.
 * - Client CPU comes from the kernel's rusage of the finished child (bash `times` reports the
 *   user and system time of its reaped children); server CPU from /proc/<pid>/stat deltas.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';

/** Open files the harness asks for in every child (servers and clients): -c 1000 needs > 1000. */
export const NOFILE_WANTED = 20_000;

let clockTicksPerSec: number | undefined;
function clkTck(): number {
  if (clockTicksPerSec === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout.trim());
    clockTicksPerSec = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicksPerSec;
}

/** user+system CPU seconds a live process has used so far (all its threads), from /proc. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse /proc/${pid}/stat`);
  return (utime + stime) / clkTck();
}

/** Resident set size of a live process in bytes (VmRSS from /proc/<pid>/status). */
export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** A free TCP port on 127.0.0.1, chosen by the kernel from its (high) ephemeral range. */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

const live = new Map<number, { name: string; child: ChildProcess }>();

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // The group is already gone.
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  readonly child: ChildProcess;
  /** The exact command line, for the results file. */
  readonly commandLine: string;
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map(shellQuote).join(' ');
}

// Raise the soft open-files limit as far as the hard limit allows, then run the command.
const ULIMIT_PRELUDE = 'ulimit -n "$0" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true';

/** Starts a long-running server; `exec` keeps the PID the server's own. */
export function startProcess(opts: {
  name: string;
  cmd: string;
  args: readonly string[];
  logPath: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}): ServerProcess {
  const fd = openSync(opts.logPath, 'a');
  const child = spawn('bash', ['-c', `${ULIMIT_PRELUDE}; exec "$@"`, String(NOFILE_WANTED), opts.cmd, ...opts.args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${opts.name}: spawn failed`);
  const pid = child.pid;
  live.set(pid, { name: opts.name, child });
  child.once('exit', () => live.delete(pid));
  return { name: opts.name, pid, logPath: opts.logPath, child, commandLine: commandLine(opts.cmd, opts.args) };
}

/** Last lines of a server log, for error messages. */
export function logTail(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Resolves once `host:port` accepts a connection; rejects if the process exits or time runs out. */
export async function waitForPort(proc: ServerProcess, host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited(proc.child)) {
      throw new Error(`${proc.name} exited (code ${proc.child.exitCode}, signal ${proc.child.signalCode}) before listening on ${port}:\n${logTail(proc.logPath)}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${proc.name} did not listen on ${host}:${port} within ${timeoutMs} ms:\n${logTail(proc.logPath)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; resolves when the leader has exited. */
export async function stopProcess(proc: ServerProcess, graceMs = 5000): Promise<void> {
  if (exited(proc.child)) {
    signalGroup(proc.pid, 'SIGKILL'); // anything it left behind in its group
    return;
  }
  const done = new Promise<void>((resolve) => proc.child.once('exit', () => resolve()));
  signalGroup(proc.pid, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(proc.pid, 'SIGKILL'), graceMs);
  await done;
  clearTimeout(timer);
  signalGroup(proc.pid, 'SIGKILL');
}

/** Synchronous last-resort cleanup (process exit, signals): SIGKILL every registered group. */
export function killAllNow(): void {
  for (const pid of live.keys()) signalGroup(pid, 'SIGKILL');
  live.clear();
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live.entries()].map(([pid, { name, child }]) =>
    stopProcess({ name, pid, child, logPath: '', commandLine: '' })));
}

export interface ClientRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  wallSec: number;
  /** user+system CPU of the client and its children, from the kernel's rusage. */
  cpuSec: number | undefined;
  timedOut: boolean;
  /** Set when `abortOn` matched stderr and the run was stopped early. */
  aborted: string | undefined;
  commandLine: string;
}

/** Parses the second line of bash's `times` ("0m1.234s 0m0.056s"): CPU of reaped children. */
export function parseBashTimes(text: string): number | undefined {
  const lines = text.trim().split('\n');
  const m = /^(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s$/.exec((lines[1] ?? '').trim());
  if (!m) return undefined;
  return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
}

/**
 * Runs a load generator to completion, with a time limit, and returns its output and rusage.
 * `abortOn` stops it as soon as stderr matches (redis-benchmark retries a refused connection
 * forever, burning a core).
 */
export async function runClient(opts: {
  cmd: string;
  args: readonly string[];
  timeoutMs: number;
  abortOn?: RegExp;
  env?: NodeJS.ProcessEnv;
}): Promise<ClientRun> {
  const script = `${ULIMIT_PRELUDE}; "$@"; rc=$?; times >&3; exit $rc`;
  const started = process.hrtime.bigint();
  const child = spawn('bash', ['-c', script, String(NOFILE_WANTED), opts.cmd, ...opts.args], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    detached: true,
    env: opts.env ?? process.env,
  });
  if (child.pid === undefined) throw new Error(`${opts.cmd}: spawn failed`);
  const pid = child.pid;
  live.set(pid, { name: opts.cmd, child });
  let stdout = '';
  let stderr = '';
  let times = '';
  let aborted: string | undefined;
  let timedOut = false;
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    if (opts.abortOn && aborted === undefined) {
      const m = opts.abortOn.exec(stderr);
      if (m) {
        aborted = m[0];
        signalGroup(pid, 'SIGKILL');
      }
    }
  });
  const timesStream = child.stdio[3];
  if (timesStream && 'setEncoding' in timesStream) {
    timesStream.setEncoding('utf8');
    timesStream.on('data', (d: string) => { times += d; });
  }
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(pid, 'SIGKILL');
  }, opts.timeoutMs);
  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('close', (code, sig) => resolve([code, sig]));
  });
  clearTimeout(timer);
  live.delete(pid);
  signalGroup(pid, 'SIGKILL');
  const wallSec = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    exitCode, signal, stdout, stderr, wallSec, cpuSec: parseBashTimes(times), timedOut, aborted,
    commandLine: commandLine(opts.cmd, opts.args),
  };
}

const exitTasks: Array<() => void> = [];

/** Registers synchronous cleanup (removing a work directory) run after children are killed. */
export function atExit(task: () => void): void {
  exitTasks.push(task);
}

function cleanupNow(): void {
  killAllNow();
  for (const task of exitTasks.splice(0)) {
    try {
      task();
    } catch {
      // Best effort on the way out.
    }
  }
}

/** Installs cleanup that ends every child on Ctrl-C, SIGTERM and any exit path. */
export function installCleanupHandlers(): void {
  process.once('exit', cleanupNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping servers\n`);
      cleanupNow();
      process.exit(130);
    });
  }
}
