/*
 * The embedded backend's index: one SQLite database in the data directory, on Node's
 * built-in `node:sqlite`, holding every memory's metadata and preview plus an FTS5 full-text
 * index of its tags, name, description and content. Listing and search read only this, so
 * they cost what they return, not what the user has stored; and since every server process
 * on the data directory writes its stores and deletes here (WAL mode, short IMMEDIATE
 * transactions), each sees the others' at once.
 *
 * The files stay the truth: the index is a cache of them, rebuilt when it is missing, corrupt
 * or from another schema version, and reconciled with the directory (reconcile.ts).
 *
 * Search keeps the matching rules of the old in-memory index: words folded (case, diacritics:
 * `unicode61 remove_diacritics 2`), any query word may match, and from three letters on a word
 * also matches the longer words it begins ("meet" finds "meeting"). Ranking is FTS5's bm25
 * with the fields weighted tags 4, file name 3, description 2, content 1, over the user's own
 * memories (like the old per-user index); ties go to the newer memory.
 *
 * Each user has an FTS5 table of their own (`fts_<n>`, listed in `fts_users`): with one shared
 * table a query had to AND an owner token whose doclist holds every memory of the user, and
 * bm25 was computed for every match and sorted together with the joined rows. Now the match
 * reads only the user's doclists, and `ORDER BY rank LIMIT` lets FTS5 sort bare (rowid, rank)
 * pairs itself; only the few rows returned are read from `memories`.
 */
import { rmSync, chmodSync, lstatSync } from 'node:fs';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import path from 'node:path';
import { log } from '../../log.ts';
import { MIN_PREFIX, type ListFilter } from './input.ts';
import { dbSpan } from './spans.ts';
import { Checkpointer } from './checkpointer.ts';
import { FILE_MODE, refuseLink } from './fs-safe.ts';
import type { MemorySummary } from './types.ts';

