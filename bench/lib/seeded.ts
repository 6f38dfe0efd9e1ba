/*
 * Stores seeded with 1k, 10k and 100k memories for the scale and side-by-side benchmarks,
 * kept in bench/results/cache between runs: seeding 100k memories through the store API takes
 * about a minute here, far longer than measuring them. A benchmark that stores into a seeded
 * user deletes what it stored before it finishes, and every benchmark reports the count the
 * server itself gives (retrieve_memories' total), so a drifted cache shows in the report.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startChild } from './child.ts';
import { progress } from './progress.ts';

/** Bump when the corpus (lib/corpus.ts) or the on-disk format changes. */
// 2: the embedded backend's SQLite index (seeded through the new store, so the index is built).
// 3: one FTS5 table per user (index schema 2): reseeding is faster than the server rebuilding
// a 100k index from the files in the background while it is being measured.
// 4: the index's own postings instead of FTS5 (index schema 3).
// 5: merges a slice of words per store, postings keyed by their first memory (index schema 4).
const SEED_VERSION = 5;

export const seededUser = (size: number) => `seed-${size}`;

/** Seeds `sizes` into the data directory `<set>-v<SEED_VERSION>` under `cacheDir` (`million`: scale's own). */
export async function ensureSeeded(cacheDir: string, sizes: number[], fresh: boolean, set = 'stores'): Promise<string> {
  const dataDir = join(cacheDir, `${set}-v${SEED_VERSION}`);
  const markerFile = join(cacheDir, `${set}-v${SEED_VERSION}.json`);
  let marker: Record<string, number> = {};
  if (fresh) {
    await rm(dataDir, { recursive: true, force: true });
  } else if (existsSync(markerFile)) {
    marker = JSON.parse(await readFile(markerFile, 'utf8')) as Record<string, number>;
  }
  const missing = sizes.filter((n) => n > 0 && marker[seededUser(n)] !== n);
  if (missing.length === 0) return dataDir;
  const seeder = await startChild('seed.ts');
  seeder.onEvent((e) => {
    const { user, done, of } = e as { user: string; done: number; of: number };
    progress(`seeding ${user}: ${done.toLocaleString('en-US')} of ${of.toLocaleString('en-US')}`);
  });
  try {
    for (const n of missing) {
      const user = seededUser(n);
      // A half-seeded user from an interrupted run starts over.
      await rm(join(dataDir, user), { recursive: true, force: true });
      progress(`seeding ${n.toLocaleString('en-US')} memories for ${user} through the store API (cached in bench/results/cache for later runs)`);
      const { seconds } = await seeder.call<{ seconds: number }>('seed', { dataDir, users: [{ user, count: n }] });
      progress(`seeded ${user} in ${seconds.toFixed(1)} s`);
      marker[user] = n;
      await writeFile(markerFile, JSON.stringify(marker, null, 2));
    }
  } finally {
    await seeder.stop();
  }
  return dataDir;
}
