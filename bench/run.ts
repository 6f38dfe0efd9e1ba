/*
 * `npm run bench [-- [--quick] [--fresh-seed] [NAME …]]`: runs the benchmarks of issue 6 (all,
 * or the named ones) one after another, prints progress to stderr and the report to stdout,
 * and writes both the report and the raw figures to bench/results/ (gitignored).
 * BENCHMARKS.md quotes the figures; bench/history/ keeps the runs it quotes.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { ROOT } from './lib/child.ts';
import { describeFsState, settleFileSystem, type FsState } from './lib/fs-settle.ts';
import { progress } from './lib/progress.ts';
import { table, verdict } from './lib/stats.ts';
import type { Benchmark, BenchResult } from './lib/types.ts';

// Each benchmark module is loaded only when selected.
const BENCHMARKS: Record<string, () => Promise<Benchmark>> = {
  tracing: async () => (await import('./tracing.ts')).tracing,
  'tracing-instructions': async () => (await import('./tracing.ts')).tracingInstructions,
  'mcp-latency': async () => (await import('./mcp-latency.ts')).mcpLatency,
  'store-fs': async () => (await import('./store-fs.ts')).storeFs,
  'side-by-side': async () => (await import('./side-by-side.ts')).sideBySide,
  throughput: async () => (await import('./throughput.ts')).throughput,
  scale: async () => (await import('./scale.ts')).scale,
  storage: async () => (await import('./storage.ts')).storage,
  'cold-start': async () => (await import('./cold-start.ts')).coldStart,
  memory: async () => (await import('./memory.ts')).memory,
  sessions: async () => (await import('./sessions.ts')).sessions,
};

function usage(): string {
  return `usage: npm run bench -- [--quick] [--all] [--fresh-seed] [--million] [${Object.keys(BENCHMARKS).join(' | ')} …]
  --quick       fewer rounds and smaller sizes (a smoke run; figures are rougher)
  --all         every benchmark, tracing-instructions included
  --fresh-seed  re-create the seeded 1k/10k/100k stores in bench/results/cache
  --million     scale also measures a user with 1,000,000 memories (reported, no target; the
                first run seeds it: ~10 minutes and ~11 GB in bench/results/cache)
With no names, all but tracing-instructions run (callgrind takes minutes; name it, after
tracing so that its instruction counts are also shown in milliseconds, or use --all).`;
}

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`${usage()}\n`);
  process.exit(0);
}
const quick = args.includes('--quick');
const all = args.includes('--all');
const freshSeed = args.includes('--fresh-seed');
const million = args.includes('--million');
const unknownFlags = args.filter((a) => a.startsWith('-') && !['--quick', '--fresh-seed', '--all', '--million'].includes(a));
const names = args.filter((a) => !a.startsWith('-'));
const unknown = names.filter((n) => !(n in BENCHMARKS));
if (unknownFlags.length || unknown.length) {
  process.stderr.write(`unknown: ${[...unknownFlags, ...unknown].join(' ')}\n${usage()}\n`);
  process.exit(2);
}
// Under callgrind a turn is ~100× slower: that benchmark runs only when named.
const OPT_IN = new Set(['tracing-instructions']);
const selected = names.length ? names : Object.keys(BENCHMARKS).filter((n) => all || !OPT_IN.has(n));

const resultsDir = join(ROOT, 'bench', 'results');
const cacheDir = join(resultsDir, 'cache');
await mkdir(cacheDir, { recursive: true });

const started = new Date();
const machine = {
  date: started.toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  platform: `${os.platform()} ${os.release()}`,
  load: os.loadavg().map((l) => l.toFixed(2)).join(' '),
};
const command = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
progress(`${command}: ${selected.join(', ')} on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}`);

const earlier = new Map<string, unknown>();
const results: { name: string; result?: BenchResult; error?: string; seconds: number; fs: FsState }[] = [];
// Scratch directories go only after the last benchmark: for up to six minutes after files are
// deleted, this file system checks every recently freed inode before it hands out a new one,
// and a store's two file creations took ~0.8 ms instead of ~0.03 ms (lib/fs-settle.ts) for the
// next benchmark, whose servers create files in the same place. The probe's files stay too.
const probeRoot = await mkdtemp(join(os.tmpdir(), 'memento-bench-fs-probe-'));
const finished: string[] = [probeRoot];
for (const name of selected) {
  const bench = await BENCHMARKS[name]!();
  // A quick run is a smoke run: it reports the file system's state but does not wait for it.
  const fs = await settleFileSystem(probeRoot, !quick && bench.createsFiles === true, name);
  const workDir = await mkdtemp(join(os.tmpdir(), `memento-bench-${name}-`));
  const t0 = performance.now();
  progress(`== ${name}: ${bench.summary} (file creation p50 ${fs.createP50Ms.toFixed(3)} ms)`);
  try {
    const result = await bench.run({ quick, workDir, cacheDir, freshSeed, million, earlier });
    earlier.set(name, result.data);
    results.push({ name, result, seconds: (performance.now() - t0) / 1000, fs });
  } catch (err) {
    progress(`${name} failed: ${(err as Error).stack ?? err}`);
    results.push({ name, error: String((err as Error).stack ?? err), seconds: (performance.now() - t0) / 1000, fs });
  } finally {
    finished.push(workDir);
  }
  progress(`== ${name} done in ${results.at(-1)!.seconds.toFixed(0)} s`);
}
for (const dir of finished) await rm(dir, { recursive: true, force: true });

const lines: string[] = [
  `# Benchmark run ${machine.date}`,
  '',
  `Command: \`${command}\` · ${machine.cpus} × ${machine.cpuModel} · ${machine.memoryGiB} GiB · Node ${machine.node} · ${machine.platform} · load average at start ${machine.load}${quick ? ' · **quick run**' : ''}`,
  '',
  '## Targets',
  '',
  table(
    ['benchmark', 'what', 'target', 'measured', 'verdict'],
    results.flatMap((r) =>
      r.result ? r.result.targets.map((t) => [r.name, t.what, t.target, t.measured, verdict(t.met)]) : [[r.name, 'the benchmark failed', '', '', '**error**']],
    ),
  ),
  '',
];
for (const r of results) {
  lines.push(`## ${r.result?.title ?? r.name} (\`${r.name}\`, ${r.seconds.toFixed(0)} s)`, '');
  if (r.error) lines.push('```', r.error, '```', '');
  else lines.push(r.result!.method, '', describeFsState(r.fs), '', r.result!.body, '');
}
const report = lines.join('\n');
const stamp = machine.date.replace(/[:.]/g, '-');
await writeFile(join(resultsDir, `${stamp}.md`), report);
await writeFile(join(resultsDir, 'latest.md'), report);
await writeFile(
  join(resultsDir, `${stamp}.json`),
  JSON.stringify({ machine, command, results: results.map((r) => ({ name: r.name, seconds: r.seconds, fs: r.fs, error: r.error, targets: r.result?.targets, data: r.result?.data })) }, null, 2),
);
process.stdout.write(`${report}\n`);
progress(`report written to bench/results/${stamp}.md (and latest.md)`);
process.exit(results.some((r) => r.error) ? 1 : 0);
