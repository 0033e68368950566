/**
 * Results writer. Each scenario run becomes `<dir>/<YYYY-MM-DD>-<scenario>.md` (machine, exact
 * commands, tables) and a `.json` twin holding the summary rows; the README summary between
 * `<!-- bench:start -->` and `<!-- bench:end -->` is rebuilt from the newest JSON of every
 * scenario, so running one scenario does not drop the others' figures. Only the text between the
 * markers is ever rewritten; the markers are appended in a "Performance" section if absent.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineInfo } from './machine.js';
import { mdTable, type ScenarioReport, type SummaryRow } from './scenario.js';
import { fmtBytes } from './stats.js';

export const README_START = '<!-- bench:start -->';
export const README_END = '<!-- bench:end -->';

interface StoredResult {
  scenario: string;
  title: string;
  date: string;
  commit: string;
  machine: string;
  rounds: number;
  failures: string[];
  summary: SummaryRow[];
  file: string;
}

export function renderMarkdown(report: ScenarioReport, machine: MachineInfo, rounds: number, smoke: boolean): string {
  const lines: string[] = [];
  lines.push(`# ${report.title}`, '');
  lines.push(`Scenario \`${report.name}\`${smoke ? ' (smoke run: tiny request counts, figures meaningless)' : ''}, ${rounds} round(s), run ${machine.date}.`, '');
  lines.push(...report.description, '');
  lines.push('## Machine', '');
  lines.push(mdTable(['', ''], [
    ['CPU', `${machine.cpuModel}, ${machine.cores} cores`],
    ['memory', fmtBytes(machine.memoryBytes)],
    ['kernel', machine.kernel],
    ['Node.js', machine.node],
    ['redis-server', machine.redisServer],
    ['redis-benchmark', machine.redisBenchmark],
    ['ringkv commit', machine.commit],
    ['data directory filesystem', machine.dataFilesystem],
    ['load average at start', machine.loadAverage],
  ]), '');
  lines.push('## Systems', '');
  for (const s of report.systems) lines.push(`- \`${s.id}\`: ${s.label}`, '', '  ```', `  ${s.commandLine}`, '  ```');
  lines.push('', '## Commands (first round; ports are chosen per run)', '', '```');
  lines.push(...report.commands);
  lines.push('```', '', '## Results', '');
  for (const s of report.sections) lines.push(s, '');
  if (report.failures.length > 0) {
    lines.push('## Failures', '');
    for (const f of report.failures) lines.push(`- ${f.replace(/\n/g, ' ')}`);
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/**
 * Command lines carry absolute paths of this checkout and of the Node binary; results files are
 * committed and read elsewhere, so paths become relative to the repository and `node`.
 */
export function scrubPaths(text: string, repoRoot: string): string {
  const root = repoRoot.replace(/\/+$/, '');
  return text.split(process.execPath).join('node').split(`${root}/`).join('').split(root).join('.');
}

export function writeReport(dir: string, report: ScenarioReport, machine: MachineInfo, rounds: number, smoke: boolean, repoRoot: string): string {
  mkdirSync(dir, { recursive: true });
  const day = machine.date.slice(0, 10);
  const base = join(dir, `${day}-${report.name}`);
  writeFileSync(`${base}.md`, scrubPaths(renderMarkdown(report, machine, rounds, smoke), repoRoot));
  const stored: StoredResult = {
    scenario: report.name, title: report.title, date: machine.date, commit: machine.commit,
    machine: `${machine.cpuModel}, ${machine.cores} cores, ${machine.kernel}, Node ${machine.node}`,
    rounds, failures: report.failures, summary: report.summary, file: `${day}-${report.name}.md`,
  };
  writeFileSync(`${base}.json`, scrubPaths(`${JSON.stringify({ ...stored, raw: report.raw }, null, 2)}\n`, repoRoot));
  return `${base}.md`;
}

function isStored(x: unknown): x is StoredResult {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return typeof o.scenario === 'string' && typeof o.date === 'string' && Array.isArray(o.summary);
}

/** The newest stored result of every scenario in `dir`, in `order`. */
export function latestResults(dir: string, order: readonly string[]): StoredResult[] {
  if (!existsSync(dir)) return [];
  const newest = new Map<string, StoredResult>();
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    } catch {
      continue;
    }
    if (!isStored(parsed)) continue;
    const prev = newest.get(parsed.scenario);
    if (prev === undefined || prev.date < parsed.date) newest.set(parsed.scenario, parsed);
  }
  const rank = (s: string): number => (order.indexOf(s) < 0 ? order.length : order.indexOf(s));
  return [...newest.values()].sort((a, b) => rank(a.scenario) - rank(b.scenario));
}

export function renderSummary(results: readonly StoredResult[]): string {
  if (results.length === 0) return '_No benchmark results recorded yet: run `npm run bench`._';
  const rows: string[][] = [];
  for (const r of results) {
    for (const s of r.summary) {
      const flag = r.failures.length > 0 ? ' (had failures)' : '';
      rows.push([`[${s.scenario}](bench/results/${r.file})${flag}`, s.case, s.pair, s.metric, s.numerator, s.denominator, s.ratio, s.p99Ratio ?? '']);
    }
  }
  const commits = [...new Set(results.map((r) => r.commit))].join(', ');
  const machines = [...new Set(results.map((r) => r.machine))].join('; ');
  return [
    'Ratios are measured side by side (the two systems alternate within each round) and given as',
    'median [min–max] over rounds; absolute figures are medians [min–max]. Client and server CPU for',
    'every figure are in the linked results files. Regenerate with `npm run bench`.',
    '',
    mdTable(['scenario', 'case', 'compared', 'metric', 'numerator', 'denominator', 'ratio median [min–max]', 'p99 ratio'], rows),
    '',
    `Machine: ${machines}. ringkv commit: ${commits}.`,
  ].join('\n');
}

/** Replaces the text between the markers (adding a Performance section with them if absent). */
export function replaceBetweenMarkers(readme: string, body: string): string {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start >= 0 && end > start) {
    return `${readme.slice(0, start + README_START.length)}\n${body}\n${readme.slice(end)}`;
  }
  const sep = readme.length === 0 || readme.endsWith('\n\n') ? '' : readme.endsWith('\n') ? '\n' : '\n\n';
  return `${readme}${sep}## Performance\n\n${README_START}\n${body}\n${README_END}\n`;
}

export function refreshReadme(readmePath: string, resultsDir: string, order: readonly string[]): void {
  const readme = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : '';
  writeFileSync(readmePath, replaceBetweenMarkers(readme, renderSummary(latestResults(resultsDir, order))));
}
