/*
 * Reading a Memento data directory back, two ways: through the server (every memory a user
 * has, page by page) and straight from disk (what a crash may have left: pairs, temporary
 * files, content without its sidecar, a sidecar without its content). docs/design.md's storage
 * contract — one content file plus a `.meta.json` sidecar per memory, written to temporary
 * names and linked into place — is what the disk audit checks against.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const META_SUFFIX = '.meta.json';
export const TEMP_PREFIX = '.tmp-';

export interface ListedMemory {
  id: string;
  file: string;
  size: number;
}

/** Anything that calls a tool that must succeed and returns its structured content (test/server/support.ts's Connection). */
export interface ToolCaller {
  ok<T = any>(name: string, args?: Record<string, unknown>): Promise<T>;
}

/** Every memory of the connection's user, following nextCursor to the last page. */
export async function allMemories(client: ToolCaller): Promise<ListedMemory[]> {
  const out: ListedMemory[] = [];
  let cursor: string | null = null;
  do {
    const page: { memories: ListedMemory[]; nextCursor: string | null } = await client.ok('retrieve_memories', {
      limit: 100,
      ...(cursor ? { cursor } : {}),
    });
    out.push(...page.memories);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

/** One memory on disk: its sidecar and its content, both read whole. */
export interface DiskMemory {
  user: string;
  file: string;
  meta: { id: string; file: string; size: number; [key: string]: unknown };
  content: string;
}

export interface DiskAudit {
  /** Complete pairs whose sidecar parses and names its own content file. */
  memories: DiskMemory[];
  /** `.tmp-*` files: writes in progress when the process died. */
  temporary: string[];
  /** Content files with no sidecar: a write that never committed. */
  uncommitted: string[];
  /** Sidecars with no content file: never allowed, the sidecar is linked last. */
  halfPairs: string[];
  /** Sidecars that do not parse or do not describe their file, and sizes that do not match. */
  broken: string[];
}

/** Reads every user directory under `dataDir` (paths in the result are `user/name`). */
export async function auditDataDir(dataDir: string): Promise<DiskAudit> {
  const audit: DiskAudit = { memories: [], temporary: [], uncommitted: [], halfPairs: [], broken: [] };
  for (const user of (await readdir(dataDir)).sort()) {
    if (!(await stat(join(dataDir, user))).isDirectory()) continue;
    const names = new Set(await readdir(join(dataDir, user)));
    for (const name of [...names].sort()) {
      const where = `${user}/${name}`;
      if (name.startsWith(TEMP_PREFIX)) audit.temporary.push(where);
      else if (name.endsWith(META_SUFFIX)) {
        const file = name.slice(0, -META_SUFFIX.length);
        if (!names.has(file)) {
          audit.halfPairs.push(where);
          continue;
        }
        let meta: DiskMemory['meta'];
        try {
          meta = JSON.parse(await readFile(join(dataDir, user, name), 'utf8'));
        } catch {
          audit.broken.push(`${where}: sidecar is not JSON`);
          continue;
        }
        const content = await readFile(join(dataDir, user, file), 'utf8');
        if (meta.file !== file) audit.broken.push(`${where}: names ${String(meta.file)}`);
        else if (Buffer.byteLength(content) !== meta.size) audit.broken.push(`${user}/${file}: ${Buffer.byteLength(content)} bytes, sidecar says ${meta.size}`);
        else audit.memories.push({ user, file, meta, content });
      } else if (!names.has(name + META_SUFFIX)) audit.uncommitted.push(where);
    }
  }
  return audit;
}
