/**
 * What a scenario is and what it reports. A scenario starts its own servers, measures, stops
 * them, and returns markdown sections plus summary rows; the results writer adds the machine
 * description and writes files. Scenarios that need the cluster are listed as not runnable with
 * the reason, so `--scenario` names them honestly instead of faking figures.
 */
import type { StartContext } from './systems.js';
import type { ThroughputPlan } from './throughput.js';
import type { Program } from './tools.js';

export interface RunOptions {
  rounds: number;
  smoke: boolean;
  /** Multiplies request and key counts (--scale, for quick looks); 1 for recorded results. */
  scale: number;
  ctx: StartContext;
  log(message: string): void;
}

/** One line of the README summary: a ratio measured side by side, with both absolute figures. */
export interface SummaryRow {
  scenario: string;
  case: string;
  /** e.g. "ringkv-memory / redis" */
  pair: string;
  metric: string;
  numerator: string;
  denominator: string;
  /** "median [min–max]" of per-round ratios. */
  ratio: string;
  /** Per-round p99 latency ratio, "median [min–max]", where the metric has one. */
  p99Ratio?: string;
}

export interface ScenarioReport {
  name: string;
  title: string;
  description: string[];
  systems: Array<{ id: string; label: string; commandLine: string }>;
  /** Exact load commands, in the order of the first round. */
  commands: string[];
  sections: string[];
  summary: SummaryRow[];
  /** Server start failures, benchmark errors, lost servers: any entry makes the run exit non-zero. */
  failures: string[];
  raw: unknown;
}

export type Scenario =
  | {
    name: string; title: string; runnable: true; needs: readonly Program[];
    run(opts: RunOptions): Promise<ScenarioReport>;
    /** redis-benchmark scenarios: plans with the same cases are run in one session. */
    plan?: ThroughputPlan;
  }
  | { name: string; title: string; runnable: false; needs: readonly Program[]; reason: string };

/** Programs every redis-benchmark scenario against redis-server needs. */
export const REDIS_PROGRAMS: readonly Program[] = ['redis-server', 'redis-benchmark'];

export function mdTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}
