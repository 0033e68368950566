/**
 * redis-benchmark runner and output parser.
 *
 * The runner always asks for `--csv`: redis-benchmark 7 prints one row per test with rps and
 * avg/min/p50/p95/p99/max latency in milliseconds, and columns are found by header name, not by
 * position. The parser also reads the normal (human) output's "Summary" block and the `-q` line,
 * so older or newer redis-benchmark builds still give throughput (p99 is absent from `-q`).
 *
 * redis-benchmark exits 1 on the first error reply ("Error from server: ...") and, when it cannot
 * connect, retries forever: the runner aborts on that message and reports it as an error.
 */
import { runClient, type ClientRun } from './process.js';

export interface BenchRow {
  /** Test name as redis-benchmark prints it: SET, GET, ... */
  test: string;
  rps: number;
  avgMs?: number;
  minMs?: number;
  p50Ms?: number;
  p95Ms?: number;
  p99Ms?: number;
  maxMs?: number;
}

export type OutputFormat = 'csv' | 'normal' | 'quiet' | 'unknown';

/** Splits one CSV line with double-quoted fields ("a","b",1). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let j = i + 1;
      let s = '';
      for (;;) {
        const k = line.indexOf('"', j);
        if (k < 0) { s += line.slice(j); j = line.length; break; }
        s += line.slice(j, k);
        if (line[k + 1] === '"') { s += '"'; j = k + 2; continue; }
        j = k + 1;
        break;
      }
      out.push(s);
      const comma = line.indexOf(',', j);
      if (comma < 0) break;
      i = comma + 1;
    } else {
      const comma = line.indexOf(',', i);
      out.push((comma < 0 ? line.slice(i) : line.slice(i, comma)).trim());
      if (comma < 0) break;
      i = comma + 1;
    }
  }
  return out;
}

function num(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

const CSV_COLUMNS: ReadonlyArray<[string, keyof Omit<BenchRow, 'test' | 'rps'>]> = [
  ['avg_latency_ms', 'avgMs'], ['min_latency_ms', 'minMs'], ['p50_latency_ms', 'p50Ms'],
  ['p95_latency_ms', 'p95Ms'], ['p99_latency_ms', 'p99Ms'], ['max_latency_ms', 'maxMs'],
];

/** The CSV header is the line naming both "test" and "rps", wherever those columns are. */
function isCsvHeader(line: string): boolean {
  if (!line.startsWith('"')) return false;
  const f = csvFields(line);
  return f.includes('test') && f.includes('rps');
}

export function parseCsv(text: string): BenchRow[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.startsWith('"'));
  const headerLine = lines.find(isCsvHeader);
  if (headerLine === undefined) return [];
  const header = csvFields(headerLine);
  const testCol = header.indexOf('test');
  const rpsCol = header.indexOf('rps');
  if (testCol < 0 || rpsCol < 0) return [];
  const rows: BenchRow[] = [];
  for (const line of lines) {
    if (line === headerLine) continue;
    const f = csvFields(line);
    const test = f[testCol];
    const rps = num(f[rpsCol]);
    if (test === undefined || rps === undefined) continue;
    const row: BenchRow = { test, rps };
    for (const [col, key] of CSV_COLUMNS) {
      const idx = header.indexOf(col);
      const v = idx >= 0 ? num(f[idx]) : undefined;
      if (v !== undefined) row[key] = v;
    }
    rows.push(row);
  }
  return rows;
}

/** Normal mode: "====== SET ======" blocks, each ending with a "Summary:" latency table. */
export function parseNormal(text: string): BenchRow[] {
  // Progress lines are separated by \r; keep only the final text of each line.
  const clean = text.split('\n').map((l) => l.split('\r').pop() ?? '').join('\n');
  const rows: BenchRow[] = [];
  const blocks = clean.split(/^\s*={3,} (.+?) ={3,}\s*$/m);
  // split with a capture group: [before, name1, body1, name2, body2, ...]
  for (let i = 1; i + 1 < blocks.length; i += 2) {
    const test = (blocks[i] ?? '').trim();
    const body = blocks[i + 1] ?? '';
    const tp = /throughput summary:\s*([\d.]+)\s*requests per second/.exec(body);
    let rps = num(tp?.[1]);
    if (rps === undefined) {
      const old = /([\d.]+) requests per second/.exec(body);
      rps = num(old?.[1]);
    }
    if (rps === undefined) continue;
    const row: BenchRow = { test, rps };
    const lat = /latency summary \(msec\):\s*\n\s*(.+)\n\s*(.+)/.exec(body);
    if (lat) {
      const names = (lat[1] ?? '').trim().split(/\s+/);
      const values = (lat[2] ?? '').trim().split(/\s+/);
      const map: Record<string, keyof Omit<BenchRow, 'test' | 'rps'>> = {
        avg: 'avgMs', min: 'minMs', p50: 'p50Ms', p95: 'p95Ms', p99: 'p99Ms', max: 'maxMs',
      };
      names.forEach((n, j) => {
        const key = map[n];
        const v = num(values[j]);
        if (key !== undefined && v !== undefined) row[key] = v;
      });
    }
    rows.push(row);
  }
  return rows;
}

