/*
 * The embedded backend's index: one SQLite database in the data directory, on Node's
 * built-in `node:sqlite`, holding every memory's metadata and preview plus a full-text
 * index of its tags, name, description and content (below). Listing and search read only this, so
 * they cost what they return, not what the user has stored; and since every server process
 * on the data directory writes its stores and deletes here (WAL mode, short IMMEDIATE
 * transactions), each sees the others' at once.
 *
 * The files stay the truth: the index is a cache of them, rebuilt when it is missing, corrupt
 * or from another schema version, and reconciled with the directory (reconcile.ts).
 *
 * Search keeps the matching rules of the old in-memory index: words folded (case, diacritics:
 * input.ts `words`, the same folding for memories and queries), any query word may match, and
 * from three letters on a word also matches the longer words it begins ("meet" finds "meeting").
 * Ranking is bm25 as FTS5 defines it (its `bm25()` with the fields weighted tags 4, file name 3,
 * description 2, content 1; k1 = 1.2, b = 0.75), over the user's own memories, and ties go to
 * the newer memory. For each query word q (a prefix word stands for every word it begins):
 *
 *   f(q, m)  = Σ over the words of m that q matches, of Σ over fields, weight × occurrences
 *   idf(q)   = ln((N − n(q) + 0.5) / (n(q) + 0.5)), 1e-6 when not positive; N = the user's
 *              memories, n(q) = how many of them q matches
 *   score(m) = Σ over q, in query order, idf(q) × f(q, m) × (k1 + 1) / (f(q, m) + k1 × (1 − b + b × |m| / avg|m|))
 *
 * with |m| the memory's word count over all four fields. `total` is how many memories match.
 *
 * FTS5 computed this for every match through its auxiliary-function interface (a lookup of the
 * memory's size per match: ~25 ms for the ~10,000 matches of a two-word query at 100k
 * memories). So the index keeps its own postings instead (`postings`): per user and word, blobs
 * of (rowid, weighted count, memory length) varints in rowid order, each filled by appends up
 * to BLOB_BYTES and then followed by the next, keyed by the rowid it begins with (`first`: a
 * memory's postings are in the word's blob with the greatest first at or before its rowid);
 * plus each memory's words and weighted counts (`doc_terms`, to take it out again, with its
 * state: pending, merging, or NULL once in the postings), and the user's memory and word counts
 * and merge cursor (`search_users`).
 *
 * A store only adds the memory's doc_terms row, as pending: one row, where appending to the
 * blob of each of its ~35 words dirtied ~35 B-tree pages per commit (2–3× the WAL and
 * checkpoint writes of FTS5, whose segments are written whole). At PENDING_MAX pending
 * memories of a user they become the merge (state merging, cursor ''), and each store of the
 * user while it lasts appends the next STEP_WORDS of its words (in JavaScript string order,
 * from the cursor) to their last blobs, one append per word for all the merge's memories, and
 * moves the cursor past them; the last step marks them merged. Merging all 128 in one store
 * cost that store 60–85 ms of CPU at 100k memories (~1,750 words: a B-tree lookup, an append
 * and a dirty page each, ~1,400 pages to the WAL), blocking the event loop: the store p99. A
 * step costs ~1.3–1.7 ms (65 pages), the store that begins a merge ~1.3 ms (it parses the
 * merge's rows, kept parsed per process), and a merge is over in at most MAX_STEPS stores,
 * before the next one is due; until then searches read up to ~128 more rows (~2 µs each). A
 * delete drops a pending row, or rewrites the blobs that hold the memory (a merging memory's:
 * those of its words before the cursor). All in the caller's write transaction, so every
 * process on the data directory carries on the same merge.
 *
 * A search reads the blobs of the query's words (a key range for a prefix word) and the rows
 * not merged yet (turned into postings for the query's words: a merging memory's words from the
 * cursor on, the ones not in the blobs yet), counts and scores every match in one pass in
 * JavaScript, and reads only the rows it returns from `memories`.
 */
import { rmSync, chmodSync, lstatSync } from 'node:fs';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import path from 'node:path';
import { log } from '../../log.ts';
import { MIN_PREFIX, words, type ListFilter } from './input.ts';
import { dbSpan } from './spans.ts';
import { Checkpointer } from './checkpointer.ts';
import { FILE_MODE, refuseLink } from './fs-safe.ts';
import type { MemorySummary } from './types.ts';

export const INDEX_FILE = '.memento-index.sqlite';
/** Bump when the schema changes: an index of another version is dropped and rebuilt. */
// 2: one FTS5 table per user instead of one shared table with an owner column.
// 3: its own postings (search_users, postings, doc_terms) instead of FTS5.
// 4: pending memories merged a slice of words per store (search_users.cursor, doc_terms.state),
// postings blobs keyed by their first memory (found from a memory's rowid, not by stored seqs).
export const SCHEMA_VERSION = 4;

/** What the index keeps per memory besides the summary: what reconciliation compares. */
export interface IndexedFile {
  id: string;
  file: string;
  contentMtimeMs: number;
  contentSize: number;
  metaMtimeMs: number;
}

export interface IndexRow extends MemorySummary {
  contentMtimeMs: number;
  contentSize: number;
  metaMtimeMs: number;
}

