/**
 * `ringkv cluster --nodes N`: a local cluster of separate `ringkv start` processes on 127.0.0.1.
 *
 * Node i (1-based) is `node-<i>` with data under <data-dir>/node-<i> (its log, JSON lines, in
 * <data-dir>/node-<i>/ringkv.log). Node 1 starts first without seeds (it forms the ring); the
 * others start together, seeded with node 1's peer address, and each becomes ready once it has
 * joined. Ports: RESP base+i, HTTP base+100+i, peer base+200+i; base 0 = free ports chosen by
 * the OS. The endpoints are printed once every node is ready.
 *
 * Children run in their own process groups, so a terminal's Ctrl-C reaches only this process,
 * which stops every child by PID with SIGTERM (a second Ctrl-C sends SIGKILL). If a child dies
 * during start-up the others are stopped and the exit code is 1; a child that dies later is
 * reported and the exit code at the end is 1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export interface LocalClusterOptions {
  nodes: number;
  basePort: number;
  dataDir: string;
  engine: string;
  host: string;
  /** Extra `ringkv start` flags passed to every node (e.g. --cluster-replication-factor 3). */
  extraArgs: readonly string[];
  /** The ringkv entry script and the node arguments to run it (tsx in development). */
  entry: string;
  execArgv: readonly string[];
  readyTimeoutMs: number;
  out(text: string): void;
  err(text: string): void;
}

interface Child {
  index: number;
  id: string;
  proc: ChildProcess;
  log: WriteStream;
  resp?: string;
  http?: string;
  peer?: string;
  exited: Promise<number>;
  exitedEarly: boolean;
}

function portFor(base: number, offset: number, i: number): string {
  return base === 0 ? '0' : String(base + offset + i);
}

/** A port that was free a moment ago (HTTP port 0 means "off", so base 0 picks real ones). */
function freePort(host: string): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, host, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

function startChild(o: LocalClusterOptions, index: number, seed: string | undefined, httpPort: number): { child: Child; ready: Promise<void> } {
  const id = `node-${index}`;
  const dir = resolve(o.dataDir, id);
  mkdirSync(dir, { recursive: true });
  const args = [
    ...o.execArgv, o.entry, 'start', '--host', o.host, '--cluster-node-id', id, '--data-dir', dir, '--engine', o.engine,
    '--resp-port', portFor(o.basePort, 0, index), '--http-port', o.basePort === 0 ? String(httpPort) : portFor(o.basePort, 100, index), '--peer-port', portFor(o.basePort, 200, index),
    ...(seed === undefined ? [] : ['--cluster-seeds', seed]), ...o.extraArgs,
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const log = createWriteStream(join(dir, 'ringkv.log'), { flags: 'a' });
  let stderr = '';
  const exited = new Promise<number>((res) => proc.on('close', (code, signal) => res(code ?? (signal === null ? 1 : 128))));
  const child: Child = { index, id, proc, log, exited, exitedEarly: false };
  const ready = new Promise<void>((res, rej) => {
    let partial = '';
    let done = false;
    const timer = setTimeout(() => {
      if (!done) rej(new Error(`${id} did not become ready within ${o.readyTimeoutMs} ms (log: ${join(dir, 'ringkv.log')})`));
    }, o.readyTimeoutMs);
    proc.stdout?.on('data', (d: Buffer) => {
      log.write(d);
      if (done) return;
      partial += d.toString();
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        let v: { msg?: unknown; resp?: unknown; http?: unknown; peer?: unknown };
        try {
          v = JSON.parse(line) as typeof v;
        } catch {
          continue;
        }
        if (typeof v.msg === 'string' && v.msg.startsWith('ringkv listening') && typeof v.resp === 'string') {
          child.resp = v.resp;
          child.http = typeof v.http === 'string' ? v.http : 'off';
          child.peer = typeof v.peer === 'string' ? v.peer : undefined;
          done = true;
          clearTimeout(timer);
          res();
          return;
        }
      }
    });
    proc.stderr?.on('data', (d: Buffer) => {
      log.write(d);
      if (stderr.length < 4096) stderr += d.toString();
    });
    void exited.then((code) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        rej(new Error(`${id} exited with code ${code} during start-up: ${stderr.trim().split('\n')[0] ?? ''}`));
      }
    });
  });
  return { child, ready };
}

function kill(c: Child, signal: NodeJS.Signals): void {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null || c.proc.pid === undefined) return;
  try {
    process.kill(c.proc.pid, signal);
  } catch {
    /* already gone */
  }
}

/** Runs the cluster until SIGINT/SIGTERM; resolves with the exit code. */
export async function runLocalCluster(o: LocalClusterOptions): Promise<number> {
  const children: Child[] = [];
  let stopping = false;
  let failed = false;
  let signals = 0;
  let wake: () => void = () => undefined;
  const stopped = new Promise<void>((r) => { wake = r; });
  const onSignal = (): void => {
    signals++;
    if (signals === 1) {
      o.out('stopping the cluster...\n');
      stopping = true;
      for (const c of children) kill(c, 'SIGTERM');
      wake();
    } else {
      for (const c of children) kill(c, 'SIGKILL');
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const httpPorts: number[] = [];
    for (let i = 0; i < o.nodes; i++) httpPorts.push(o.basePort === 0 ? await freePort(o.host) : 0);
    const first = startChild(o, 1, undefined, httpPorts[0] ?? 0);
    children.push(first.child);
    try {
      await first.ready;
      const seed = first.child.peer;
      if (seed === undefined) throw new Error('node-1 did not report its peer address');
      const rest = [];
      for (let i = 2; i <= o.nodes && !stopping; i++) {
        const s = startChild(o, i, seed, httpPorts[i - 1] ?? 0);
        children.push(s.child);
        rest.push(s.ready);
      }
      await Promise.all(rest);
    } catch (e) {
      if (!stopping) {
        o.err(`ringkv cluster: ${e instanceof Error ? e.message : String(e)}\n`);
        failed = true;
      }
      stopping = true;
      for (const c of children) kill(c, 'SIGTERM');
      await Promise.all(children.map((c) => c.exited));
      for (const c of children) c.log.end();
      return failed ? 1 : 0;
    }
    if (!stopping) {
      o.out(`ringkv cluster: ${o.nodes} node${o.nodes === 1 ? '' : 's'} ready on ${o.host}\n`);
      for (const c of children) {
        o.out(`  ${c.id}  pid ${c.proc.pid ?? '?'}  resp ${c.resp ?? '?'}  http ${c.http ?? '?'}  peer ${c.peer ?? '?'}\n`);
      }
      o.out(`connect: redis-cli -c -h ${o.host} -p ${(children[0]?.resp ?? '').split(':').pop() ?? ''}; Ctrl-C stops every node\n`);
      for (const c of children) {
        void c.exited.then((code) => {
          if (!stopping) {
            c.exitedEarly = true;
            o.err(`ringkv cluster: ${c.id} exited with code ${code}\n`);
          }
        });
      }
      await stopped;
    }
    const codes = await Promise.all(children.map((c) => c.exited));
    for (const c of children) c.log.end();
    const bad = children.filter((c, i) => c.exitedEarly || codes[i] !== 0);
    if (bad.length > 0) o.err(`ringkv cluster: ${bad.map((c) => c.id).join(', ')} did not stop cleanly\n`);
    else o.out('ringkv cluster: every node stopped\n');
    return bad.length > 0 || failed ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
