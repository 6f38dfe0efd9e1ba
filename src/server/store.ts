/*
 * Memento's storage: the domain logic behind the MCP tools, with no MCP in it.
 *
 * Layout: `<data root>/<user id>/` holds, per memory, its content exactly as written in a file
 * named like `20240715_143052_meeting_summary.txt` (UTC; `_2`, `_3` … before the extension
 * when the name is taken) and its metadata beside it in `<that name>.meta.json`.
 *
 * The sidecar is the commit record. A store writes both files under temporary names, links
 * the content to its final name, then links the sidecar; `link` fails rather than replace an
 * existing name, so nothing is ever clobbered, and each final name appears complete or not at
 * all. A delete removes the sidecar first. So after a crash at any point every sidecar names a
 * complete content file, and what a crash can leave behind is a temporary file or a content
 * file with no sidecar: both are unacknowledged, ignored, and removed on the next load once
 * they are old enough not to be another process's write in flight. No fsync: the promise is
 * about the process dying, not the machine (the page cache outlives a SIGKILL).
 *
 * Each user's directory is read once, on first use, into an in-memory index (ordered by id,
 * which sorts by creation time, plus a search index) that every write and delete then keeps
 * in step, so no call lists the directory and a store costs the same at 100k memories as at
 * none. This assumes one server process per data directory.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, link, mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { USER_ID_PATTERN } from '../protocol.ts';
import {
  ATTR_MEMENTO_CONTENT_SIZE,
  ATTR_MEMENTO_MEMORY_COUNT,
  ATTR_MEMENTO_MEMORY_ID,
  ATTR_MEMENTO_SEARCH_TERMS,
  ATTR_MEMENTO_USER_ID,
} from '../telemetry/semconv.ts';
import { FLAG_DEFAULTS } from '../config.ts';
import { log } from '../log.ts';
import { resolveInside, shown, type NameRules } from './path-safety.ts';
import { detached, SearchIndex, tokenize, type Field } from './search-index.ts';
import { storageSpan } from './tracing.ts';

export const DEFAULT_MAX_CONTENT_BYTES = FLAG_DEFAULTS.maxContentBytes;
export const META_SUFFIX = '.meta.json';
export const MAX_DESCRIPTION_CHARS = 2000;
export const MAX_TAGS = 32;
export const MAX_TAG_CHARS = 64;
export const MAX_QUERY_CHARS = 1000;
export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 100;
export const DEFAULT_SEARCH_LIMIT = 10;
export const MAX_SEARCH_LIMIT = 50;
/** How much of each memory's content lists and search results show. */
export const PREVIEW_CHARS = 300;

const TEMP_PREFIX = '.tmp-';
/** Leftovers younger than this may be another process's write in progress: leave them. */
const LEFTOVER_GRACE_MS = 60_000;
const LOAD_CONCURRENCY = 64;
const ID_PATTERN = /^\d{8}-\d{6}-\d{3}-[0-9a-f]{8}$/;
/** Content files this store names; anything else in a user's directory is not ours to remove. */
const STORED_NAME = /^\d{8}_\d{6}_./;
/** `YYYYMMDD_HHMMSS_`. */
const STAMP_LENGTH = 16;
const SIDECAR_VERSION = 1;

export const USER_RULES: NameRules = {
  what: 'user id',
  pattern: USER_ID_PATTERN,
  patternHelp: 'a user id is 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
  maxBytes: 64,
};

export const FILE_RULES: NameRules = {
  what: 'file name',
  pattern: /^[A-Za-z0-9](?:[A-Za-z0-9 ._-]*[A-Za-z0-9_-])?$/,
  patternHelp:
    'a file name is up to 100 ASCII letters, digits, spaces, ".", "_" or "-", starting with a letter or digit and not ending in "." or a space',
  maxBytes: 100,
};

/** A caller's mistake: the message says what to change. */
export class MemoryInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryInputError';
  }
}

/** No memory with that id for this user (whether or not another user has one). */
export class MemoryNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryNotFoundError';
  }
}

