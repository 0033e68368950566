/**
 * What every operator command shares: the node address option (--host host:port of any node's
 * HTTP port, env RINGKV_HOST), --json, --timeout-ms; one client per run; and error handling
 * that prints exactly one line (`ringkv <cmd>: <CODE> <message>`) and exits 1, never a stack.
 *
 * Output: human text by default; with --json, one JSON document on stdout (commands that
 * follow progress print only the final document), so scripts can parse it.
 */
import type { Command } from 'commander';
import { RingkvClient } from '../../client/client.js';
import { RingkvClientError } from '../../client/errors.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface OpsIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** True when stdout is a terminal (progress bars redraw in place). */
  isTty?: boolean;
  /** Raw bytes to stdout; without it bytes are written as latin1 text. */
  stdoutBytes?(bytes: Buffer): void;
}

export interface CommonOptions {
  host: string;
  json: boolean;
  timeoutMs: number;
}

export interface OpsContext {
  readonly io: OpsIo;
  setExit(code: number): void;
}

/** A usage problem found after commander parsed the arguments. */
export class UsageError extends Error {}

export function addCommonOptions(cmd: Command, io: OpsIo): Command {
  return cmd
    .option('--host <host:port>', 'HTTP address of any node (env RINGKV_HOST)', io.env['RINGKV_HOST'] ?? '127.0.0.1:7379')
    .option('--json', 'print one JSON document for scripts', false)
    .option('--timeout-ms <ms>', 'per-request deadline', '5000');
}

export function commonOptions(opts: Record<string, unknown>): CommonOptions {
  const host = String(opts['host']);
  const timeoutMs = Number(opts['timeoutMs']);
  if (!/^[^\s/:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(host)) throw new UsageError(`--host must be host:port, got ${JSON.stringify(host)}`);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new UsageError('--timeout-ms must be a positive integer');
  return { host, json: opts['json'] === true, timeoutMs };
}

export function newClient(o: CommonOptions): RingkvClient {
  // Ops commands run once: no periodic ring refresh timer, no retries that would hide failures.
  return new RingkvClient({ seeds: [o.host], timeoutMs: o.timeoutMs, retries: 1, ringRefreshMs: 0 });
}

/** One line for any failure. */
export function describeError(e: unknown): string {
  if (e instanceof RingkvClientError) return `${e.code} ${e.message.split('\n')[0] ?? ''}`;
  if (e instanceof UsageError) return e.message;
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? 'failed';
}

/**
 * Wraps a command action: usage errors exit 2, anything else prints one line and exits 1.
 * The action resolves with its exit code.
 */
export function action<A extends unknown[]>(ctx: OpsContext, name: string, run: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      ctx.setExit(await run(...args));
    } catch (e) {
      ctx.io.stderr(`ringkv ${name}: ${describeError(e)}\n`);
      ctx.setExit(e instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE);
    }
  };
}

export function printJson(io: OpsIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned columns. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n') + '\n';
}

/**
 * A progress bar: redrawn in place on a terminal; elsewhere a line each time the percentage
 * crosses a 10% step or the label changes, so logs stay short. Silent in --json mode.
 */
export class ProgressBar {
  private lastStep = -1;
  private lastLabel = '';
  private drawn = false;

  constructor(private readonly io: OpsIo, private readonly silent: boolean, private readonly width = 30) {}

  update(done: number, total: number, label: string): void {
    if (this.silent) return;
    const frac = total <= 0 ? 0 : Math.max(0, Math.min(1, done / total));
    const filled = Math.round(frac * this.width);
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(this.width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${label}`;
    if (this.io.isTty === true) {
      this.io.stdout(`\r${bar}\u001b[K`);
      this.drawn = true;
      return;
    }
    const step = Math.floor(frac * 10);
    if (step !== this.lastStep || label.split('  ')[0] !== this.lastLabel) {
      this.io.stdout(`${bar}\n`);
      this.lastStep = step;
      this.lastLabel = label.split('  ')[0] ?? '';
    }
  }

  done(): void {
    if (this.drawn) this.io.stdout('\n');
    this.drawn = false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reads a value argument: literal text, '-' = stdin, or @file. */
export async function readValueArg(value: string): Promise<Buffer> {
  if (value === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }
  if (value.startsWith('@')) {
    const { readFile } = await import('node:fs/promises');
    return readFile(value.slice(1));
  }
  return Buffer.from(value, 'utf8');
}

export function percent(x: number): string {
  return `${x.toFixed(2)}%`;
}
