/*
 * Summaries and formatting shared by every benchmark. Percentiles come from simple-statistics
 * (the project's choice for them); what is ours is only which summary each table shows.
 */
import { linearRegression, median as ssMedian, quantileSorted } from 'simple-statistics';

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { n: 0, p50: NaN, p90: NaN, p99: NaN, mean: NaN, max: NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  let sum = 0;
  for (const s of sorted) sum += s;
  return {
    n: sorted.length,
    p50: quantileSorted(sorted, 0.5),
    p90: quantileSorted(sorted, 0.9),
    p99: quantileSorted(sorted, 0.99),
    mean: sum / sorted.length,
    max: sorted[sorted.length - 1]!,
  };
}

export function median(values: readonly number[]): number {
  return values.length ? ssMedian([...values]) : NaN;
}

/** Least-squares slope of y over x. */
export function slope(points: readonly [number, number][]): number {
  if (points.length < 2) return NaN;
  return linearRegression(points.map(([x, y]) => [x, y])).m;
}

/** A number for a table: 3 significant digits, no exponent. */
export function fmt(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return '–';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 10 ** digits) return Math.round(value).toLocaleString('en-US');
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(abs)));
  return value.toFixed(Math.min(decimals, 4));
}

export function ms(value: number): string {
  return `${fmt(value)} ms`;
}

export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '–';
}

export function pct(value: number, digits = 3): string {
  return Number.isFinite(value) ? `${fmt(value * 100, digits)} %` : '–';
}

export function mib(bytes: number): string {
  return `${fmt(bytes / 1024 / 1024)} MiB`;
}

export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** ✅ / ❌ with the comparison spelled out, for the "target" column. */
export function verdict(met: boolean | undefined): string {
  return met === undefined ? '–' : met ? 'met' : '**missed**';
}

/**
 * The median with a distribution-free 95 % confidence interval (order statistics around n/2,
 * ±1.96·√n/2 ranks): on a noisy machine a difference is only worth quoting with its interval.
 */
export function medianCI(values: readonly number[]): { median: number; low: number; high: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { median: NaN, low: NaN, high: NaN };
  const half = 0.98 * Math.sqrt(n);
  const low = sorted[Math.max(0, Math.floor(n / 2 - half) - 1)]!;
  const high = sorted[Math.min(n - 1, Math.ceil(n / 2 + half) - 1)]!;
  return { median: median(sorted), low, high };
}

/** `0.53 ms (0.31 … 0.80)`. */
export function withCI(ci: { median: number; low: number; high: number }, unit = ' ms'): string {
  return `${fmt(ci.median)}${unit} (95 % CI ${fmt(ci.low)} … ${fmt(ci.high)})`;
}