export interface MemoryMeta {
  id: string;
  /** The content file's name inside the user's directory. */
  file: string;
  description: string;
  tags: string[];
  /** ISO 8601, UTC, millisecond precision. */
  created: string;
  /** Content size in UTF-8 bytes. */
  size: number;
}

export interface MemorySummary extends MemoryMeta {
  /** The first PREVIEW_CHARS characters of the content. */
  preview: string;
  /** Whether the content goes on past the preview. */
  truncated: boolean;
}

export interface Memory extends MemoryMeta {
  content: string;
}

export interface StoreInput {
  content: string;
  filename?: string | undefined;
  description?: string | undefined;
  /** A list, or one comma-separated string. */
  tags?: string[] | string | undefined;
}

export interface ListQuery {
  /** Only memories with this tag (case-insensitive). */
  tag?: string | undefined;
  /** ISO 8601 date or date-time: created at or after. */
  since?: string | undefined;
  /** ISO 8601 date (the whole day) or date-time: created at or before. */
  until?: string | undefined;
  limit?: number | undefined;
  /** `nextCursor` of the previous page. */
  cursor?: string | undefined;
}

export interface ListResult {
  memories: MemorySummary[];
  /** How many memories match the filters, on all pages. */
  total: number;
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export interface SearchResult {
  memories: (MemorySummary & { score: number })[];
  total: number;
}

export interface StoreOptions {
  dataDir: string;
  /** Largest content accepted, in UTF-8 bytes. */
  maxContentBytes?: number;
}

interface Entry extends MemorySummary {
  /** Lower-cased tags, for the tag filter. */
  tagKeys: string[];
  /** A delete is removing its files: no second delete or get may start. */
  deleting: boolean;
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The disk failed the operation; `code` is the system error code (ENOSPC, EACCES …). */
export class StorageError extends Error {
  readonly code: string;

