/**
 * Summaries and number formatting for results tables. A summary is median, min and max over
 * rounds; medians of an even count average the middle two. Undefined samples (a failed run) are
 * left out, and a summary of nothing is undefined rather than zero.
 */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(samples: readonly (number | undefined)[]): Summary | undefined {
  const xs = samples.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const mid = Math.floor(xs.length / 2);
  const median = xs.length % 2 === 1 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2;
  return { median, min: xs[0] as number, max: xs[xs.length - 1] as number, n: xs.length };
}

export function fmtInt(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

export function fmtFixed(digits: number): (x: number) => string {
  return (x) => x.toFixed(digits);
}

export const fmtMs = fmtFixed(3);
export const fmtRatio = fmtFixed(2);
export const fmtPct = (x: number): string => `${Math.round(x * 100)}%`;

export function fmtBytes(x: number): string {
  if (x >= 1024 * 1024 * 1024) return `${(x / 1024 ** 3).toFixed(2)} GiB`;
  if (x >= 1024 * 1024) return `${(x / 1024 ** 2).toFixed(1)} MiB`;
  if (x >= 1024) return `${(x / 1024).toFixed(1)} KiB`;
  return `${Math.round(x)} B`;
}

/** "median [min–max]", or "median" alone for one sample, or "n/a". */
export function fmtSummary(s: Summary | undefined, fmt: (x: number) => string): string {
  if (s === undefined) return 'n/a';
  if (s.n === 1) return fmt(s.median);
  return `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`;
}
