/*
 * Memento used to keep memories in ./memento-data, beside wherever it was started. They now
 * live in the user's data directory (config.ts, defaultDataDir). Someone who still has a
 * ./memento-data here is told once where their memories are now and how to keep using the
 * old folder; nothing is moved or deleted for them.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Lists the old folders already mentioned, one a line, in the new data directory. */
const TOLD = '.legacy-data-noted';

/** The one-time note for a ./memento-data in `cwd`, or undefined (none there, or told before). */
export function legacyDataNote(dataDir: string, cwd = process.cwd()): string | undefined {
  const old = resolve(cwd, 'memento-data');
  if (old === resolve(dataDir) || !existsSync(old)) return undefined;
  const told = join(dataDir, TOLD);
  try {
    if (readFileSync(told, 'utf8').split('\n').includes(old)) return undefined;
  } catch {
    // Never told anyone anything yet.
  }
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    appendFileSync(told, `${old}\n`, { mode: 0o600 });
  } catch {
    // Unwritable: the note may come again, which is better than never.
  }
  return (
    `memories are now kept in ${dataDir}, wherever Memento starts; the ${old} found here is no longer read. ` +
    `Move its contents into ${dataDir}, or set MEMENTO_DATA_DIR=${old} to keep using it.`
  );
}