  constructor(message: string, code: string) {
    super(message);
    this.name = 'StorageError';
    this.code = code;
  }
}

/** A short reason for an I/O failure, without the paths Node puts in its messages. */
function ioFailure(action: string, err: unknown): StorageError {
  const code = errorCode(err);
  const reason =
    code === 'ENOSPC' ? 'no space left on the device'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'EROFS' ? 'the file system is read-only'
    : code === 'EDQUOT' ? 'the disk quota is exhausted'
    : code ?? 'an I/O error';
  return new StorageError(`Could not ${action}: ${reason}.`, code ?? 'EIO');
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `YYYYMMDD-HHMMSS-mmm` (UTC): the sortable front of an id. */
function idStamp(ms: number): string {
  const d = new Date(ms);
  return (
    `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-` +
    `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}-${pad(d.getUTCMilliseconds(), 3)}`
  );
}

/** `YYYYMMDD_HHMMSS` (UTC): the front of a content file's name. */
function nameStamp(ms: number): string {
  return idStamp(ms).slice(0, 15).replace('-', '_');
}

function previewOf(content: string): { preview: string; truncated: boolean } {
  if (content.length <= PREVIEW_CHARS) return { preview: content, truncated: false };
  let end = PREVIEW_CHARS;
  // Never cut a surrogate pair in half.
  const last = content.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return { preview: detached(content.slice(0, end)), truncated: true };
}

/** A few words of `text` as a file name: "Meeting summary, Q3!" → "meeting_summary_q3". */
function slugOf(text: string): string {
  const words =
    text
      .slice(0, 200)
      .normalize('NFKD')
      .replace(/\p{M}+/gu, '')
      .toLowerCase()
      .match(/[a-z0-9]+/g) ?? [];
  let slug = '';
  for (const word of words.slice(0, 6)) {
    const next = slug ? `${slug}_${word}` : word;
    if (next.length > 40) break;
    slug = next;
  }
  return slug || words[0]?.slice(0, 40) || 'memory';
}

/** Tags as given (a list, or comma-separated), trimmed, de-duplicated case-insensitively. */
export function normalizeTags(tags: string[] | string | undefined): string[] {
  if (tags === undefined) return [];
  const list = typeof tags === 'string' ? tags.split(',') : tags;
  if (!Array.isArray(list)) throw new MemoryInputError('tags must be a list of strings or one comma-separated string.');
  const out: string[] = [];
  const seen = new Set<string>();
  for (const raw of list) {
    if (typeof raw !== 'string') throw new MemoryInputError('Each tag must be a string.');
    const tag = raw.trim();
    if (!tag) continue;
    if (tag.length > MAX_TAG_CHARS) {
      throw new MemoryInputError(`A tag is ${tag.length} characters long; at most ${MAX_TAG_CHARS} are allowed.`);
    }
    if (/[\p{Cc}\p{Cf},]/u.test(tag)) {
      throw new MemoryInputError('Tags may not contain commas, control or invisible characters.');
    }
    const key = tag.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(tag);
  }
  if (out.length > MAX_TAGS) throw new MemoryInputError(`${out.length} tags given; at most ${MAX_TAGS} are allowed.`);
  return out;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * An ISO 8601 bound as epoch milliseconds: a date means the start of that UTC day (`since`)
 * or the start of the next (`until`, so the whole day is included); a date-time without an
 * offset is UTC. Returns the inclusive lower bound or the exclusive upper bound.
 */
export function parseBound(value: string, which: 'since' | 'until'): number {
  const text = value.trim();
  const date = ISO_DATE.exec(text);
  let ms: number;
  if (date) {
    ms = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]));
    const check = new Date(ms);
    if (Number.isNaN(ms) || check.getUTCDate() !== Number(date[3]) || check.getUTCMonth() !== Number(date[2]) - 1) {
      throw new MemoryInputError(`${which} ${shown(text)} is not a calendar date.`);
    }
    return which === 'since' ? ms : ms + 86_400_000;
  }
  if (ISO_DATE_TIME.test(text)) {
    let normalized = text.replace(' ', 'T').replace(',', '.');
    if (!/(?:Z|[+-]\d{2}(?::?\d{2})?)$/i.test(normalized)) normalized += 'Z';
    // Date.parse wants "+hh:mm"; ISO 8601 also allows "+hhmm" and "+hh".
    normalized = normalized.replace(/([+-]\d{2})(\d{2})$/, '$1:$2').replace(/([+-]\d{2})$/, '$1:00');
    ms = Date.parse(normalized);
    if (!Number.isNaN(ms)) return which === 'since' ? ms : ms + 1;
  }
  throw new MemoryInputError(
    `${which} must be an ISO 8601 date such as 2024-07-15 or a date-time such as 2024-07-15T14:30:00Z; got ${shown(text)}.`,
  );
}

/** The first index of `entries` (sorted by id) whose id is not below `key`. */
function lowerBound(entries: readonly Entry[], key: string): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]!.id < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts `entry` into `entries` (sorted by id); new entries nearly always go last. */
function insertSorted(entries: Entry[], entry: Entry): void {
  const last = entries[entries.length - 1];
  if (!last || last.id < entry.id) entries.push(entry);
  else entries.splice(lowerBound(entries, entry.id), 0, entry);
}

function removeSorted(entries: Entry[], entry: Entry): void {
  const at = lowerBound(entries, entry.id);
  if (entries[at] === entry) entries.splice(at, 1);
}

function summary(e: Entry): MemorySummary {
  return {
    id: e.id,
    file: e.file,
    description: e.description,
    tags: [...e.tags],
    created: e.created,
    size: e.size,
    preview: e.preview,
    truncated: e.truncated,
  };
}

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

interface ValidInput {
  content: string;
  size: number;
  description: string;
  tags: string[];
  /** The file name without its stamp and extension. */
  base: string;
  ext: string;
}

