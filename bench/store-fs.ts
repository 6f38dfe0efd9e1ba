/*
 * The file-system calls behind one store_memory, outside Memento, on the same file system the
 * benchmarks' data lives on (and on tmpfs, when /dev/shm exists): the sequence the store makes
 * today (src/server/store.ts, UserStore.store: two temporary files, two links, two unlinks, all
 * awaited) next to the one proposed in bench/history/2026-11-21.md §2 (content written under its final name with
 * O_EXCL, the sidecar linked as the commit, its temporary unlinked after answering). Shows how
 * much of a store's latency is the disk's, and what the proposal saves.
 */
import { existsSync } from 'node:fs';
import { link, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { progress } from './lib/progress.ts';
import { fmt, median, summarize, table } from './lib/stats.ts';
import type { Benchmark, BenchOptions, BenchResult } from './lib/types.ts';

const CONTENT = 'x'.repeat(300);
const SIDECAR = `${JSON.stringify({ version: 1, id: 'x', file: 'y', description: 'z', tags: ['a'], created: new Date(0).toISOString(), size: 300 }, null, 2)}\n`;

type Variant = 'current' | 'proposed';

async function once(variant: Variant, dir: string, i: number, pending: Promise<unknown>[]): Promise<void> {
  const final = join(dir, `20240715_143052_note_${i}.txt`);
  const tmpMeta = join(dir, `.tmp-${i}.meta`);
  if (variant === 'current') {
    const tmpContent = join(dir, `.tmp-${i}.content`);
    await Promise.all([writeFile(tmpContent, CONTENT, { flag: 'wx' }), writeFile(tmpMeta, SIDECAR, { flag: 'wx' })]);
    await link(tmpContent, final);
    await link(tmpMeta, `${final}.meta.json`);
    await Promise.all([unlink(tmpContent), unlink(tmpMeta)]);
    return;
  }
  await Promise.all([writeFile(final, CONTENT, { flag: 'wx' }), writeFile(tmpMeta, SIDECAR, { flag: 'wx' })]);
  await link(tmpMeta, `${final}.meta.json`);
  // Answered here; the temporary's removal is not waited for (it is counted in the CPU).
  pending.push(unlink(tmpMeta));
}

async function run(options: BenchOptions): Promise<BenchResult> {
  const perRound = options.quick ? 100 : 200;
  const rounds = options.quick ? 3 : 6;
  const places = [{ name: 'data file system (same as the benchmarks’ stores)', root: options.workDir }];
  if (existsSync('/dev/shm')) places.push({ name: 'tmpfs (/dev/shm)', root: '/dev/shm' });
  const rows: string[][] = [];
  const data: Record<string, unknown> = {};
  for (const place of places) {
    const dir = await mkdtemp(join(place.root, 'memento-bench-fs-'));
    try {
      const times: Record<Variant, number[]> = { current: [], proposed: [] };
      const cpu: Record<Variant, number[]> = { current: [], proposed: [] };
      let i = 0;
      for (let r = 0; r < rounds; r++) {
        for (const variant of (r % 2 ? ['proposed', 'current'] : ['current', 'proposed']) as Variant[]) {
          const pending: Promise<unknown>[] = [];
          const c0 = process.cpuUsage();
          for (let k = 0; k < perRound; k++) {
            const t = performance.now();
            await once(variant, dir, i++, pending);
            times[variant].push(performance.now() - t);
          }
          await Promise.all(pending);
          const c = process.cpuUsage(c0);
          cpu[variant].push((c.user + c.system) / perRound / 1000);
        }
      }
      progress(`store-fs: ${place.name} done`);
      const cur = summarize(times.current);
      const pro = summarize(times.proposed);
      data[place.name] = { current: cur, proposed: pro, cpuCurrent: median(cpu.current), cpuProposed: median(cpu.proposed) };
      rows.push([place.name, 'current', fmt(cur.p50), fmt(cur.p99), fmt(median(cpu.current)), '1.00×']);
      rows.push([place.name, 'proposed', fmt(pro.p50), fmt(pro.p99), fmt(median(cpu.proposed)), `${(pro.p50 / cur.p50).toFixed(2)}×`]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return {
    title: 'The file-system calls of one store',
    method:
      `${rounds} rounds × ${perRound} stores per variant, alternating, in the coordinator process (the calls are the same \`fs/promises\` calls the store makes, on ~300-byte content and a real sidecar). ` +
      'current = both files written under temporary names, content linked, sidecar linked (the commit), both temporaries unlinked, each step awaited; proposed = content written under its final name with `wx`, sidecar temporary written alongside and linked (the commit), its unlink not awaited.',
    body: table(['where', 'sequence', 'p50 (ms)', 'p99 (ms)', 'CPU per store (ms, process)', 'p50 ÷ current'], rows),
    targets: [],
    data,
  };
}

export const storeFs: Benchmark = {
  name: 'store-fs',
  createsFiles: true,
  summary: 'the file-system calls of one store_memory, today’s sequence vs the proposed one',
  run,
};
