/**
 * The processes under test: one per host namespace, started with `ip netns exec` (which execs,
 * so the child's PID is the node's own PID and signals reach it directly). Supports the
 * process-level faults: kill -9 and restart, SIGSTOP/SIGCONT, and restart under a skewed clock
 * (libfaketime preloaded with a relative offset; the monotonic clock is left alone so timers
 * keep working and only wall time — what HLC and LWW read — is skewed).
 *
 * Invariants:
 * - Every child is tracked by PID; `destroy()` SIGKILLs each one still running (never by name).
 * - A node that exits without the harness asking is recorded as a crash (a finding: a node
 *   must survive every fault this harness injects) and is restarted at the heal.
 * - Output goes to one log file per node (appended across restarts) in the run directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { HostInfo } from './netns.js';

export interface NodeCommand {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
}

export type NodeState = 'running' | 'paused' | 'killed' | 'crashed';

interface Slot {
  host: HostInfo;
  child: ChildProcess | null;
  state: NodeState;
  /** Clock offset in seconds the current process runs with (0 = none). */
  skewS: number;
  expectingExit: boolean;
  starts: number;
}

export interface NodeSetOptions {
  readonly hosts: readonly HostInfo[];
  readonly logDir: string;
  /** Builds the command for one host (the same every start: data survives restarts). */
  readonly command: (host: HostInfo) => NodeCommand;
  readonly faketimeLib: string | null;
  /** Called when a node exits on its own. */
  readonly onCrash: (host: HostInfo, detail: string) => void;
}

export class NodeSet {
  private readonly slots: Slot[];

  constructor(private readonly options: NodeSetOptions) {
    this.slots = options.hosts.map((host) => ({ host, child: null, state: 'killed', skewS: 0, expectingExit: false, starts: 0 }));
  }

  private slot(index: number): Slot {
    const s = this.slots.find((x) => x.host.index === index);
    if (s === undefined) throw new RangeError(`no host ${index}`);
    return s;
  }

  state(index: number): NodeState {
    return this.slot(index).state;
  }

  skew(index: number): number {
    return this.slot(index).skewS;
  }

  pid(index: number): number | null {
    return this.slot(index).child?.pid ?? null;
  }

  /** Starts host `index` (which must not be running), optionally with its wall clock offset by `skewS` seconds. */
  start(index: number, skewS = 0): void {
    const s = this.slot(index);
    if (s.child !== null && s.child.exitCode === null && s.child.signalCode === null) throw new Error(`host ${index} is already running`);
    const c = this.options.command(s.host);
    const env: Record<string, string> = { ...c.env };
    if (skewS !== 0) {
      if (this.options.faketimeLib === null) throw new Error('clock skew needs libfaketime (apt-get install faketime)');
      env.LD_PRELOAD = this.options.faketimeLib;
      env.FAKETIME = `${skewS >= 0 ? '+' : ''}${skewS}s`;
      env.FAKETIME_DONT_FAKE_MONOTONIC = '1';
      env.FAKETIME_NO_CACHE = '1';
    }
    const log = openSync(join(this.options.logDir, `node-${index}.log`), 'a');
    const child = spawn('ip', ['netns', 'exec', s.host.ns, c.cmd, ...c.args], { cwd: c.cwd, env, stdio: ['ignore', log, log] });
    closeSync(log);
    s.child = child;
    s.state = 'running';
    s.skewS = skewS;
    s.expectingExit = false;
    s.starts++;
    child.on('exit', (code, signal) => {
      if (s.child !== child) return;
      if (!s.expectingExit) {
        s.state = 'crashed';
        this.options.onCrash(s.host, `exit code ${String(code)} signal ${String(signal)}`);
      }
    });
  }

  private signal(index: number, sig: NodeJS.Signals): boolean {
    const pid = this.slot(index).child?.pid;
    if (pid === undefined) return false;
    try {
      process.kill(pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  /** kill -9; resolves once the process is gone. */
  async kill(index: number): Promise<void> {
    const s = this.slot(index);
    const child = s.child;
    s.expectingExit = true;
    if (child === null || child.exitCode !== null || child.signalCode !== null) {
      s.state = 'killed';
      return;
    }
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.signal(index, 'SIGCONT');
    this.signal(index, 'SIGKILL');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    s.state = 'killed';
  }

  pause(index: number): void {
    const s = this.slot(index);
    if (s.state !== 'running') return;
    if (this.signal(index, 'SIGSTOP')) s.state = 'paused';
  }

  resume(index: number): void {
    const s = this.slot(index);
    if (s.state !== 'paused') return;
    this.signal(index, 'SIGCONT');
    s.state = 'running';
  }

  /** Back to the healthy state: resumed, running, and on the true clock. */
  async heal(index: number): Promise<boolean> {
    const s = this.slot(index);
    if (s.state === 'paused') this.resume(index);
    if (s.state === 'running' && s.skewS === 0) return false;
    if (s.state === 'running') await this.kill(index);
    this.start(index, 0);
    return true;
  }

  runningIndexes(): number[] {
    return this.slots.filter((s) => s.state === 'running').map((s) => s.host.index);
  }

  totalStarts(): number {
    return this.slots.reduce((a, s) => a + s.starts, 0);
  }

  /** SIGKILLs every child still running, by PID. */
  async destroy(): Promise<void> {
    await Promise.all(this.slots.map((s) => this.kill(s.host.index)));
  }
}