function validateInput(input: StoreInput, maxContentBytes: number, dir: string): ValidInput {
  const { content } = input;
  if (typeof content !== 'string') throw new MemoryInputError('content must be a string.');
  if (content.trim().length === 0) throw new MemoryInputError('content is empty; there is nothing to remember.');
  const size = Buffer.byteLength(content, 'utf8');
  if (size > maxContentBytes) {
    throw new MemoryInputError(
      `content is ${size} bytes; this server stores at most ${maxContentBytes} bytes ` +
        `(${(maxContentBytes / 1048576).toFixed(1)} MiB) per memory. Store it in smaller parts.`,
    );
  }
  if (input.description !== undefined && typeof input.description !== 'string') {
    throw new MemoryInputError('description must be a string.');
  }
  const description = (input.description ?? '').trim();
  if (description.length > MAX_DESCRIPTION_CHARS) {
    throw new MemoryInputError(
      `description is ${description.length} characters long; at most ${MAX_DESCRIPTION_CHARS} are allowed.`,
    );
  }
  const tags = normalizeTags(input.tags);
  const name = input.filename;
  if (name === undefined || name === '') return { content, size, description, tags, base: slugOf(description || content), ext: '.txt' };
  try {
    resolveInside(dir, name, FILE_RULES);
  } catch (err) {
    throw new MemoryInputError(err instanceof Error ? err.message : String(err));
  }
  if (name.toLowerCase().endsWith(META_SUFFIX)) {
    throw new MemoryInputError(`File names ending in "${META_SUFFIX}" are reserved for metadata.`);
  }
  const ext = path.extname(name);
  return { content, size, description, tags, base: ext ? name.slice(0, -ext.length) : name, ext: ext || '.txt' };
}

/** Runs `fn` over `items` with at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** One user's directory and its index. */
class UserStore {
  readonly user: string;
  readonly dir: string;
  /** Oldest first (ids sort by creation time). */
  private readonly ordered: Entry[] = [];
  private readonly byId = new Map<string, Entry>();
  private readonly byFile = new Map<string, Entry>();
  /** Per lower-cased tag, its memories oldest first: a tag filter costs what it returns. */
  private readonly byTag = new Map<string, Entry[]>();
  private readonly index = new SearchIndex<Entry>();
  /** Names and ids handed to writes still in flight. */
  private readonly reservedFiles = new Set<string>();
  private readonly reservedIds = new Set<string>();
  /**
   * The directory's mtime when this index last matched it, and the writes of our own still
   * under way. Another process on the same data directory (a second `memento chat`, which
   * starts its own server) changes the mtime; the next call then reads what it added or
   * removed, so one process never hides another's memories.
   */
  private seenMtime: bigint | undefined;
  private ownWrites = 0;

  constructor(user: string, dir: string) {
    this.user = user;
    this.dir = dir;
  }

  get count(): number {
    return this.ordered.length;
  }

  private pathOf(file: string): string {
    return path.join(this.dir, file);
  }

