/**
 * Runs the load driver in several processes at once and merges what they measured: one figure
 * (ops/s, p50/p99/p99.9, errors, client CPU) per run. Processes share the load evenly (closed
 * loop: loops and connections split; open loop: the rate split) and start their warm-up at the
 * same wall-clock instant so their measured windows overlap.
 */
import { join } from 'node:path';
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import type { WorkerOutput } from '../driver-worker.js';
import { newHistogram, runDriver, type DriverSpec } from './driver.js';
import { commandLine, runClient } from './process.js';

export interface DriverFigure {
  opsPerSec: number;
  ops: number;
  errors: number;
  firstError: string | undefined;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
  /** Percentiles of latency from the actual send (open loop: without the client's own lag). */
  serviceP50Ms: number;
  serviceP99Ms: number;
  serviceP999Ms: number;
  /** Sum of the driver processes' CPU over the window, as a share of one core. */
  clientCpu: number;
  backlog: number;
  /** Failures of the driver processes themselves (not error replies). */
  failures: string[];
  commandLine: string;
}

/** Splits `total` into `parts` integers that differ by at most one. */
export function split(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_v, i) => base + (i < total % parts ? 1 : 0));
}

function isWorkerOutput(x: unknown): x is WorkerOutput {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return typeof o.ops === 'number' && typeof o.errors === 'number' && typeof o.elapsedSec === 'number'
    && typeof o.cpuSec === 'number' && typeof o.histogram === 'string' && typeof o.serviceHistogram === 'string';
}

/**
 * Runs the driver inside this process (no spawn, no tsx start-up): for smoke runs, where the
 * seconds a driver process takes to start matter more than the harness's own CPU competing.
 */
export async function runDriverInProcess(spec: DriverSpec): Promise<DriverFigure> {
  const r = await runDriver(spec);
  const ms = (us: number): number => us / 1000;
  return {
    opsPerSec: r.elapsedSec > 0 ? r.ops / r.elapsedSec : 0, ops: r.ops, errors: r.errors, firstError: r.firstError,
    p50Ms: ms(r.histogram.getValueAtPercentile(50)), p99Ms: ms(r.histogram.getValueAtPercentile(99)),
    p999Ms: ms(r.histogram.getValueAtPercentile(99.9)), maxMs: ms(r.histogram.maxValue), meanMs: ms(r.histogram.mean),
    serviceP50Ms: ms(r.serviceHistogram.getValueAtPercentile(50)), serviceP99Ms: ms(r.serviceHistogram.getValueAtPercentile(99)),
    serviceP999Ms: ms(r.serviceHistogram.getValueAtPercentile(99.9)),
    clientCpu: r.elapsedSec > 0 ? r.cpuSec / r.elapsedSec : 0, backlog: r.backlog, failures: [],
    commandLine: `in-process driver (smoke) ${JSON.stringify({ ...spec, startAtMs: undefined })}`,
  };
}

export async function runDrivers(repoRoot: string, spec: DriverSpec, processes: number): Promise<DriverFigure> {
  if (processes < 1) throw new RangeError('processes must be >= 1');
  // Node and tsx start in about a second: everyone begins warming up together after that.
  const startAtMs = Date.now() + 2500;
  const specs: DriverSpec[] = [];
  const conns = split(Math.max(spec.connections, processes), processes);
  for (let i = 0; i < processes; i++) {
    const mode = spec.mode.kind === 'closed'
      ? { kind: 'closed' as const, loops: Math.max(1, split(spec.mode.loops, processes)[i] ?? 1) }
      : { kind: 'open' as const, rateOpsPerSec: spec.mode.rateOpsPerSec / processes, outstandingMax: Math.max(1, Math.ceil(spec.mode.outstandingMax / processes)) };
    specs.push({ ...spec, mode, connections: conns[i] ?? 1, startAtMs });
  }
  const timeoutMs = 2500 + spec.warmupMs + spec.durationMs + 30_000;
  const worker = join(repoRoot, 'bench/driver-worker.ts');
  const runs = await Promise.all(specs.map((s) => runClient({
    cmd: process.execPath, args: ['--import', 'tsx', worker, JSON.stringify(s)], timeoutMs,
  })));
  const merged = newHistogram();
  const service = newHistogram();
  const failures: string[] = [];
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  let cpuSec = 0;
  let elapsed = 0;
  let backlog = 0;
  for (const r of runs) {
    if (r.exitCode !== 0 || r.timedOut) {
      failures.push(`driver process ${r.timedOut ? 'timed out' : `exited ${r.exitCode ?? r.signal}`}: ${r.stderr.trim().slice(-300)}`);
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    } catch {
      parsed = undefined;
    }
    if (!isWorkerOutput(parsed)) {
      failures.push(`driver process printed no result: ${r.stdout.slice(0, 200)}`);
      continue;
    }
    merged.add(decodeFromCompressedBase64(parsed.histogram));
    service.add(decodeFromCompressedBase64(parsed.serviceHistogram));
    ops += parsed.ops;
    errors += parsed.errors;
    firstError ??= parsed.firstError ?? undefined;
    cpuSec += parsed.cpuSec;
    elapsed = Math.max(elapsed, parsed.elapsedSec);
    backlog += parsed.backlog;
  }
  const ms = (us: number): number => us / 1000;
  const shown = { ...spec, startAtMs: undefined };
  return {
    opsPerSec: elapsed > 0 ? ops / elapsed : 0, ops, errors, firstError,
    p50Ms: ms(merged.getValueAtPercentile(50)), p99Ms: ms(merged.getValueAtPercentile(99)),
    p999Ms: ms(merged.getValueAtPercentile(99.9)), maxMs: ms(merged.maxValue), meanMs: ms(merged.mean),
    serviceP50Ms: ms(service.getValueAtPercentile(50)), serviceP99Ms: ms(service.getValueAtPercentile(99)),
    serviceP999Ms: ms(service.getValueAtPercentile(99.9)),
    clientCpu: elapsed > 0 ? cpuSec / elapsed : 0, backlog, failures,
    commandLine: `${processes} x ${commandLine('node', ['--import', 'tsx', 'bench/driver-worker.ts', JSON.stringify(shown)])}`,
  };
}
