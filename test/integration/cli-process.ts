/**
 * Test harness: runs `ringkv start` as a real child process (through tsx, so no build is
 * needed), waits for its "ringkv listening" log line and reads the bound ports from it.
 * Every process started here is tracked and killed by PID when the test file ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO_ROOT, 'src', 'cli', 'main.ts');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RingkvProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly respPort: number;
  readonly httpPort: number | undefined;
  /** stdout lines so far (JSON log lines). */
  readonly stdoutLines: string[];
  stderr(): string;
  readonly exited: Promise<Exit>;
}

const live = new Set<ChildProcess>();

/** Kills every child still running (by PID). Call from an `after` hook. */
export function killAll(): void {
  for (const c of live) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try { process.kill(c.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
  live.clear();
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (for commands that exit by themselves). */
export function runCli(args: readonly string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      cwd: REPO_ROOT,
      env: { ...cleanEnv(), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ringkv ${args.join(' ')} did not exit in time; stderr: ${stderr}; stdout: ${stdout.slice(-2000)}`));
    }, options.timeoutMs ?? 20_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The environment without RINGKV_* variables, so the parent's settings never leak in. */
function cleanEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RINGKV_') && v !== undefined) out[k] = v;
  return out;
}

interface ListeningLine {
  msg?: unknown;
  resp?: unknown;
  http?: unknown;
}

function portOf(at: unknown): number | undefined {
  if (typeof at !== 'string') return undefined;
  const m = /:(\d+)$/.exec(at);
  return m ? Number(m[1]) : undefined;
}

/**
 * Starts `ringkv start <args>`; resolves once it logs that it listens. Pass `--resp-port 0`
 * (the default here) to get a free port chosen by the OS.
 */
export function startRingkv(args: readonly string[], options: { env?: Record<string, string>; readyTimeoutMs?: number } = {}): Promise<RingkvProcess> {
  const fullArgs = ['start', '--host', '127.0.0.1', ...(args.includes('--resp-port') ? [] : ['--resp-port', '0']),
    ...(args.includes('--http-port') ? [] : ['--http-port', '0']), ...args];
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...fullArgs], {
    cwd: REPO_ROOT,
    env: { ...cleanEnv(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const stdoutLines: string[] = [];
  let stderr = '';
  let partial = '';
  // 'close' (not 'exit'): resolves only after stdout/stderr were read to the end.
  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ringkv did not start in time; stderr: ${stderr}; stdout: ${stdoutLines.join('\n')}`));
    }, options.readyTimeoutMs ?? 30_000);
    let ready = false;
    child.stdout?.on('data', (d: Buffer) => {
      partial += d.toString();
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        stdoutLines.push(line);
        if (ready) continue;
        let parsed: ListeningLine;
        try { parsed = JSON.parse(line) as ListeningLine; } catch { continue; }
        if (typeof parsed.msg === 'string' && parsed.msg.startsWith('ringkv listening')) {
          const respPort = portOf(parsed.resp);
          if (respPort === undefined || child.pid === undefined) continue;
          ready = true;
          clearTimeout(timer);
          resolve({ child, pid: child.pid, respPort, httpPort: portOf(parsed.http), stdoutLines, stderr: () => stderr, exited });
        }
      }
    });
    void exited.then((e) => {
      if (!ready) {
        clearTimeout(timer);
        reject(new Error(`ringkv exited before listening (code ${String(e.code)}, signal ${String(e.signal)}); stderr: ${stderr}`));
      }
    });
  });
}

/** A port that was free a moment ago (for tests that need a fixed port before start). */
/**
 * A port free now for a process started later. Taken below Linux's ephemeral range (32768+):
 * a port the OS hands out for `listen(0)` is also what it hands to outgoing connections, so
 * between this probe and the child's listen some client socket could take it (EADDRINUSE).
 * Random in 20000-32767, probed by binding; ports handed out by this process are not reused.
 */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_768);
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port found in 20000-32767');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Sends a signal by PID and waits for the exit. */
export async function stop(p: RingkvProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
  if (p.child.exitCode === null && p.child.signalCode === null) process.kill(p.pid, signal);
  return p.exited;
}