  async load(): Promise<void> {
    let names: string[];
    try {
      // Before reading: a change made while we read is then seen as a change next time.
      this.seenMtime = await this.mtime();
      names = await readdir(this.dir);
    } catch (err) {
      // A user who never stored anything has no directory; reading must not create one.
      if (errorCode(err) === 'ENOENT') return;
      throw err;
    }
    const present = new Set(names);
    const sidecars: string[] = [];
    const leftovers: string[] = [];
    for (const name of names) {
      if (name.endsWith(META_SUFFIX)) sidecars.push(name);
      else if (name.startsWith(TEMP_PREFIX)) leftovers.push(name);
      else if (STORED_NAME.test(name) && !present.has(name + META_SUFFIX)) leftovers.push(name);
    }
    await eachLimited(sidecars, LOAD_CONCURRENCY, async (sidecar) => {
      const read = await this.readEntry(sidecar.slice(0, -META_SUFFIX.length));
      if (!read) return;
      if (this.byId.has(read.entry.id)) {
        log.warn('two memories share an id; keeping one', { user: this.user, id: read.entry.id });
        return;
      }
      this.byId.set(read.entry.id, read.entry);
      this.byFile.set(read.entry.file, read.entry);
      this.ordered.push(read.entry);
      this.index.add(read.entry.id, read.entry, this.fieldsOf(read.entry, read.content));
    });
    // Sorted once here rather than kept sorted entry by entry (quadratic at 100k).
    this.ordered.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const entry of this.ordered) {
      for (const tag of entry.tagKeys) {
        const list = this.byTag.get(tag);
        if (list) list.push(entry);
        else this.byTag.set(tag, [entry]);
      }
    }
    await this.removeLeftovers(leftovers);
  }

  private async mtime(): Promise<bigint | undefined> {
    try {
      return (await stat(this.dir, { bigint: true })).mtimeNs;
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Catches up with changes another process made to the directory: one stat when nothing
   * changed, a directory listing and the new sidecars' reads when something did. Skipped
   * while our own writes run, since they change the mtime too.
   */
  async syncWithDisk(): Promise<void> {
    if (this.ownWrites > 0) return;
    const now = await this.mtime();
    if (now === this.seenMtime) return;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
      names = [];
    }
    if (this.ownWrites > 0) return;
    const sidecars = new Set(names.filter((n) => n.endsWith(META_SUFFIX)));
    const added = [...sidecars].filter((n) => !this.byFile.has(n.slice(0, -META_SUFFIX.length)));
    const reads = await Promise.all(added.map((n) => this.readEntry(n.slice(0, -META_SUFFIX.length))));
    if (this.ownWrites > 0) return;
    for (const read of reads) if (read && !this.byId.has(read.entry.id)) this.insert(read.entry, read.content);
    for (const entry of [...this.byFile.values()]) {
      if (!entry.deleting && !sidecars.has(entry.file + META_SUFFIX)) this.detach(entry);
    }
    this.seenMtime = now;
  }

  /** Runs one of our own writes; afterwards the directory's new mtime is ours, not news. */
  private async owned<T>(write: () => Promise<T>): Promise<T> {
    this.ownWrites++;
    try {
      return await write();
    } finally {
      this.ownWrites--;
      if (this.ownWrites === 0) this.seenMtime = await this.mtime().catch(() => undefined);
    }
  }

  /** The entry for one sidecar, or undefined (logged) when it cannot be used. */
  private async readEntry(file: string): Promise<{ entry: Entry; content: string } | undefined> {
    try {
      const meta: unknown = JSON.parse(await readFile(this.pathOf(file + META_SUFFIX), 'utf8'));
      if (!isMeta(meta, file)) {
        log.warn('ignoring a memory whose metadata is not valid', { user: this.user });
        return undefined;
      }
      const content = await readFile(this.pathOf(file), 'utf8');
      const { id, description, tags, created, size } = meta;
      return { entry: this.entryOf({ id, file, description, tags: [...tags], created, size }, content), content };
    } catch (err) {
      // Left in place: it is the user's data, and a person may be able to repair it.
      log.warn('ignoring a memory that cannot be read', { user: this.user, code: errorCode(err) ?? String(err) });
      return undefined;
    }
  }

  private async removeLeftovers(names: string[]): Promise<void> {
    const cutoff = Date.now() - LEFTOVER_GRACE_MS;
    let removed = 0;
    await eachLimited(names, LOAD_CONCURRENCY, async (name) => {
      try {
        if ((await stat(this.pathOf(name))).mtimeMs > cutoff) return;
        await unlink(this.pathOf(name));
        removed++;
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') log.warn('could not remove an unfinished write', { user: this.user, code: errorCode(err) });
      }
    });
    if (removed > 0) log.info('removed unfinished writes left by an earlier run', { user: this.user, count: removed });
  }

  private entryOf(meta: MemoryMeta, content: string): Entry {
    return { ...meta, ...previewOf(content), tagKeys: [...new Set(meta.tags.map((t) => t.toLowerCase()))], deleting: false };
  }

  private insert(entry: Entry, content: string): void {
    this.byId.set(entry.id, entry);
    this.byFile.set(entry.file, entry);
    insertSorted(this.ordered, entry);
    for (const tag of entry.tagKeys) {
      const list = this.byTag.get(tag);
      if (list) insertSorted(list, entry);
      else this.byTag.set(tag, [entry]);
    }
    this.index.add(entry.id, entry, this.fieldsOf(entry, content));
  }

  private fieldsOf(entry: Entry, content: string): Record<Field, string> {
    return {
      tags: entry.tags.join(' '),
      // Without the time stamp that every name starts with.
      file: STORED_NAME.test(entry.file) ? entry.file.slice(STAMP_LENGTH) : entry.file,
      description: entry.description,
      content,
    };
  }

  private detach(entry: Entry): void {
    this.byId.delete(entry.id);
    this.byFile.delete(entry.file);
    removeSorted(this.ordered, entry);
    for (const tag of entry.tagKeys) {
      const list = this.byTag.get(tag);
      if (!list) continue;
      removeSorted(list, entry);
      if (list.length === 0) this.byTag.delete(tag);
    }
    this.index.remove(entry.id);
  }

  private newId(now: number): string {
    for (;;) {
      const id = `${idStamp(now)}-${randomBytes(4).toString('hex')}`;
      if (!this.byId.has(id) && !this.reservedIds.has(id)) return id;
    }
  }

  private reserveFile(stamp: string, base: string, ext: string): string {
    for (let n = 1; ; n++) {
      const file = `${stamp}_${base}${n === 1 ? '' : `_${n}`}${ext}`;
      if (!this.byFile.has(file) && !this.reservedFiles.has(file)) {
        this.reservedFiles.add(file);
        return file;
      }
    }
  }

  private dirReady: Promise<unknown> | undefined;

  store(input: StoreInput, maxContentBytes: number): Promise<MemorySummary> {
    return this.owned(() => this.write(input, maxContentBytes));
  }

  private async write(input: StoreInput, maxContentBytes: number): Promise<MemorySummary> {
    const { content, description, tags, base, ext, size } = validateInput(input, maxContentBytes, this.dir);
    try {
      await (this.dirReady ??= mkdir(this.dir, { recursive: true }).catch((err: unknown) => {
        this.dirReady = undefined;
        throw err;
      }));
    } catch (err) {
      throw ioFailure('store the memory', err);
    }
    const now = Date.now();
    const id = this.newId(now);
    this.reservedIds.add(id);
    const stamp = nameStamp(now);
    const planned = this.reserveFile(stamp, base, ext);
    let file = planned;
    const meta = (): MemoryMeta => ({ id, file, description, tags, created: new Date(now).toISOString(), size });
    const sidecar = () => `${JSON.stringify({ version: SIDECAR_VERSION, ...meta() }, null, 2)}\n`;
    const tempContent = this.pathOf(`${TEMP_PREFIX}${process.pid}-${id}.content`);
    const tempMeta = this.pathOf(`${TEMP_PREFIX}${process.pid}-${id}.meta`);
    let uncommitted: string | undefined;
    const tried: string[] = [];
    try {
      // Both temporary files at once; the sidecar already names the file it will sit beside.
      await Promise.all([writeFile(tempContent, content, { flag: 'wx' }), writeFile(tempMeta, sidecar(), { flag: 'wx' })]);
      for (let attempt = 0; ; attempt++) {
        try {
          await link(tempContent, this.pathOf(file));
          uncommitted = this.pathOf(file);
          break;
        } catch (err) {
          // A file this store did not write has that name (ours are reserved): take the next,
          // keeping this one reserved until the end so that the next try skips it.
          if (errorCode(err) !== 'EEXIST' || attempt >= 20) throw err;
          tried.push(file);
          file = this.reserveFile(stamp, base, ext);
        }
      }
      if (file !== planned) await writeFile(tempMeta, sidecar());
      // The commit: from here on the memory exists.
      await link(tempMeta, this.pathOf(file + META_SUFFIX));
      uncommitted = undefined;
      const entry = this.entryOf(meta(), content);
      this.insert(entry, content);
      return summary(entry);
    } catch (err) {
      if (uncommitted) await unlink(uncommitted).catch(() => {});
      throw ioFailure('store the memory', err);
    } finally {
      for (const name of [...tried, file]) this.reservedFiles.delete(name);
      this.reservedIds.delete(id);
      await Promise.all([unlink(tempContent).catch(() => {}), unlink(tempMeta).catch(() => {})]);
    }
  }

  find(idOrFile: string): Entry | undefined {
    const entry = this.byId.get(idOrFile) ?? this.byFile.get(idOrFile);
    return entry && !entry.deleting ? entry : undefined;
  }

  async get(entry: Entry): Promise<Memory> {
    let content: string;
    try {
      content = await readFile(this.pathOf(entry.file), 'utf8');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') throw new MemoryNotFoundError(`Memory ${entry.id} was deleted.`);
      throw ioFailure('read the memory', err);
    }
    const { id, file, description, tags, created, size } = entry;
    return { id, file, description, tags: [...tags], created, size, content };
  }

  delete(entry: Entry): Promise<MemorySummary> {
    return this.owned(() => this.remove(entry));
  }

  private async remove(entry: Entry): Promise<MemorySummary> {
    entry.deleting = true;
    try {
      // The commit: without its sidecar the memory no longer exists.
      await unlink(this.pathOf(entry.file + META_SUFFIX));
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') {
        entry.deleting = false;
        throw ioFailure('delete the memory', err);
      }
    }
    this.detach(entry);
    // A content file left behind by a failure here is an unfinished write the next load removes.
    await unlink(this.pathOf(entry.file)).catch((err: unknown) => {
      if (errorCode(err) !== 'ENOENT') log.warn("could not remove a deleted memory's content", { code: errorCode(err) });
    });
    return summary(entry);
  }

  list(query: ListQuery): ListResult {
    const limit = query.limit ?? DEFAULT_LIST_LIMIT;
    const since = query.since !== undefined && query.since !== '' ? parseBound(query.since, 'since') : undefined;
    const until = query.until !== undefined && query.until !== '' ? parseBound(query.until, 'until') : undefined;
    if (since !== undefined && until !== undefined && until <= since) {
      throw new MemoryInputError('until is before since: no memory can match.');
    }
    let cursor: string | undefined;
    if (query.cursor !== undefined && query.cursor !== '') {
      if (!ID_PATTERN.test(query.cursor)) {
        throw new MemoryInputError('cursor is not one this server handed out; pass nextCursor from the previous page.');
      }
      cursor = query.cursor;
    }
    const tag = query.tag?.trim().toLowerCase() || undefined;
    const source = tag === undefined ? this.ordered : (this.byTag.get(tag) ?? []);
    const lo = since === undefined ? 0 : lowerBound(source, idStamp(Math.max(since, 0)));
    const end = until === undefined ? source.length : lowerBound(source, idStamp(Math.max(until, 0)));
    const hi = cursor === undefined ? end : Math.min(end, lowerBound(source, cursor));
    const memories: MemorySummary[] = [];
    for (let i = hi - 1; i >= lo && memories.length < limit; i--) memories.push(summary(source[i]!));
    const more = hi - memories.length > lo;
    return { memories, total: Math.max(0, end - lo), nextCursor: more ? memories[memories.length - 1]!.id : null };
  }

  search(query: string, limit: number): SearchResult {
    const { hits, total } = this.index.search(query, limit);
    return { memories: hits.map((h) => ({ ...summary(h.item), score: h.score })), total };
  }
}

