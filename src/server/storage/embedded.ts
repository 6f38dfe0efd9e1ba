/*
 * The embedded backend (the default): memories as plain files under the data directory
 * (memory-files.ts), found through the SQLite index beside them (sqlite-index.ts), kept in
 * line with hand edits (reconcile.ts). Several server processes may share a data directory:
 * the index is where they meet.
 */
import { unlinkSync } from 'node:fs';
import { readdir, statfs, unlink } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { log } from '../../log.ts';
import { USER_ID_PATTERN } from '../../protocol.ts';
import {
  ATTR_MEMENTO_CONTENT_SIZE,
  ATTR_MEMENTO_MEMORY_COUNT,
  ATTR_MEMENTO_MEMORY_ID,
  ATTR_MEMENTO_SEARCH_TERMS,
} from '../../telemetry/semconv.ts';
import { ensureOwnDir, ioFailure, kindOf, makeDataDir, readNoFollowSync, refuseLink, writeNewFile } from './fs-safe.ts';
import { checkDeleteCall, checkListQuery, checkSearchQuery, checkStoreCall, checkUser, META_SUFFIX, notFound } from './input.ts';
import { fieldsOf, removeLeftovers, writeMemory } from './memory-files.ts';
import { idStamp, newId, previewOf, slugOf } from './naming.ts';
import { dirStamp, reconcileUser } from './reconcile.ts';
import { dbSpan, storageSpan } from './spans.ts';
import { SqliteIndex } from './sqlite-index.ts';
import {
  DEFAULT_MAX_CONTENT_BYTES,
  DEFAULT_SEARCH_LIMIT,
  errorCode,
  StorageError,
  type ListQuery,
  type ListResult,
  type Memory,
  type MemorySummary,
  type SearchResult,
  type Storage,
  type StorageHealth,
  type StoreInput,
} from './types.ts';

export interface EmbeddedOptions {
  dataDir: string;
  /** Largest content accepted, in UTF-8 bytes. */
  maxContentBytes?: number | undefined;
  /** Run the start-up pass over every user directory (default true). */
  reconcileAtStart?: boolean | undefined;
}

interface Burst {
  active: number;
  /** The record already moved past every write of the burst so far (see settleStep). */
  settled: boolean;
  /** The record this process set when it created the user's directory in this burst. */
  created: string | undefined;
  /** The record and the directory's time when the burst began. */
  base: { recorded: string | undefined; stamp: string };
}

export class EmbeddedStorage implements Storage {
  readonly backend = 'embedded' as const;
  readonly dataDir: string;
  readonly maxContentBytes: number;
  private index: SqliteIndex | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Reconciliations under way, one per user, shared by every call that needs it. */
  private readonly reconciling = new Map<string, Promise<unknown>>();
  /** This process's own writes in progress, per user (see ownWrite). */
  private readonly bursts = new Map<string, Burst>();
  /** `user/file` names this process is writing now, and ids being deleted. */
  private readonly reserved = new Set<string>();
  private readonly deleting = new Set<string>();
  private closing = false;
  private readonly reconcileAtStart: boolean;
  /** Resolves when the start-up pass over every user directory has finished. */
  started: Promise<void> = Promise.resolve();

  constructor(options: EmbeddedOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.maxContentBytes = options.maxContentBytes ?? DEFAULT_MAX_CONTENT_BYTES;
    this.reconcileAtStart = options.reconcileAtStart ?? true;
  }