export const INDEX_FILE = '.memento-index.sqlite';
/** Bump when the schema changes: an index of another version is dropped and rebuilt. */
// 2: one FTS5 table per user instead of one shared table with an owner column.
export const SCHEMA_VERSION = 2;

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
CREATE TABLE IF NOT EXISTS fts_users (n INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS dirs (user TEXT PRIMARY KEY, mtime TEXT NOT NULL);
`;

const COLUMNS = 'id, file, description, tags, created, size, preview, truncated, content_mtime, content_size, meta_mtime';
/** The per-user FTS5 table: the name is `fts_<n>` with n from fts_users, never the user's text. */
const FTS_COLUMNS = `tags, file, description, content,
  content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2'`;
/** Field weights for bm25, set as the table's default rank so `ORDER BY rank` uses them. */
const RANK = 'bm25(4, 3, 2, 1)';
/** The WAL size (pages) at which this connection checkpoints itself, if the checkpoint thread falls behind or fails. */
const BACKSTOP_PAGES = 10_000;
/** Prepared statements kept at most: per-user statements would otherwise grow with the users. */
const MAX_STATEMENTS = 512;

/** The FTS5 query for `terms` (already folded words). */
function matchQuery(terms: string[]): string {
  return terms.map((t) => (t.length >= MIN_PREFIX ? `"${t}"*` : `"${t}"`)).join(' OR ');
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
    this.db = new DatabaseSync(this.file, { timeout: 15_000 });
    this.statements.clear();
    if (!existed) chmodSync(this.file, FILE_MODE);
    // Checkpoints run in a worker thread (checkpointer.ts); this connection's own automatic
    // checkpoint stays as the backstop, at a WAL of 10,000 pages instead of 1,000.
    this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = ${BACKSTOP_PAGES};`);
    const db = this.db;
    this.checkpointer = new Checkpointer(this.file, () => db.exec('PRAGMA wal_autocheckpoint = 1000'));
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
        this.db.exec('DROP TABLE IF EXISTS memories; DROP TABLE IF EXISTS tags; DROP TABLE IF EXISTS fts_users; DROP TABLE IF EXISTS dirs;');
        this.db.exec(SCHEMA);
        this.db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Removes the index files: only the fixed names this backend gives them. */
  private discard(): void {
    void this.checkpointer?.close();
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
   * The user's FTS table, or undefined when they have none (and `create` is false). Looked up
   * each time rather than cached: another process may drop a user and its table meanwhile, and
   * AUTOINCREMENT never hands the same name to a later user.
   */
  private ftsTable(user: string, create: boolean): string | undefined {
    const row = this.st('SELECT n FROM fts_users WHERE user = ?').get(user) as { n: number } | undefined;
    if (row) return `fts_${row.n}`;
    if (!create) return undefined;
    const { lastInsertRowid } = this.st('INSERT INTO fts_users (user) VALUES (?)').run(user);
    const table = `fts_${Number(lastInsertRowid)}`;
    this.db.exec(`CREATE VIRTUAL TABLE ${table} USING fts5(${FTS_COLUMNS})`);
    this.db.exec(`INSERT INTO ${table} (${table}, rank) VALUES ('rank', '${RANK}')`);
    return table;
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
    for (const tag of new Set(row.tags.map((t) => t.toLowerCase()))) insertTag.run(user, tag, row.id);
    const table = this.ftsTable(user, true)!;
    this.st(`INSERT INTO ${table} (rowid, tags, file, description, content) VALUES (?, ?, ?, ?, ?)`).run(
      lastInsertRowid,
      fields.tags,
      fields.file,
      fields.description,
      fields.content,
    );
  }

  /** Removes whatever memory has this id or this file name. Call inside transaction(). */
  removeWhere(user: string, id: string, file: string): boolean {
    const rows = this.st('SELECT rowid, id FROM memories WHERE user = ? AND (id = ? OR file = ?)').all(user, id, file) as {
      rowid: number;
      id: string;
    }[];
    const table = rows.length > 0 ? this.ftsTable(user, false) : undefined;
    for (const r of rows) {
      if (table) this.st(`DELETE FROM ${table} WHERE rowid = ?`).run(r.rowid);
      this.st('DELETE FROM tags WHERE user = ? AND id = ?').run(user, r.id);
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

  count(user: string): number {
    return (this.st('SELECT count(*) AS n FROM memories WHERE user = ?').get(user) as { n: number }).n;
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
        const total = (this.st('SELECT count(*) AS n FROM memories WHERE user = ? AND id >= ? AND id < ?').get(user, from, to) as { n: number }).n;
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
    const match = matchQuery(terms);
    return dbSpan('sqlite', 'SELECT', 'fts', () => {
      const table = this.ftsTable(user, false);
      if (!table) return { rows: [], total: 0 };
      const total = (this.st(`SELECT count(*) AS n FROM ${table} WHERE ${table} MATCH ?`).get(match) as { n: number }).n;
      if (limit <= 0 || total === 0) return { rows: [], total };
      // FTS5 sorts by rank itself, but ties must go to the newer memory (larger id), which it
      // does not know: fetch past the limit until the rank after the last kept one differs,
      // so every memory tied at the boundary is among the candidates, then order those by id.
      const top = this.st(`SELECT rowid, rank FROM ${table} WHERE ${table} MATCH ? ORDER BY rank LIMIT ?`);
      let hits: { rowid: number; rank: number }[];
      for (let k = limit + 1; ; k *= 4) {
        hits = top.all(match, k) as { rowid: number; rank: number }[];
        if (hits.length < k || hits[k - 1]!.rank !== hits[Math.min(limit, hits.length) - 1]!.rank) break;
      }
      const boundary = hits[Math.min(limit, hits.length) - 1]!.rank;
      const one = this.st(`SELECT ${COLUMNS} FROM memories WHERE rowid = ?`);
      const rows: (IndexRow & { score: number; rank: number })[] = [];
      for (const h of hits) {
        if (h.rank > boundary) break;
        const r = one.get(h.rowid) as RawRow | undefined;
        if (r) rows.push({ ...summaryOf(r), score: Number((-h.rank).toPrecision(6)), rank: h.rank });
      }
      rows.sort((a, b) => a.rank - b.rank || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      return { rows: rows.slice(0, limit).map(({ rank: _r, ...row }) => row), total };
    });
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
    const table = this.ftsTable(user, false);
    if (table) {
      this.db.exec(`DROP TABLE ${table}`);
      this.st('DELETE FROM fts_users WHERE user = ?').run(user);
      // Its statements cannot run again: do not keep them.
      for (const sql of this.statements.keys()) if (sql.includes(` ${table} `)) this.statements.delete(sql);
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
    await this.checkpointer?.close();
    this.checkpointer = undefined;
    try {
      this.db.close();
    } catch {
      // Already closed.
    }
  }
}