export class MemoryStore {
  readonly dataDir: string;
  readonly maxContentBytes: number;
  private readonly users = new Map<string, Promise<UserStore>>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(options: StoreOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.maxContentBytes = options.maxContentBytes ?? DEFAULT_MAX_CONTENT_BYTES;
  }

  /** Creates the data root; call once before serving. */
  async init(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true });
  }

  /** Whether the data root can be written to (for /health). */
  async writable(): Promise<boolean> {
    try {
      await access(this.dataDir, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  }

  /** The user's store, loaded on first use and caught up with other processes' changes after. */
  private async user(user: string): Promise<UserStore> {
    const loaded = this.users.get(user);
    if (!loaded) return this.load(user);
    const store = await loaded;
    try {
      await store.syncWithDisk();
    } catch (err) {
      throw ioFailure('read the memories', err);
    }
    return store;
  }

  /** Loads the user's directory (once, however many callers wait). */
  private load(user: string): Promise<UserStore> {
    let loading = this.users.get(user);
    if (!loading) {
      let dir: string;
      try {
        dir = resolveInside(this.dataDir, user, USER_RULES);
      } catch (err) {
        return Promise.reject(new MemoryInputError(err instanceof Error ? err.message : String(err)));
      }
      const store = new UserStore(user, dir);
      loading = storageSpan('load', { [ATTR_MEMENTO_USER_ID]: user }, async (span) => {
        await store.load();
        span.setAttribute(ATTR_MEMENTO_MEMORY_COUNT, store.count);
        return store;
      });
      this.users.set(user, loading);
      // A failed load (disk trouble) is retried by the next call rather than remembered.
      loading.catch(() => {
        if (this.users.get(user) === loading) this.users.delete(user);
      });
    }
    return loading;
  }

  /** Tracks a write so that close() can wait for it: an acknowledged store is never cut short. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    const done = () => this.inFlight.delete(work);
    work.then(done, done);
    return work;
  }

  store(user: string, input: StoreInput): Promise<MemorySummary> {
    return this.track(
      (async () => {
        const store = await this.user(user);
        return storageSpan('write', {}, async (span) => {
          const stored = await store.store(input, this.maxContentBytes);
          span.setAttributes({ [ATTR_MEMENTO_MEMORY_ID]: stored.id, [ATTR_MEMENTO_CONTENT_SIZE]: stored.size });
          return stored;
        });
      })(),
    );
  }

  async list(user: string, query: ListQuery = {}): Promise<ListResult> {
    const store = await this.user(user);
    return storageSpan('list', {}, async (span) => {
      const result = store.list(query);
      span.setAttribute(ATTR_MEMENTO_MEMORY_COUNT, result.memories.length);
      return result;
    });
  }

  async search(user: string, query: string, limit = DEFAULT_SEARCH_LIMIT): Promise<SearchResult> {
    if (typeof query !== 'string' || query.length > MAX_QUERY_CHARS) {
      throw new MemoryInputError(`query must be a string of at most ${MAX_QUERY_CHARS} characters.`);
    }
    const terms = tokenize(query).length;
    if (terms === 0) throw new MemoryInputError('query has no words to search for.');
    const store = await this.user(user);
    return storageSpan('search', { [ATTR_MEMENTO_SEARCH_TERMS]: terms }, async (span) => {
      const result = store.search(query, limit);
      span.setAttribute(ATTR_MEMENTO_MEMORY_COUNT, result.memories.length);
      return result;
    });
  }

  async get(user: string, idOrFile: string): Promise<Memory> {
    const store = await this.user(user);
    const entry = store.find(idOrFile);
    if (!entry) throw notFound(idOrFile);
    return storageSpan('read', { [ATTR_MEMENTO_MEMORY_ID]: entry.id }, async (span) => {
      const memory = await store.get(entry);
      span.setAttribute(ATTR_MEMENTO_CONTENT_SIZE, memory.size);
      return memory;
    });
  }

  delete(user: string, idOrFile: string): Promise<MemorySummary> {
    return this.track(
      (async () => {
        const store = await this.user(user);
        const entry = store.find(idOrFile);
        if (!entry) throw notFound(idOrFile);
        return storageSpan('delete', { [ATTR_MEMENTO_MEMORY_ID]: entry.id }, () => store.delete(entry));
      })(),
    );
  }

  /** Resolves once every write and delete in flight has finished. */
  async close(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}

function notFound(idOrFile: string): MemoryNotFoundError {
  const printable = typeof idOrFile === 'string' && idOrFile.length <= 80 && !/[\p{Cc}\p{Cf}]/u.test(idOrFile);
  return new MemoryNotFoundError(
    printable
      ? `No memory with id "${idOrFile}" for this user. Use retrieve_memories or search_memories to find ids.`
      : 'No memory with that id for this user. Use retrieve_memories or search_memories to find ids.',
  );
}