  /** Creates the data directory (0700) and opens the index; call once before serving. */
  async init(): Promise<void> {
    await makeDataDir(this.dataDir);
    // Writable at all? Asked first, so a read-only disk is named as such rather than as SQLite's complaint.
    const probe = path.join(this.dataDir, `.memento-health-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      writeNewFile(probe, '');
    } catch (err) {
      throw ioFailure('use the data directory', err, this.dataDir);
    } finally {
      await unlink(probe).catch(() => {});
    }
    try {
      this.index = new SqliteIndex(this.dataDir);
    } catch (err) {
      throw ioFailure('open the index database', err, this.dataDir);
    }
    if (this.reconcileAtStart) this.started = this.track(this.startupPass());
  }

  private get db(): SqliteIndex {
    if (!this.index) throw new StorageError('The storage is not open: call init() first.', 'ENOTCONN');
    return this.index;
  }

  private userDir(user: string): string {
    return path.join(this.dataDir, user);
  }

  /** Tracks work so that close() can wait for it: an acknowledged store is never cut short. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    const done = () => this.inFlight.delete(work);
    work.then(done, done);
    return work;
  }

  /**
   * Every user directory once, in the background: hand edits made while no server ran,
   * leftovers of interrupted writes, and a rebuild when the index is new.
   */
  private async startupPass(): Promise<void> {
    // Let the server answer its first calls before this competes with them.
    await new Promise((resolve) => setTimeout(resolve, 50));
    let names: string[] = [];
    try {
      const entries = await readdir(this.dataDir, { withFileTypes: true });
      for (const entry of entries) {
        if (!USER_ID_PATTERN.test(entry.name)) continue;
        if (entry.isSymbolicLink()) refuseLink('the user directory', this.userDir(entry.name));
        else if (entry.isDirectory()) names.push(entry.name);
      }
      names = [...new Set([...names, ...this.db.users().filter((u) => USER_ID_PATTERN.test(u))])];
    } catch (err) {
      log.warn('could not read the data directory at start', { path: this.dataDir, code: errorCode(err) });
      return;
    }
    for (const user of names) {
      if (this.closing) return;
      try {
        const dir = this.userDir(user);
        if (kindOf(dir) === 'dir') await removeLeftovers(dir, user);
        await this.reconcile(user, 'full');
      } catch (err) {
        log.warn('could not bring a user directory in line with the index', { user, code: errorCode(err) ?? String(err) });
      }
    }
  }

  private reconcile(user: string, mode: 'names' | 'full'): Promise<unknown> {
    // The start-up pass is not waited for by calls: the index is usable while it runs.
    if (mode === 'full') return reconcileUser(this.db, this.userDir(user), user, 'full', () => this.closing);
    let running = this.reconciling.get(user);
    if (!running) {
      running = reconcileUser(this.db, this.userDir(user), user, mode, () => this.closing).finally(() => {
        this.reconciling.delete(user);
      });
      this.reconciling.set(user, running);
    }
    return running;
  }

  /**
   * Runs one of this process's own writes for `user`. Writes overlapping in time form a burst;
   * when the last one ends, the recorded directory time moves to the directory's time now —
   * but only if the index matched the directory when the burst began and nothing else moved
   * the record meanwhile, so a change by anyone else still shows at the next call. (A hand edit
   * made during a burst of this process's own writes is seen at the next start instead.)
   */
  private async ownWrite<T>(user: string, fn: (burst: Burst) => Promise<T>): Promise<T> {
    const dir = this.userDir(user);
    let burst = this.bursts.get(user);
    if (!burst) {
      burst = {
        active: 0,
        settled: false,
        created: undefined,
        base: { recorded: this.db.dirMtime(user), stamp: dirStamp(dir) },
      };
      this.bursts.set(user, burst);
    }
    burst.active++;
    burst.settled = false;
    try {
      return await fn(burst);
    } finally {
      // Synchronous from here to the new record: a write that starts a new burst must find
      // the record already moved, or that burst would begin out of step and never record.
      if (--burst.active === 0) {
        this.bursts.delete(user);
        if (!burst.settled) {
          try {
            const expected = this.expectedRecord(burst);
            const now = dirStamp(dir);
            if (expected !== undefined) this.db.transaction(() => this.db.advanceDirMtime(user, expected, now));
          } catch (err) {
            // The record stays behind: the next call compares names, which is slower, not wrong.
            log.debug('could not record the user directory time', { user, code: errorCode(err) ?? String(err) });
          }
        }
      }
    }
  }

  /**
   * The record a burst may move on from: the directory's time when the burst began if the index
   * matched the directory then, or the one this process set creating the directory; undefined
   * when the burst began out of step (its writes then leave the record to the next call's check).
   */
  private expectedRecord(burst: Burst): string | undefined {
    const { recorded, stamp } = burst.base;
    return recorded !== undefined && recorded === stamp ? recorded : burst.created;
  }

  /**
   * For the usual burst of one write: the step that moves the recorded directory time inside
   * the write's own index transaction, instead of a second transaction when the burst ends
   * (one BEGIN … COMMIT and WAL append less per store or delete). Call it after the last file
   * operation of the write; run what it returns as the last statement of that transaction.
   * Returns undefined when other writes of this process overlap (the burst's end records
   * then, as before). A record that stays behind is only slower (names are compared), never wrong.
   */
  private settleStep(user: string, burst: Burst): (() => void) | undefined {
    if (burst.active !== 1) return undefined;
    try {
      const expected = this.expectedRecord(burst);
      if (expected === undefined) return undefined;
      const now = dirStamp(this.userDir(user));
      return () => {
        if (burst.active !== 1) return;
        this.db.advanceDirMtime(user, expected, now);
        // A write that joins before this one ends records from here.
        burst.settled = true;
        burst.created = undefined;
        burst.base = { recorded: now, stamp: now };
      };
    } catch {
      return undefined;
    }
  }

  /** The cheap change check before a call: one stat, and a reconciliation when it differs. */
  private async caughtUp(user: string): Promise<void> {
    const running = this.reconciling.get(user);
    if (running) await running;
    const recorded = this.db.dirMtime(user);
    // This process's own writes in progress move the directory's time, and the burst's end
    // records it: while the record is still the one the burst started from, a listing of the
    // directory would only find those writes (a hand edit made meanwhile is seen at the next
    // start, see ownWrite). Without this, a delete during a run of stores listed the directory.
    const burst = this.bursts.get(user);
    if (burst && recorded !== undefined && recorded === this.expectedRecord(burst)) return;
    const stamp = dirStamp(this.userDir(user));
    if (recorded === stamp) return;
    if (stamp === 'missing' && recorded === undefined) return;
    await this.reconcile(user, 'names');
  }

  /** Runs `fn`, turning a corrupt index into a rebuild and every failure into a clear sentence. */
  private async guarded<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (SqliteIndex.isCorrupt(err)) {
        this.db.reset();
        this.track(this.startupPass());
        throw new StorageError(`Could not ${action}: the index database was corrupt and is being rebuilt from the files; try again.`, 'SQLITE_CORRUPT');
      }
      if (err instanceof StorageError || (err as Error)?.name === 'MemoryInputError' || (err as Error)?.name === 'MemoryNotFoundError') throw err;
      throw ioFailure(action, err, this.dataDir);
    }
  }

  store(user: string, input: StoreInput): Promise<MemorySummary> {
    const checked = checkStoreCall(user, input, this.maxContentBytes);
    if ('error' in checked) return Promise.reject(checked.error);
    const { valid } = checked;
    return this.track(
      storageSpan('write', {}, (span) =>
        this.guarded('store the memory', () => this.ownWrite(user, async (burst) => {
          if (this.closing) throw new StorageError('Could not store the memory: the server is shutting down.', 'ESHUTDOWN');
          const dir = this.userDir(user);
          // Whether the directory exists was seen when the burst began (no stat of our own);
          // one removed by hand since then shows as ENOENT below and is made again.
          const prepareDir = () => {
            try {
              ensureOwnDir(dir, 'the user directory');
            } catch (err) {
              throw ioFailure('store the memory for a new user', err, this.dataDir);
            }
            // A new, empty directory: nothing to index, so the index matches it now.
            const recorded = this.db.dirMtime(user);
            if (recorded === undefined || recorded === 'missing') {
              const created = dirStamp(dir);
              this.db.transaction(() => this.db.setDirMtime(user, created));
              burst.created = created;
            }
          };
          if (burst.base.stamp === 'missing') prepareDir();
          const createdMs = Date.now();
          const id = newId(createdMs);
          const base = valid.base ?? slugOf(valid.description || valid.content);
          const write = () =>
            writeMemory(
              dir,
              { id, createdMs, base, ext: valid.ext, content: valid.content, description: valid.description, tags: valid.tags, size: valid.size },
              (file) => {
                const key = `${user}/${file}`;
                if (this.reserved.has(key)) return false;
                this.reserved.add(key);
                return true;
              },
              (file) => this.reserved.delete(`${user}/${file}`),
            );
          let written: ReturnType<typeof write>;
          try {
            written = write();
          } catch (err) {
            if (errorCode(err) !== 'ENOENT') throw err;
            prepareDir();
            written = write();
          }
          const row = {
            id,
            file: written.file,
            description: valid.description,
            tags: valid.tags,
            created: new Date(createdMs).toISOString(),
            size: valid.size,
            ...previewOf(valid.content),
            contentMtimeMs: written.contentMtimeMs,
            contentSize: valid.size,
            metaMtimeMs: written.metaMtimeMs,
          };
          const settle = this.settleStep(user, burst);
          try {
            dbSpan('sqlite', 'INSERT', 'memories', () =>
              this.db.transaction(() => {
                this.db.put(user, row, fieldsOf(row, valid.content));
                settle?.();
              }),
            );
          } catch (err) {
            // The memory is on disk (committed); the next change check indexes it.
            if (SqliteIndex.isCorrupt(err)) throw err;
            log.warn('a stored memory could not be added to the index yet', { user, id, code: errorCode(err) ?? String(err) });
          }
          span.setAttributes({ [ATTR_MEMENTO_MEMORY_ID]: id, [ATTR_MEMENTO_CONTENT_SIZE]: valid.size });
          const { contentMtimeMs: _c, contentSize: _s, metaMtimeMs: _m, ...summary } = row;
          return summary;
        })),
      ),
    );
  }

  async get(user: string, idOrFile: string): Promise<Memory> {
    checkUser(user);
    if (typeof idOrFile !== 'string' || idOrFile.length === 0 || idOrFile.length > 255) throw notFound(idOrFile);
    return this.guarded('read the memory', async () => {
      await this.caughtUp(user);
      return storageSpan('read', {}, async (span) => {
        const row = this.db.find(user, idOrFile);
        if (!row || this.deleting.has(`${user}/${row.id}`)) throw notFound(idOrFile);
        span.setAttribute(ATTR_MEMENTO_MEMORY_ID, row.id);
        let content: string;
        try {
          content = readNoFollowSync(path.join(this.userDir(user), row.file), 'the memory file').text;
        } catch (err) {
          if (errorCode(err) === 'ENOENT') throw notFound(idOrFile);
          throw err;
        }
        const size = Buffer.byteLength(content, 'utf8');
        span.setAttribute(ATTR_MEMENTO_CONTENT_SIZE, size);
        return { id: row.id, file: row.file, description: row.description, tags: row.tags, created: row.created, size, content };
      });
    });
  }

  async list(user: string, query: ListQuery = {}): Promise<ListResult> {
    checkUser(user);
    const filter = checkListQuery(query, idStamp);
    return this.guarded('list the memories', async () => {
      await this.caughtUp(user);
      return storageSpan('list', {}, async (span) => {
        // One row more than the page: whether an older page exists, without a second query.
        const { rows, total } = this.db.list(user, { ...filter, limit: filter.limit + 1 });
        const more = rows.length > filter.limit;
        const memories = rows.slice(0, filter.limit).map(({ contentMtimeMs: _c, contentSize: _s, metaMtimeMs: _m, ...m }) => m);
        span.setAttribute(ATTR_MEMENTO_MEMORY_COUNT, memories.length);
        return { memories, total, nextCursor: more ? memories[memories.length - 1]!.id : null };
      });
    });
  }

  async search(user: string, query: string, limit = DEFAULT_SEARCH_LIMIT): Promise<SearchResult> {
    const terms = checkSearchQuery(query);
    checkUser(user);
    return this.guarded('search the memories', async () => {
      await this.caughtUp(user);
      return storageSpan('search', { [ATTR_MEMENTO_SEARCH_TERMS]: terms.length }, async (span) => {
        const { rows, total } = this.db.search(user, terms, limit);
        const memories = rows.map(({ contentMtimeMs: _c, contentSize: _s, metaMtimeMs: _m, ...m }) => m);
        span.setAttribute(ATTR_MEMENTO_MEMORY_COUNT, memories.length);
        return { memories, total };
      });
    });
  }

  delete(user: string, idOrFile: string): Promise<MemorySummary> {
    const mistake = checkDeleteCall(user, idOrFile);
    if (mistake) return Promise.reject(mistake.error);
    return this.track(
      this.guarded('delete the memory', async () => {
        await this.caughtUp(user);
        return storageSpan('delete', {}, (span) => this.ownWrite(user, async (burst) => {
          const row = this.db.find(user, idOrFile);
          const key = row && `${user}/${row.id}`;
          if (!row || !key || this.deleting.has(key)) throw notFound(idOrFile);
          span.setAttribute(ATTR_MEMENTO_MEMORY_ID, row.id);
          this.deleting.add(key);
          try {
            const dir = this.userDir(user);
            const contentPath = path.join(dir, row.file);
            if (kindOf(contentPath) === 'link') throw refuseLink('the memory file', contentPath);
            let gone = false;
            try {
              // The commit: without its sidecar the memory no longer exists.
              unlinkSync(contentPath + META_SUFFIX);
            } catch (err) {
              if (errorCode(err) !== 'ENOENT') throw err;
              // Another process deleted it a moment ago.
              gone = true;
            }
            if (!gone) {
              try {
                unlinkSync(contentPath);
              } catch (err) {
                if (errorCode(err) !== 'ENOENT') log.warn("could not remove a deleted memory's content", { code: errorCode(err) });
              }
            }
            const settle = this.settleStep(user, burst);
            dbSpan('sqlite', 'DELETE', 'memories', () =>
              this.db.transaction(() => {
                this.db.removeWhere(user, row.id, row.file);
                settle?.();
              }),
            );
            if (gone) throw notFound(idOrFile);
            const { contentMtimeMs: _c, contentSize: _s, metaMtimeMs: _m, ...summary } = row;
            return summary;
          } finally {
            this.deleting.delete(key);
          }
        }));
      }),
    );
  }

  async health(): Promise<StorageHealth> {
    const problem = await this.problem();
    return problem ? { status: 'degraded', backend: this.backend, problem } : { status: 'ok', backend: this.backend };
  }

  /** Why a store could not succeed now, as one sentence; undefined when it could. */
  private async problem(): Promise<string | undefined> {
    let kind: ReturnType<typeof kindOf>;
    try {
      kind = kindOf(this.dataDir);
    } catch {
      kind = 'other';
    }
    if (kind !== 'dir' && kind !== 'link') {
      return `The data directory ${this.dataDir} ${kind === 'missing' ? 'no longer exists' : 'is not a directory'}: restore it or restart the server with another --data-dir.`;
    }
    try {
      const fs = await statfs(this.dataDir);
      const free = fs.bavail * fs.bsize;
      // Room for the largest memory, its sidecar and the index's share, with margin.
      const needed = 2 * this.maxContentBytes + 1024 * 1024;
      if (free < needed) {
        return (
          `The data directory ${this.dataDir} has ${Math.floor(free / 1024)} KiB free, less than a store may need ` +
          `(${Math.ceil(needed / 1024)} KiB): free some space there or move the data directory (--data-dir).`
        );
      }
      if (fs.ffree === 0 && fs.files > 0) return `The file system of ${this.dataDir} has no free inodes: remove files there or move the data directory.`;
    } catch {
      // statfs is not available everywhere; the write probe below still answers.
    }
    const probe = path.join(this.dataDir, `.memento-health-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      writeNewFile(probe, 'x'.repeat(4096));
    } catch (err) {
      return ioFailure('write to the data directory', err, this.dataDir).message;
    } finally {
      await unlink(probe).catch(() => {});
    }
    if (!this.db.writable()) return `The index database ${this.db.file} cannot be written: check the disk, or remove the file to have it rebuilt.`;
    return undefined;
  }

  async close(): Promise<void> {
    this.closing = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.index?.close();
  }
}