export interface SearchFields {
  tags: string;
  file: string;
  description: string;
  content: string;
}

interface RawRow {
  id: string;
  file: string;
  description: string;
  tags: string;
  created: string;
  size: number;
  preview: string;
  truncated: number;
  content_mtime: number;
  content_size: number;
  meta_mtime: number;
  score?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS memories (
  rowid INTEGER PRIMARY KEY,
  user TEXT NOT NULL,
  id TEXT NOT NULL,
  file TEXT NOT NULL,
  description TEXT NOT NULL,
  tags TEXT NOT NULL,
  created TEXT NOT NULL,
  size INTEGER NOT NULL,
  preview TEXT NOT NULL,
  truncated INTEGER NOT NULL,
  content_mtime REAL NOT NULL,
  content_size INTEGER NOT NULL,
  meta_mtime REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS memories_by_id ON memories(user, id);
CREATE UNIQUE INDEX IF NOT EXISTS memories_by_file ON memories(user, file);
CREATE TABLE IF NOT EXISTS tags (user TEXT NOT NULL, tag TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (user, tag, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS search_users (
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  user TEXT NOT NULL UNIQUE,
  docs INTEGER NOT NULL DEFAULT 0,
  words INTEGER NOT NULL DEFAULT 0,
  pending INTEGER NOT NULL DEFAULT 0,
  cursor TEXT,
  merges INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS postings (n INTEGER NOT NULL, term TEXT NOT NULL, first INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (n, term, first)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS doc_terms (rowid INTEGER PRIMARY KEY, n INTEGER NOT NULL, terms TEXT NOT NULL, freqs TEXT NOT NULL, len INTEGER NOT NULL, state INTEGER);
CREATE INDEX IF NOT EXISTS doc_terms_unmerged ON doc_terms(n, state) WHERE state IS NOT NULL;
CREATE TABLE IF NOT EXISTS dirs (user TEXT PRIMARY KEY, mtime TEXT NOT NULL);
`;

const COLUMNS = 'id, file, description, tags, created, size, preview, truncated, content_mtime, content_size, meta_mtime';
/** The WAL size (pages) at which this connection checkpoints itself, if the checkpoint thread falls behind or fails. */
const BACKSTOP_PAGES = 10_000;
/** How long a write waits for another connection's (another process's) write lock. */
const BUSY_TIMEOUT_MS = 15_000;
/** The largest hash table (entries) of a search kept for the next one: 2^18, ~8 MB of tables in all. */
const SCRATCH_KEEP = 1 << 18;
/** Prepared statements kept at most: per-user statements would otherwise grow with the users. */
const MAX_STATEMENTS = 512;
/** bm25's constants, as FTS5 has them. */
const K1 = 1.2;
const B = 0.75;
/** Fields and their bm25 weights. */
const WEIGHTS: [keyof SearchFields, number][] = [
  ['tags', 4],
  ['file', 3],
  ['description', 2],
  ['content', 1],
];
/**
 * A word's postings blob takes appends up to this size, then the next starts: small enough to
 * stay inside its B-tree page (no overflow pages to rewrite on an append), large enough that a
 * search reads few rows.
 */
const BLOB_BYTES = 880;
/**
 * A user's memories stored since the last merge began, kept as one row each and scanned by
 * every search; at this many they become the next merge (when none is in progress).
 */
export const PENDING_MAX = 128;
/**
 * Words of a merge appended per store: its bounded share, well under issue 11's 10 ms for a
 * store (~1.5 ms at 100k memories; the whole merge of 128, ~1,750 words, took 60–85 ms).
 */
export const STEP_WORDS = 64;
/**
 * A merge takes at most this many steps, so that it is over before the next PENDING_MAX
 * memories are waiting (memories of many words take longer steps, never a growing backlog).
 */
const MAX_STEPS = PENDING_MAX / 2;
/** Users whose merge in progress a process keeps parsed (a few hundred KB each at most). */
const MAX_MERGES_KEPT = 16;
/** doc_terms.state: NULL when in the postings; the merge in progress; waiting for the next one. */
const MERGING = 1;
const PENDING = 2;
/** The largest code point: `p + MAX_CHAR` bounds every word that begins with `p` (BINARY order). */
const MAX_CHAR = String.fromCodePoint(0x10ffff);

/** The bytes of v as a varint. */
function varintSize(v: number): number {
  let size = 1;
  for (; v >= 0x80; size++) v = Math.floor(v / 0x80);
  return size;
}

function pushVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/** A memory's rows in `tags`: its tags folded for listing by tag. */
function tagKeys(tags: string[]): Set<string> {
  return new Set(tags.map((t) => t.toLowerCase()));
}

/** bm25's inverse document frequency, as FTS5 computes it. */
function idf(docs: number, hits: number): number {
  const x = Math.log((docs - hits + 0.5) / (hits + 0.5));
  return x <= 0 ? 1e-6 : x;
}

/** A merge in progress, parsed (mergeStep). */
interface Merge {
  merges: number;
  count: number;
  words: string[];
  postings: Map<string, number[]>;
  take: number;
}

function summaryOf(r: RawRow): IndexRow {
  return {
    id: r.id,
    file: r.file,
    description: r.description,
    tags: JSON.parse(r.tags) as string[],
    created: r.created,
    size: r.size,
    preview: r.preview,
    truncated: r.truncated === 1,
    contentMtimeMs: r.content_mtime,
    contentSize: r.content_size,
    metaMtimeMs: r.meta_mtime,
  };
}

function isCorrupt(err: unknown): boolean {
  const e = err as { errcode?: number; message?: string };
  // SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), also as extended codes.
  const primary = typeof e?.errcode === 'number' ? e.errcode & 0xff : -1;
  return primary === 11 || primary === 26 || /malformed|not a database/i.test(e?.message ?? '');
}

export class SqliteIndex {
  readonly file: string;
  private db!: DatabaseSync;
  private statements = new Map<string, StatementSync>();
  /** WAL checkpoints in a worker thread, not inside a COMMIT on the event loop (checkpointer.ts). */
  private checkpointer: Checkpointer | undefined;
  /** Merges in progress as this process parsed them (mergeStep), by user number. */
  private merging = new Map<number, Merge>();

  constructor(root: string) {
    this.file = path.join(root, INDEX_FILE);
    this.open();
  }

  /** Opens (creating, or replacing a corrupt or outdated index with a new empty one). */
  private open(): void {
    if (lstatSync(this.file, { throwIfNoEntry: false })?.isSymbolicLink()) throw refuseLink('the index', this.file);
    try {
      this.connect();
    } catch (err) {
      if (!isCorrupt(err)) throw err;
      log.warn('the index database is corrupt; rebuilding it from the memory files', { path: this.file });
      this.discard();
      this.connect();
    }
  }

  private connect(): void {
    const existed = lstatSync(this.file, { throwIfNoEntry: false }) !== undefined;
    this.db = new DatabaseSync(this.file, { timeout: BUSY_TIMEOUT_MS });
    this.statements.clear();
    this.merging.clear();
    if (!existed) chmodSync(this.file, FILE_MODE);
    // Checkpoints run in a worker thread (checkpointer.ts); this connection's own automatic
    // checkpoint stays as the backstop, at a WAL of 10,000 pages instead of 1,000.
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = ${BACKSTOP_PAGES};`);
    const db = this.db;
    this.checkpointer = new Checkpointer(
      this.file,
      () => db.exec('PRAGMA wal_autocheckpoint = 1000'),
      () => this.restartWal(db),
    );
    const version = (this.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    const hasTables = this.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'memories'").get() !== undefined;
    if (version === SCHEMA_VERSION && hasTables) {
      // Touches the pages a corrupt file would fail on before the first call does.
      this.db.prepare('SELECT count(*) FROM dirs').get();
      return;
    }
    if (hasTables) log.info('the index database is from another version; rebuilding it from the memory files', { path: this.file, version });
    this.db.exec('BEGIN IMMEDIATE');
    try {
      // Another process may have just done this: then there is nothing to do.
      const now = (this.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
      if (now !== SCHEMA_VERSION) {
        const fts = this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%' AND (name = 'fts' OR name GLOB 'fts_[0-9]*')").all() as { name: string }[];
        for (const { name } of fts) this.db.exec(`DROP TABLE IF EXISTS "${name}"`);
        this.db.exec(
          'DROP TABLE IF EXISTS memories; DROP TABLE IF EXISTS tags; DROP TABLE IF EXISTS fts_users; DROP TABLE IF EXISTS dirs; ' +
            'DROP TABLE IF EXISTS search_users; DROP TABLE IF EXISTS postings; DROP TABLE IF EXISTS doc_terms;',
        );
        this.db.exec(SCHEMA);
        this.db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  /**
   * A RESTART checkpoint on this connection when the checkpoint thread has copied (nearly) all of
   * a long WAL (checkpointer.ts): it copies what the last few commits added and lets the next
   * write start the WAL over. With a busy timeout of 0 it never waits: a checkpoint running in
   * the thread, or a reader or writer in another process, makes it a no-op until the next time.
   */
  private restartWal(db: DatabaseSync): void {
    if (db !== this.db || !db.isOpen || db.isTransaction) return;
    db.exec('PRAGMA busy_timeout = 0');
    try {
      db.prepare('PRAGMA wal_checkpoint(RESTART)').get();
    } finally {
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  /** Removes the index files: only the fixed names this backend gives them. */
  private discard(): void {
    const checkpointer = this.checkpointer;
    // The descriptor goes back once the thread's connection has closed too (Checkpointer.release).
    void checkpointer?.close().then(() => checkpointer.release());
    this.checkpointer = undefined;
    try {
      this.db?.close();
    } catch {
      // Already closed, or never opened.
    }
    for (const suffix of ['', '-wal', '-shm']) rmSync(this.file + suffix, { force: true });
  }

  /** Starts over with an empty index after corruption showed up in use. */
  reset(): void {
    log.warn('the index database is corrupt; rebuilding it from the memory files', { path: this.file });
    this.discard();
    this.connect();
  }

  static isCorrupt = isCorrupt;

  private st(sql: string): StatementSync {
    let s = this.statements.get(sql);
    if (!s) {
      if (this.statements.size >= MAX_STATEMENTS) this.statements.clear();
      this.statements.set(sql, (s = this.db.prepare(sql)));
    }
    return s;
  }

  /**
   * The user's number in search_users (created when `create`), or undefined. Looked up each time
   * rather than cached: another process may drop a user meanwhile, and AUTOINCREMENT never hands
   * the same number to a later user.
   */
  private searchUser(user: string, create: boolean): number | undefined {
    const row = this.st('SELECT n FROM search_users WHERE user = ?').get(user) as { n: number } | undefined;
    if (row) return row.n;
    if (!create) return undefined;
    return Number(this.st('INSERT INTO search_users (user) VALUES (?)').run(user).lastInsertRowid);
  }

  /** Runs `fn` in one write transaction (taken at once, so two writers queue rather than deadlock). */
  transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.db.exec('COMMIT');
      this.checkpointer?.committed();
      return result;
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      // What mergeStep parsed inside it may be of a merge that never was.
      this.merging.clear();
      throw err;
    }
  }

  /** The user directory's mtime (ns, as text) when the index last matched it; undefined: never indexed. */
  dirMtime(user: string): string | undefined {
    // Bookkeeping, not the tool's query: no span of its own (one stat-sized read per call).
    const row = this.st('SELECT mtime FROM dirs WHERE user = ?').get(user) as { mtime: string } | undefined;
    return row?.mtime;
  }

  setDirMtime(user: string, mtime: string): void {
    this.st('INSERT INTO dirs (user, mtime) VALUES (?, ?) ON CONFLICT (user) DO UPDATE SET mtime = excluded.mtime').run(user, mtime);
  }

  /** Moves the recorded mtime from `before` to `after` only if nothing else changed it meanwhile. */
  advanceDirMtime(user: string, before: string, after: string): void {
    this.st('UPDATE dirs SET mtime = ? WHERE user = ? AND mtime = ?').run(after, user, before);
  }

  /** Adds (or replaces, by id or file name) one memory. Call inside transaction(). */
  put(user: string, row: IndexRow, fields: SearchFields): void {
    this.removeWhere(user, row.id, row.file);
    const { lastInsertRowid } = this.st(
      `INSERT INTO memories (user, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      user,
      row.id,
      row.file,
      row.description,
      JSON.stringify(row.tags),
      row.created,
      row.size,
      row.preview,
      row.truncated ? 1 : 0,
      row.contentMtimeMs,
      row.contentSize,
      row.metaMtimeMs,
    );
    const insertTag = this.st('INSERT OR IGNORE INTO tags (user, tag, id) VALUES (?, ?, ?)');
    for (const tag of tagKeys(row.tags)) insertTag.run(user, tag, row.id);
    this.addPostings(this.searchUser(user, true)!, Number(lastInsertRowid), fields);
  }

  /**
   * Indexes memory `rowid`: its words and weighted counts go into doc_terms as pending (one row,
   * so a store writes a page or two, not one per word). The pending memories are merged into the
   * postings a bounded slice at a time: at PENDING_MAX of them they become the merge, and each
   * store while it lasts appends the next words of it (mergeStep).
   */
  private addPostings(n: number, rowid: number, fields: SearchFields): void {
    const weighted = new Map<string, number>();
    let length = 0;
    for (const [field, weight] of WEIGHTS) {
      const found = words(fields[field]);
      length += found.length;
      for (const w of found) weighted.set(w, (weighted.get(w) ?? 0) + weight);
    }
    this.st(`INSERT OR REPLACE INTO doc_terms (rowid, n, terms, freqs, len, state) VALUES (?, ?, ?, ?, ?, ${PENDING})`).run(
      rowid,
      n,
      [...weighted.keys()].join(' '),
      [...weighted.values()].join(' '),
      length,
    );
    const { pending, cursor, merges } = this.st(
      'UPDATE search_users SET docs = docs + 1, words = words + ?, pending = pending + 1 WHERE n = ? RETURNING pending, cursor, merges',
    ).get(length, n) as { pending: number; cursor: string | null; merges: number };
    if (cursor !== null) this.mergeStep(n, cursor, merges);
    else if (pending >= PENDING_MAX) {
      // The waiting memories become the merge, parsed here (this store's share of the work); its
      // words go in from the next store on.
      this.st(`UPDATE doc_terms SET state = ${MERGING} WHERE n = ? AND state = ${PENDING}`).run(n);
      this.st("UPDATE search_users SET pending = 0, cursor = '', merges = merges + 1 WHERE n = ?").run(n);
      this.keepMerge(n, merges + 1);
    }
  }

  /**
   * One step of the user's merge in progress: the merge's words from `cursor` on (in JavaScript's
   * string order, which is all the cursor is ever compared in), the next STEP_WORDS of them (or
   * more, so that MAX_STEPS steps do it), each one append of the merge's postings to the word's
   * last blob. The words before the cursor are in the postings, the rest still only in the
   * memories' doc_terms rows: a search reads each word from exactly one of the two. The last step
   * marks the memories merged.
   *
   * The merge's rows are read and parsed once per process, not at every step (~0.5–1 ms of a
   * step's ~1.5 ms at 100k): kept while the merge is the same one (`merges` counts the user's
   * merges begun) with the same memories (a delete takes one out: the count drops; none is
   * added to a merge once begun), and dropped at any rollback, which could undo a merge's start.
   */
  private mergeStep(n: number, cursor: string, merges: number): void {
    const m = this.keepMerge(n, merges);
    // The merge's words from the cursor on (binary search: words are sorted, cursor is one of them or past all).
    let lo = 0;
    for (let hi = m.words.length; lo < hi; ) {
      const mid = (lo + hi) >> 1;
      if (m.words[mid]! < cursor) lo = mid + 1;
      else hi = mid;
    }
    const end = Math.min(m.words.length, lo + m.take);
    const last = this.st('SELECT first, length(data) AS size FROM postings WHERE n = ? AND term = ? ORDER BY first DESC LIMIT 1');
    const append = this.st('UPDATE postings SET data = CAST(data || ? AS BLOB) WHERE n = ? AND term = ? AND first = ?');
    const start = this.st('INSERT INTO postings (n, term, first, data) VALUES (?, ?, ?, ?)');
    for (let i = lo; i < end; i++) {
      const term = m.words[i]!;
      const list = m.postings.get(term)!;
      const at = last.get(n, term) as { first: number; size: number } | undefined;
      // The blob being filled: the word's last one (appended to), or a new one keyed by its first memory.
      let first = at ? at.first : -1;
      let size = at ? at.size : BLOB_BYTES;
      let bytes: number[] = [];
      const flush = () => {
        if (bytes.length === 0) return;
        const data = Uint8Array.from(bytes);
        if (at && first === at.first) append.run(data, n, term, first);
        else start.run(n, term, first, data);
        bytes = [];
      };
      for (let k = 0; k < list.length; k += 3) {
        const length = varintSize(list[k]!) + varintSize(list[k + 1]!) + varintSize(list[k + 2]!);
        if (size + length > BLOB_BYTES) {
          flush();
          first = list[k]!;
          size = 0;
        }
        pushVarint(bytes, list[k]!);
        pushVarint(bytes, list[k + 1]!);
        pushVarint(bytes, list[k + 2]!);
        size += length;
      }
      flush();
    }
    if (end < m.words.length) {
      this.st('UPDATE search_users SET cursor = ? WHERE n = ?').run(m.words[end]!, n);
      return;
    }
    this.st(`UPDATE doc_terms SET state = NULL WHERE n = ? AND state = ${MERGING}`).run(n);
    this.st('UPDATE search_users SET cursor = NULL WHERE n = ?').run(n);
    this.merging.delete(n);
  }

  /** The user's merge in progress as parsed before, if it is still the same; else parsed now. */
  private keepMerge(n: number, merges: number): Merge {
    const { count } = this.st(`SELECT count(*) AS count FROM doc_terms WHERE n = ? AND state = ${MERGING}`).get(n) as { count: number };
    let m = this.merging.get(n);
    if (!m || m.merges !== merges || m.count !== count) {
      if (this.merging.size >= MAX_MERGES_KEPT) this.merging.clear();
      this.merging.set(n, (m = this.parseMerge(n, merges)));
    }
    return m;
  }

  /**
   * The user's merge in progress: its words in order, and each one's postings in rowid order (the
   * order of memories stored) as (rowid, weighted count, length) triples, encoded when appended.
   */
  private parseMerge(n: number, merges: number): Merge {
    const docs = this.st(`SELECT rowid, terms, freqs, len FROM doc_terms WHERE n = ? AND state = ${MERGING} ORDER BY rowid`).all(n) as {
      rowid: number;
      terms: string;
      freqs: string;
      len: number;
    }[];
    const postings = new Map<string, number[]>();
    for (const d of docs) {
      if (d.terms === '') continue;
      const terms = d.terms.split(' ');
      const freqs = d.freqs.split(' ');
      for (let at = 0; at < terms.length; at++) {
        const list = postings.get(terms[at]!);
        if (list) list.push(d.rowid, Number(freqs[at]), d.len);
        else postings.set(terms[at]!, [d.rowid, Number(freqs[at]), d.len]);
      }
    }
    const words = [...postings.keys()].sort();
    return { merges, count: docs.length, words, postings, take: Math.max(STEP_WORDS, Math.ceil(words.length / MAX_STEPS)) };
  }

  /**
   * Takes memory `rowid` out of the index again: its row, and it from the blob of each of its
   * words in the postings (all of them once merged; those before the cursor while merging).
   */
  private removePostings(n: number, rowid: number): void {
    const doc = this.st('SELECT terms, len, state FROM doc_terms WHERE rowid = ?').get(rowid) as
      | { terms: string; len: number; state: number | null }
      | undefined;
    if (!doc) return;
    this.st('DELETE FROM doc_terms WHERE rowid = ?').run(rowid);
    if (doc.state === PENDING) {
      this.st('UPDATE search_users SET docs = docs - 1, words = words - ?, pending = pending - 1 WHERE n = ?').run(doc.len, n);
      return;
    }
    let terms = doc.terms === '' ? [] : doc.terms.split(' ');
    if (doc.state === MERGING) {
      const { cursor } = this.st('SELECT cursor FROM search_users WHERE n = ?').get(n) as { cursor: string | null };
      terms = cursor === null ? [] : terms.filter((t) => t < cursor);
    }
    // A memory's postings are in the word's blob with the greatest first memory at or before it.
    const read = this.st('SELECT first, data FROM postings WHERE n = ? AND term = ? AND first <= ? ORDER BY first DESC LIMIT 1');
    const write = this.st('UPDATE postings SET data = ? WHERE n = ? AND term = ? AND first = ?');
    const drop = this.st('DELETE FROM postings WHERE n = ? AND term = ? AND first = ?');
    for (const term of terms) {
      const row = read.get(n, term, rowid) as { first: number; data: Uint8Array } | undefined;
      if (!row) continue;
      const data = row.data;
      const kept: number[] = [];
      for (let p = 0; p < data.length; ) {
        const from = p;
        let first = -1;
        for (let k = 0; k < 3; k++) {
          let x = 0;
          let mul = 1;
          let b: number;
          do {
            b = data[p++]!;
            x += (b & 0x7f) * mul;
            mul *= 0x80;
          } while (b & 0x80);
          if (k === 0) first = x;
        }
        if (first !== rowid) for (let j = from; j < p; j++) kept.push(data[j]!);
      }
      if (kept.length === data.length) continue;
      if (kept.length === 0) drop.run(n, term, row.first);
      else write.run(Uint8Array.from(kept), n, term, row.first);
    }
    this.st('UPDATE search_users SET docs = docs - 1, words = words - ? WHERE n = ?').run(doc.len, n);
  }

  /** Removes whatever memory has this id or this file name. Call inside transaction(). */
  removeWhere(user: string, id: string, file: string): boolean {
    const rows = this.st('SELECT rowid, id, tags FROM memories WHERE user = ? AND (id = ? OR file = ?)').all(user, id, file) as {
      rowid: number;
      id: string;
      tags: string;
    }[];
    const n = rows.length > 0 ? this.searchUser(user, false) : undefined;
    for (const r of rows) {
      if (n !== undefined) this.removePostings(n, r.rowid);
      // By the whole key, as put() added them: (user, id) alone is no prefix of it, and scanned
      // every tag row of the user (26 ms per delete at 100k memories).
      const untag = this.st('DELETE FROM tags WHERE user = ? AND tag = ? AND id = ?');
      for (const tag of tagKeys(JSON.parse(r.tags) as string[])) untag.run(user, tag, r.id);
      this.st('DELETE FROM memories WHERE rowid = ?').run(r.rowid);
    }
    return rows.length > 0;
  }

  find(user: string, idOrFile: string): IndexRow | undefined {
    const row = dbSpan('sqlite', 'SELECT', 'memories', () =>
      this.st(`SELECT ${COLUMNS} FROM memories WHERE user = ? AND (id = ? OR file = ?) ORDER BY id = ? DESC LIMIT 1`).get(
        user,
        idOrFile,
        idOrFile,
        idOrFile,
      ),
    ) as RawRow | undefined;
    return row ? summaryOf(row) : undefined;
  }

  /**
   * How many memories the user has: search_users.docs, kept in the same transaction as every
   * insert (put → addPostings) and removal (removeWhere → removePostings, dropUser), so it is
   * exact without counting 100,000 rows (~5–8 ms) on every plain listing.
   */
  count(user: string): number {
    return (this.st('SELECT docs FROM search_users WHERE user = ?').get(user) as { docs: number } | undefined)?.docs ?? 0;
  }

  list(user: string, f: ListFilter): { rows: IndexRow[]; total: number } {
    const from = f.fromId ?? '';
    const to = f.toId ?? '~';
    const before = f.beforeId !== undefined && f.beforeId < to ? f.beforeId : to;
    return dbSpan('sqlite', 'SELECT', 'memories', () => {
      if (f.tag === undefined) {
        const rows = this.st(
          `SELECT ${COLUMNS} FROM memories WHERE user = ? AND id >= ? AND id < ? ORDER BY id DESC LIMIT ?`,
        ).all(user, from, before, f.limit) as unknown as RawRow[];
        const total =
          f.fromId === undefined && f.toId === undefined
            ? this.count(user)
            : (this.st('SELECT count(*) AS n FROM memories WHERE user = ? AND id >= ? AND id < ?').get(user, from, to) as { n: number }).n;
        return { rows: rows.map(summaryOf), total };
      }
      const rows = this.st(
        `SELECT ${COLUMNS.split(', ').map((c) => `m.${c}`).join(', ')} FROM tags t JOIN memories m ON m.user = t.user AND m.id = t.id
         WHERE t.user = ? AND t.tag = ? AND t.id >= ? AND t.id < ? ORDER BY t.id DESC LIMIT ?`,
      ).all(user, f.tag, from, before, f.limit) as unknown as RawRow[];
      const total = (
        this.st('SELECT count(*) AS n FROM tags WHERE user = ? AND tag = ? AND id >= ? AND id < ?').get(user, f.tag, from, to) as { n: number }
      ).n;
      return { rows: rows.map(summaryOf), total };
    });
  }

  search(user: string, terms: string[], limit: number): { rows: (IndexRow & { score: number })[]; total: number } {
    return dbSpan('sqlite', 'SELECT', 'postings', () => this.read(() => this.rank(user, terms, limit)));
  }

  /** Runs `fn` in one read transaction (one snapshot of the postings and counts), unless in one already. */
  private read<T>(fn: () => T): T {
    if (this.db.isTransaction) return fn();
    this.db.exec('BEGIN');
    try {
      return fn();
    } finally {
      if (this.db.isTransaction) this.db.exec('COMMIT');
    }
  }

  /**
   * rank()'s tables, kept from one search to the next (a search runs to its end before another
   * starts): allocated per search they came to ~5 MB at 100,000 memories, and V8 answered that
   * churn with a full mark-compact about every 150 ms, a 5–17 ms pause for whichever call was
   * running (the p99 of every kind of call). Only `keys` needs clearing; a slot's other entries
   * are set when it is taken. Tables past SCRATCH_KEEP entries are not kept: a search that big
   * (a million memories) pays for its own.
   */
  private scratch = {
    keys: new Float64Array(0),
    slots: new Int32Array(0),
    rowids: new Float64Array(0),
    lens: new Float64Array(0),
    score: new Float64Array(0),
    freq: new Float64Array(0),
    stamp: new Int32Array(0),
    touched: new Int32Array(0),
  };

  private rankScratch(cap: number, most: number): SqliteIndex['scratch'] {
    let t = this.scratch;
    if (t.keys.length < cap) {
      const keys = new Float64Array(cap);
      const slots = new Int32Array(cap);
      t = { ...t, keys, slots };
    } else t.keys.fill(0, 0, cap);
    if (t.rowids.length < most) {
      t = {
        ...t,
        rowids: new Float64Array(most),
        lens: new Float64Array(most),
        score: new Float64Array(most),
        freq: new Float64Array(most),
        stamp: new Int32Array(most),
        touched: new Int32Array(most),
      };
    }
    if (cap <= SCRATCH_KEEP) this.scratch = t;
    return t;
  }

  private rank(user: string, terms: string[], limit: number): { rows: (IndexRow & { score: number })[]; total: number } {
    const u = this.st('SELECT n, docs, words, cursor FROM search_users WHERE user = ?').get(user) as
      | { n: number; docs: number; words: number; cursor: string | null }
      | undefined;
    if (!u || u.docs <= 0) return { rows: [], total: 0 };
    const exact = this.st('SELECT data FROM postings WHERE n = ? AND term = ?');
    const prefix = this.st('SELECT data FROM postings WHERE n = ? AND term >= ? AND term < ?');
    const blobs: Uint8Array[][] = [];
    let bytes = 0;
    for (const t of terms) {
      const rows = (t.length >= MIN_PREFIX ? prefix.all(u.n, t, t + MAX_CHAR) : exact.all(u.n, t)) as { data: Uint8Array }[];
      blobs.push(rows.map((r) => r.data));
    }
    // The memories not merged yet (pending, or in the merge in progress: their words from the
    // cursor on): their postings for each query word, made here.
    const pending = this.st('SELECT rowid, terms, freqs, len, state FROM doc_terms WHERE n = ? AND state IS NOT NULL').all(u.n) as {
      rowid: number;
      terms: string;
      freqs: string;
      len: number;
      state: number;
    }[];
    if (pending.length > 0) {
      const made: number[][] = terms.map(() => []);
      for (const d of pending) {
        // Most pending memories hold none of the query's words: one substring test says so.
        const spaced = ` ${d.terms}`;
        if (!terms.some((q) => spaced.includes(` ${q}`))) continue;
        const words = d.terms.split(' ');
        const freqs = d.freqs.split(' ');
        // A merging memory's words before the cursor are in the postings already.
        const from = d.state === MERGING && u.cursor !== null ? u.cursor : '';
        terms.forEach((q, i) => {
          let f = 0;
          for (let k = 0; k < words.length; k++) {
            const w = words[k]!;
            if ((q.length >= MIN_PREFIX ? w.startsWith(q) : w === q) && w >= from) f += Number(freqs[k]);
          }
          if (f > 0) {
            pushVarint(made[i]!, d.rowid);
            pushVarint(made[i]!, f);
            pushVarint(made[i]!, d.len);
          }
        });
      }
      made.forEach((m, i) => blobs[i]!.push(Uint8Array.from(m)));
    }
    for (const list of blobs) for (const b of list) bytes += b.length;
    // Every posting takes at least 3 bytes: at most bytes / 3 memories match.
    const most = Math.floor(bytes / 3) + 1;
    // An open-addressing table rowid -> the memory's slot, then per slot its rowid, length,
    // score so far, and the current query word's weighted count.
    let cap = 16;
    while (cap < most * 2) cap *= 2;
    const mask = cap - 1;
    const { keys, slots, rowids, lens, score, freq, stamp, touched } = this.rankScratch(cap, most);
    const avg = u.words / u.docs;
    let total = 0;
    for (let q = 0; q < terms.length; q++) {
      // This query word's weighted count per memory, summed over the words it matches.
      let hits = 0;
      for (const data of blobs[q]!) {
        for (let p = 0; p < data.length; ) {
          let b = data[p++]!;
          let rowid = b & 0x7f;
          for (let mul = 0x80; b & 0x80; mul *= 0x80) rowid += ((b = data[p++]!) & 0x7f) * mul;
          b = data[p++]!;
          let f = b & 0x7f;
          for (let mul = 0x80; b & 0x80; mul *= 0x80) f += ((b = data[p++]!) & 0x7f) * mul;
          b = data[p++]!;
          let d = b & 0x7f;
          for (let mul = 0x80; b & 0x80; mul *= 0x80) d += ((b = data[p++]!) & 0x7f) * mul;
          let h = Math.imul(rowid, 0x9e3779b1) & mask;
          while (keys[h] !== 0 && keys[h] !== rowid + 1) h = (h + 1) & mask;
          let s: number;
          if (keys[h] === 0) {
            keys[h] = rowid + 1;
            slots[h] = s = total++;
            rowids[s] = rowid;
            lens[s] = d;
            score[s] = 0;
            stamp[s] = -1;
          } else s = slots[h]!;
          if (stamp[s] !== q) {
            stamp[s] = q;
            freq[s] = 0;
            touched[hits++] = s;
          }
          freq[s]! += f;
        }
      }
      // bm25's part for this word, added in query order as FTS5 adds its phrases.
      const w = idf(u.docs, hits);
      for (let i = 0; i < hits; i++) {
        const s = touched[i]!;
        const f = freq[s]!;
        score[s]! += w * ((f * (K1 + 1.0)) / (f + K1 * (1 - B + (B * lens[s]!) / avg)));
      }
    }
    if (limit <= 0 || total === 0) return { rows: [], total };
    // The limit-th best score (a min-heap of the best so far), then every memory scoring at
    // least that: the ties at the boundary go to the newer memory, which only the rows tell.
    const heap: number[] = [];
    for (let i = 0; i < total; i++) {
      const s = score[i]!;
      if (heap.length < limit) {
        heap.push(s);
        for (let c = heap.length - 1; c > 0; ) {
          const parent = (c - 1) >> 1;
          if (heap[parent]! <= heap[c]!) break;
          [heap[parent], heap[c]] = [heap[c]!, heap[parent]!];
          c = parent;
        }
      } else if (s > heap[0]!) {
        heap[0] = s;
        for (let c = 0; ; ) {
          const l = 2 * c + 1;
          let min = c;
          if (l < heap.length && heap[l]! < heap[min]!) min = l;
          if (l + 1 < heap.length && heap[l + 1]! < heap[min]!) min = l + 1;
          if (min === c) break;
          [heap[min], heap[c]] = [heap[c]!, heap[min]!];
          c = min;
        }
      }
    }
    const boundary = heap.length < limit ? -Infinity : heap[0]!;
    const one = this.st(`SELECT ${COLUMNS} FROM memories WHERE rowid = ?`);
    const rows: (IndexRow & { score: number; exact: number })[] = [];
    for (let i = 0; i < total; i++) {
      if (score[i]! < boundary) continue;
      const r = one.get(rowids[i]!) as RawRow | undefined;
      if (r) rows.push({ ...summaryOf(r), score: Number(score[i]!.toPrecision(6)), exact: score[i]! });
    }
    rows.sort((a, b) => b.exact - a.exact || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    return { rows: rows.slice(0, limit).map(({ exact: _e, ...row }) => row), total };
  }

  /** Every memory file of one user the index knows, for reconciliation. */
  files(user: string): Map<string, IndexedFile> {
    const rows = this.st('SELECT id, file, content_mtime, content_size, meta_mtime FROM memories WHERE user = ?').all(user) as unknown as RawRow[];
    return new Map(
      rows.map((r) => [r.file, { id: r.id, file: r.file, contentMtimeMs: r.content_mtime, contentSize: r.content_size, metaMtimeMs: r.meta_mtime }]),
    );
  }

  /** Users the index has rows or a directory record for (not the health probe's row). */
  users(): string[] {
    return (this.st("SELECT user FROM dirs WHERE user != '.health' UNION SELECT DISTINCT user FROM memories").all() as { user: string }[]).map((r) => r.user);
  }

  /** Forgets a user whose directory is gone. Call inside transaction(). */
  dropUser(user: string): void {
    const n = this.searchUser(user, false);
    if (n !== undefined) {
      this.st('DELETE FROM postings WHERE n = ?').run(n);
      this.st('DELETE FROM doc_terms WHERE n = ?').run(n);
      this.st('DELETE FROM search_users WHERE n = ?').run(n);
    }
    this.st('DELETE FROM tags WHERE user = ?').run(user);
    this.st('DELETE FROM memories WHERE user = ?').run(user);
    this.st('DELETE FROM dirs WHERE user = ?').run(user);
  }

  /** Whether a write transaction can be taken now (health): false when the disk refuses. */
  writable(): boolean {
    try {
      this.transaction(() => this.st("INSERT INTO dirs (user, mtime) VALUES ('.health', '0') ON CONFLICT (user) DO UPDATE SET mtime = '0'").run());
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the checkpoint thread's connection first, so this one is the last and SQLite cleans up the WAL as before. */
  async close(): Promise<void> {
    const checkpointer = this.checkpointer;
    await checkpointer?.close();
    this.checkpointer = undefined;
    try {
      this.db.close();
    } catch {
      // Already closed.
    }
    checkpointer?.release();
  }
}
