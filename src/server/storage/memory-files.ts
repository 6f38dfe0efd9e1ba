/*
 * One memory on disk, in the layout the project has always used: `<user>/<name>` holds the
 * content exactly as written and `<user>/<name>.meta.json` (the sidecar) its metadata.
 *
 * The sidecar is the commit record. A store writes both files under temporary names, links
 * the content to its final name, then links the sidecar; `link` fails rather than replace an
 * existing name, so nothing is ever clobbered and each final name appears complete or not at
 * all. A delete removes the sidecar first. After a crash at any point, every sidecar names a
 * complete content file; what a crash can leave is temporary files (`.tmp-<pid>-<id>.content`
 * / `.meta`, a shape nothing else produces) and, if it struck between the two links, a content
 * file with no sidecar that is still hard-linked to its temporary file. Only those are ever
 * removed: the second is recognised by sharing the temporary file's inode, never by its name,
 * so a person's own `20240101_120000_notes.txt` is never touched.
 */
import { linkSync, unlinkSync } from 'node:fs';
import { lstat, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { log } from '../../log.ts';
import { ID_PATTERN, META_SUFFIX } from './input.ts';
import { readNoFollow, rewriteOwnFile, writeNewFile } from './fs-safe.ts';
import { candidateName, previewOf, searchableName } from './naming.ts';
import type { IndexRow, SearchFields } from './sqlite-index.ts';
import { errorCode, type MemoryMeta } from './types.ts';

const SIDECAR_VERSION = 1;
/** Temporary files: `.tmp-<pid>-<id>.content` and `.tmp-<pid>-<id>.meta`. */
export const TEMP_NAME = /^\.tmp-(\d{1,10})-(\d{8}-\d{6}-\d{3}-[0-9a-f]{8})\.(content|meta)$/;
/** Leftovers younger than this may be another process's write in progress: leave them. */
export const LEFTOVER_GRACE_MS = 60_000;
/** How many taken names a store skips before it gives up (a directory full of look-alikes). */
const MAX_NAME_ATTEMPTS = 10_000;

function isMeta(value: unknown, file: string): value is MemoryMeta {
  const m = value as Partial<MemoryMeta> | null;
  return (
    !!m &&
    typeof m.id === 'string' &&
    ID_PATTERN.test(m.id) &&
    m.file === file &&
    typeof m.description === 'string' &&
    Array.isArray(m.tags) &&
    m.tags.every((t) => typeof t === 'string') &&
    typeof m.created === 'string' &&
    !Number.isNaN(Date.parse(m.created)) &&
    typeof m.size === 'number'
  );
}

export function fieldsOf(row: { file: string; description: string; tags: string[] }, content: string): SearchFields {
  return { tags: row.tags.join(' '), file: searchableName(row.file), description: row.description, content };
}

/** A memory read from its two files, as the index keeps it; undefined (logged) when unusable. */
export async function readMemory(dir: string, user: string, file: string): Promise<{ row: IndexRow; content: string } | undefined> {
  try {
    const meta = await readNoFollow(path.join(dir, file + META_SUFFIX), 'the metadata file');
    const parsed: unknown = JSON.parse(meta.text);
    if (!isMeta(parsed, file)) {
      log.warn('ignoring a memory whose metadata is not valid', { user, file: file + META_SUFFIX });
      return undefined;
    }
    const content = await readNoFollow(path.join(dir, file), 'the memory file');
    const { id, description, tags, created } = parsed;
    // The content as it is now: edited by hand, its size is what the file holds.
    const size = Buffer.byteLength(content.text, 'utf8');
    return {
      row: {
        id,
        file,
        description,
        tags: [...tags],
        created,
        size,
        ...previewOf(content.text),
        contentMtimeMs: content.mtimeMs,
        contentSize: content.size,
        metaMtimeMs: meta.mtimeMs,
      },
      content: content.text,
    };
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    // Left in place: it is the user's data, and a person may be able to repair it.
    if (errorCode(err) !== 'ELOOP') log.warn('ignoring a memory that cannot be read', { user, file, code: errorCode(err) ?? String(err) });
    return undefined;
  }
}

export interface WritePlan {
  id: string;
  createdMs: number;
  base: string;
  ext: string;
  content: string;
  description: string;
  tags: string[];
  size: number;
}

/**
 * Writes a memory's two files and commits it (the sidecar's link). `taken` is asked before a
 * name is tried, for names this process is writing right now; a name another process holds
 * fails the link and the next one is tried. Returns the name used and both files' modification times.
 */
export function writeMemory(
  dir: string,
  plan: WritePlan,
  reserve: (file: string) => boolean,
  release: (file: string) => void,
): { file: string; contentMtimeMs: number; metaMtimeMs: number } {
  const created = new Date(plan.createdMs).toISOString();
  const sidecar = (file: string) =>
    `${JSON.stringify({ version: SIDECAR_VERSION, id: plan.id, file, description: plan.description, tags: plan.tags, created, size: plan.size }, null, 2)}\n`;
  const tempContent = path.join(dir, `.tmp-${process.pid}-${plan.id}.content`);
  const tempMeta = path.join(dir, `.tmp-${process.pid}-${plan.id}.meta`);
  const held: string[] = [];
  let sidecarFor: string | undefined;
  let metaMtimeMs = 0;
  try {
    // The times the index keeps come from the writes themselves: linking changes neither.
    const { mtimeMs: contentMtimeMs } = writeNewFile(tempContent, plan.content);
    for (let n = 1; n <= MAX_NAME_ATTEMPTS; n++) {
      const file = candidateName(plan.createdMs, plan.base, plan.ext, n);
      if (!reserve(file)) continue;
      held.push(file);
      try {
        linkSync(tempContent, path.join(dir, file));
      } catch (err) {
        if (errorCode(err) === 'EEXIST') continue;
        throw err;
      }
      try {
        if (sidecarFor === undefined) metaMtimeMs = writeNewFile(tempMeta, sidecar(file)).mtimeMs;
        else if (sidecarFor !== file) metaMtimeMs = rewriteOwnFile(tempMeta, sidecar(file)).mtimeMs;
        sidecarFor = file;
        // The commit: from here on the memory exists.
        linkSync(tempMeta, path.join(dir, file + META_SUFFIX));
      } catch (err) {
        // Ours, linked a moment ago from our temporary file: safe to take back.
        quietUnlink(path.join(dir, file));
        // A sidecar name someone else holds (a stray .meta.json): try the next name.
        if (errorCode(err) === 'EEXIST') continue;
        throw err;
      }
      return { file, contentMtimeMs, metaMtimeMs };
    }
    throw Object.assign(new Error('every candidate name is taken'), { code: 'EEXIST' });
  } finally {
    for (const file of held) release(file);
    quietUnlink(tempContent);
    quietUnlink(tempMeta);
  }
}

/** Removes a file of this write if it is there (a temporary file, or a name linked a moment ago). */
function quietUnlink(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // Not there (never made, or already gone): nothing to take back.
  }
}

