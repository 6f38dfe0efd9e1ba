/*
 * What every benchmark module exports and returns, so bench/run.ts can run any subset and
 * write one report.
 */
export interface BenchOptions {
  quick: boolean;
  /** A scratch directory for this benchmark's data, removed after the run. */
  workDir: string;
  /** Seeded stores kept between runs (bench/results/cache). */
  cacheDir: string;
  /** Re-seed cached stores even when they look complete. */
  freshSeed: boolean;
  /** `scale` also measures a user with 1,000,000 memories (seeded once: ~10 min, ~11 GB). */
  million?: boolean;
  /** Raw data of the benchmarks that ran before this one in the same invocation. */
  earlier: ReadonlyMap<string, unknown>;
}

export interface TargetCheck {
  what: string;
  target: string;
  measured: string;
  met: boolean | undefined;
}

export interface BenchResult {
  title: string;
  /** How it was measured, in a few sentences (goes into the report above the tables). */
  method: string;
  /** Markdown tables and notes. */
  body: string;
  targets: TargetCheck[];
  /** Raw figures for bench/results/*.json. */
  data: unknown;
}

export interface Benchmark {
  name: string;
  summary: string;
  /**
   * Its figures include servers creating files (stores): bench/run.ts waits until file creation
   * is back to normal before it starts (lib/fs-settle.ts).
   */
  createsFiles?: boolean;
  run(options: BenchOptions): Promise<BenchResult>;
}