/** `-q` mode: "SET: 89686.09 requests per second, p50=0.335 msec" (after \r progress text). */
export function parseQuiet(text: string): BenchRow[] {
  const rows: BenchRow[] = [];
  const re = /(?:^|\r|\n)\s*([A-Za-z_][\w ()\-]*?): ([\d.]+) requests per second(?:, p50=([\d.]+) msec)?/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const rps = num(m[2]);
    if (rps === undefined) continue;
    const row: BenchRow = { test: (m[1] ?? '').trim(), rps };
    const p50 = num(m[3]);
    if (p50 !== undefined) row.p50Ms = p50;
    rows.push(row);
  }
  return rows;
}

export function detectFormat(text: string): OutputFormat {
  if (text.split(/\r?\n/).some((l) => isCsvHeader(l.trim()))) return 'csv';
  if (/^\s*={3,} .+ ={3,}\s*$/m.test(text)) return 'normal';
  if (/requests per second/.test(text)) return 'quiet';
  return 'unknown';
}

export function parseBenchmarkOutput(text: string): { format: OutputFormat; rows: BenchRow[] } {
  const format = detectFormat(text);
  switch (format) {
    case 'csv': return { format, rows: parseCsv(text) };
    case 'normal': return { format, rows: parseNormal(text) };
    case 'quiet': return { format, rows: parseQuiet(text) };
    case 'unknown': return { format, rows: [] };
    default: {
      const never: never = format;
      throw new Error(`unhandled format ${String(never)}`);
    }
  }
}

/** Error lines redis-benchmark prints on stderr before it exits (server errors, connection loss). */
export function parseBenchmarkErrors(stderr: string): string[] {
  return stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) =>
    /^(Error|Error from server|Could not connect|Unexpected error|All clients disconnected|ERROR|Node .* replied with error)/.test(l));
}

export interface LoadSpec {
  clients: number;
  requests: number;
  keyspace: number;
  valueBytes: number;
  pipeline: number;
  /** One redis-benchmark test per run (set, get, ...): CPU then belongs to one figure. */
  test: string;
  /** --cluster: redis-benchmark reads CLUSTER NODES and sends each key to its slot's master. */
  cluster?: boolean;
}

export function benchmarkArgs(host: string, port: number, load: LoadSpec): string[] {
  return [
    '-h', host, '-p', String(port),
    '-c', String(load.clients), '-n', String(load.requests), '-r', String(load.keyspace),
    '-d', String(load.valueBytes), '-P', String(load.pipeline), '-t', load.test, '--csv',
    ...(load.cluster === true ? ['--cluster'] : []),
  ];
}

export interface BenchRun {
  row: BenchRow | undefined;
  errors: string[];
  client: ClientRun;
}

/** Runs one redis-benchmark test and parses it; any error is reported, never thrown. */
export async function runRedisBenchmark(host: string, port: number, load: LoadSpec, timeoutMs: number): Promise<BenchRun> {
  const client = await runClient({
    cmd: 'redis-benchmark',
    args: benchmarkArgs(host, port, load),
    timeoutMs,
    abortOn: /Could not connect[^\n]*\n/,
  });
  const errors = parseBenchmarkErrors(client.stderr);
  if (client.aborted !== undefined && !errors.includes(client.aborted.trim())) errors.push(client.aborted.trim());
  if (client.timedOut) errors.push(`timed out after ${timeoutMs} ms`);
  else if (client.exitCode !== 0 && errors.length === 0) {
    errors.push(`redis-benchmark exited with ${client.exitCode ?? client.signal}: ${client.stderr.trim().slice(-300)}`);
  }
  const { rows } = parseBenchmarkOutput(client.stdout);
  const want = load.test.toUpperCase();
  const row = rows.find((r) => r.test.toUpperCase() === want) ?? (rows.length === 1 ? rows[0] : undefined);
  if (row === undefined && errors.length === 0) errors.push(`no ${want} row in redis-benchmark output: ${client.stdout.slice(0, 300)}`);
  return { row, errors, client };
}