/**
 * Removes what a crashed store left in `dir`: temporary files older than the grace period,
 * and a content file without a sidecar only when it is the same inode as such a temporary
 * file (so Memento wrote it). Returns how many files were removed.
 */
export async function removeLeftovers(dir: string, user: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  const present = new Set(names);
  const cutoff = Date.now() - LEFTOVER_GRACE_MS;
  const temps = names.filter((n) => TEMP_NAME.test(n));
  if (temps.length === 0) return 0;
  // Content files with no sidecar, by inode: candidates only, removed only on an inode match.
  const orphans = new Map<string, string>();
  for (const name of names) {
    if (name.endsWith(META_SUFFIX) || name.startsWith('.') || present.has(name + META_SUFFIX)) continue;
    const info = await lstat(path.join(dir, name)).catch(() => undefined);
    if (info?.isFile() && info.nlink > 1) orphans.set(`${info.dev}:${info.ino}`, name);
  }
  let removed = 0;
  for (const temp of temps) {
    const p = path.join(dir, temp);
    const info = await lstat(p).catch(() => undefined);
    if (!info?.isFile() || info.mtimeMs > cutoff) continue;
    const twin = orphans.get(`${info.dev}:${info.ino}`);
    try {
      if (twin !== undefined && !present.has(twin + META_SUFFIX)) {
        await unlink(path.join(dir, twin));
        removed++;
      }
      await unlink(p);
      removed++;
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') log.warn('could not remove an unfinished write', { user, code: errorCode(err) });
    }
  }
  if (removed > 0) log.info('removed unfinished writes left by an earlier run', { user, count: removed });
  return removed;
}
