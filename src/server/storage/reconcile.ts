/*
 * Bringing the index in line with a user's directory, for files added, edited or removed by
 * hand (or by a process that crashed before it updated the index).
 *
 * When: every call first compares the directory's modification time with the one the index
 * recorded (one stat: the cheap change check). Memento's own stores and deletes move the
 * recorded time along with them, so only a change made by something else differs; then the
 * directory is listed and compared name by name ("names": new sidecars are read, vanished
 * ones dropped). At server start every user directory also gets a "full" pass that compares
 * each memory's file times and sizes too, which catches a file edited in place (that does not
 * change the directory's time) and removes leftovers of interrupted writes.
 *
 * Symbolic links are never followed: a linked sidecar or content file is not a memory (logged).
 */
import { lstatSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { log } from '../../log.ts';
import { META_SUFFIX } from './input.ts';
import { refuseLink } from './fs-safe.ts';
import { fieldsOf, readMemory } from './memory-files.ts';
import type { SqliteIndex } from './sqlite-index.ts';
import { errorCode } from './types.ts';

const READ_CONCURRENCY = 32;
const BATCH = 500;
/** From this many files to read, the log shows progress (at every tenth). */
const PROGRESS_FROM = 1000;

/** The directory's mtime in nanoseconds as text, "missing" when it does not exist. */
export function dirStamp(dir: string): string {
  const info = lstatSync(dir, { bigint: true, throwIfNoEntry: false });
  if (!info) return 'missing';
  if (info.isSymbolicLink()) throw refuseLink('the user directory', dir);
  return String(info.mtimeNs);
}

export interface ReconcileResult {
  added: number;
  updated: number;
  removed: number;
}

export async function reconcileUser(
  index: SqliteIndex,
  dir: string,
  user: string,
  mode: 'names' | 'full',
  shouldStop: () => boolean = () => false,
): Promise<ReconcileResult> {
  const result: ReconcileResult = { added: 0, updated: 0, removed: 0 };
  // Before listing: a change made while we work then shows as a change next time.
  const stamp = dirStamp(dir);
  if (stamp === 'missing') {
    if (index.files(user).size > 0) {
      log.warn('a user directory was removed by hand; forgetting its memories', { user });
      index.transaction(() => index.dropUser(user));
    }
    index.transaction(() => index.setDirMtime(user, stamp));
    return result;
  }
  const entries = await readdir(dir, { withFileTypes: true });
  const known = index.files(user);
  const sidecars = new Set<string>();
  const toRead: string[] = [];
  for (const entry of entries) {
    if (!entry.name.endsWith(META_SUFFIX)) continue;
    const file = entry.name.slice(0, -META_SUFFIX.length);
    if (entry.isSymbolicLink()) {
      refuseLink('the metadata file', path.join(dir, entry.name));
      continue;
    }
    sidecars.add(file);
    const have = known.get(file);
    if (!have) {
      toRead.push(file);
    } else if (mode === 'full') {
      const [c, m] = await Promise.all([lstat(path.join(dir, file)).catch(() => undefined), lstat(path.join(dir, entry.name)).catch(() => undefined)]);
      if (!c || !m || c.mtimeMs !== have.contentMtimeMs || c.size !== have.contentSize || m.mtimeMs !== have.metaMtimeMs) toRead.push(file);
    }
  }
  const rebuilding = toRead.length >= PROGRESS_FROM;
  const step = Math.ceil(toRead.length / 10);
  if (rebuilding) log.info('indexing memory files', { user, files: toRead.length });
  for (let start = 0; start < toRead.length && !shouldStop(); start += BATCH) {
    const batch = toRead.slice(start, start + BATCH);
    const read: NonNullable<Awaited<ReturnType<typeof readMemory>>>[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(READ_CONCURRENCY, batch.length) }, async () => {
        while (next < batch.length) {
          const got = await readMemory(dir, user, batch[next++]!);
          if (got) read.push(got);
        }
      }),
    );
    index.transaction(() => {
      for (const { row, content } of read) {
        if (known.has(row.file)) result.updated++;
        else result.added++;
        index.put(user, row, fieldsOf(row, content));
      }
    });
    const done = Math.min(start + BATCH, toRead.length);
    if (rebuilding && (done % step < BATCH || done === toRead.length)) {
      log.info('indexing memory files', { user, done, of: toRead.length });
    }
  }
  // Known to the index, no sidecar in the listing: gone, unless it appeared since we listed.
  const gone: { id: string; file: string }[] = [];
  for (const [file, have] of known) {
    if (sidecars.has(file)) continue;
    const still = await lstat(path.join(dir, file + META_SUFFIX)).catch(() => undefined);
    if (!still) gone.push(have);
  }
  if (gone.length > 0) {
    index.transaction(() => {
      for (const g of gone) if (index.removeWhere(user, g.id, g.file)) result.removed++;
    });
  }
  if (!shouldStop()) index.transaction(() => index.setDirMtime(user, stamp));
  if (result.added + result.updated + result.removed > 0) {
    log.info('index brought in line with the files', { user, mode, ...result });
  }
  return result;
}
