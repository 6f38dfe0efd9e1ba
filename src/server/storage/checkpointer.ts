/*
 * WAL checkpoints off the event loop. node:sqlite is synchronous, and SQLite's automatic
 * checkpoint runs inside the COMMIT that crosses 1,000 WAL pages: it copies every page back
 * into the database file and fsyncs it, blocking the loop for every request in progress.
 * Measured on the store path (8 concurrent stores, 64 users; each store's FTS5 insert writes
 * ~20 pages, so one in ~50 commits checkpointed): write transactions' p99 8.5 ms and max 58–82 ms
 * with automatic checkpoints, 1.9–4.4 ms and 6–11 ms without.
 *
 * So a worker thread, with a connection of its own to the same file, runs PASSIVE checkpoints
 * (they neither wait for nor block readers and writers) after every CHECKPOINT_EVERY commits.
 * Under steady writes that alone never lets the WAL start over: the next write restarts it only
 * if, at that moment, every frame has been copied back and no reader is in it. So once the
 * worker has copied (nearly) all of a WAL grown past RESTART_PAGES, it flushes the database
 * file (fdatasync: SQLite syncs it only when a checkpoint round ends at the WAL's end, which
 * under steady writes it seldom does) and asks the index's own connection for a RESTART
 * (SqliteIndex.restartWal). That copies only the frames of the commits since, syncs a few pages
 * (~1 ms at 100,000 memories; 12–18 ms without the worker's flush), and never waits: with a busy
 * timeout of 0, a checkpoint running in the worker, or a reader or writer in another process,
 * only means "next time". The worker used to run the RESTART itself. It held the write lock
 * through the copy and the sync, and the store that came meanwhile slept in SQLite's busy
 * handler (1 + 2 + 5 + 10 ms steps) with the event loop blocked: 16–20 ms about once every 130
 * stores at 100,000 memories, the store p99. Measured in-process on the seeded 100,000-memory
 * user, the event loop turning between stores (1,000 stores): worst store 19–57 ms before,
 * 5.4 ms after (one of 1,000 at 28 ms), p99 2.7–3.0 ms. The index's connection keeps an
 * automatic checkpoint only as a backstop at 10,000 pages (sqlite-index.ts), and gets the usual
 * 1,000 back if the worker fails. The worker starts at the first nudge: a store that only ever
 * sees a few writes never starts one. Measured with the same 1,500 stores, alternating, load average 15:
 * transactions' mean 0.43–0.57 → 0.29–0.43 ms, p99 8.4–10.2 → 1.6–6.1 ms.
 */
import { closeSync, constants, lstatSync, openSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { log } from '../../log.ts';

/** Commits between checkpoints: well under SQLite's 1,000-page default at ~20 pages a store. */
export const CHECKPOINT_EVERY = 32;
/** WAL pages past which the WAL is started over once copied back (~SQLite's own 1,000-page rhythm). */
const RESTART_PAGES = 1000;
/** Frames the worker may leave for the index's connection to copy in its RESTART (a few commits' worth). */
const RESTART_LEFT_PAGES = 128;

/**
 * Descriptors of index files for the worker's fdatasync, one per file (device and inode: an index
 * rebuilt after corruption is a new file at the same path) and process, closed only when the
 * last connection of this process to the file has closed. Closing any descriptor of a file drops
 * every POSIX lock this process holds on it, SQLite's included (its "how to corrupt" page, 2.2),
 * so none may be closed while a connection could hold one.
 */
const syncFds = new Map<string, { fd: number | undefined; users: number }>();

/** Takes a use of this process's descriptor of `file`; the key to give back with releaseSyncFd. */
function acquireSyncFd(file: string): { key: string; fd: number | undefined } | undefined {
  const info = lstatSync(file, { throwIfNoEntry: false });
  if (!info?.isFile()) return undefined;
  const key = `${info.dev}:${info.ino}`;
  let entry = syncFds.get(key);
  if (!entry) {
    let fd: number | undefined;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      fd = undefined;
    }
    syncFds.set(key, (entry = { fd, users: 0 }));
  }
  entry.users++;
  return { key, fd: entry.fd };
}

function releaseSyncFd(key: string): void {
  const entry = syncFds.get(key);
  if (!entry || --entry.users > 0) return;
  syncFds.delete(key);
  if (entry.fd !== undefined) closeSync(entry.fd);
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const { fdatasyncSync } = require('node:fs');
const db = new DatabaseSync(workerData.file, { timeout: 15000 });
db.exec('PRAGMA wal_autocheckpoint = 0');
parentPort.on('message', (m) => {
  if (m === 'close') {
    db.close();
    parentPort.postMessage('closed');
    parentPort.close();
    return;
  }
  try {
    // Until the copy has caught up with the WAL, a few rounds at most: writes that keep coming
    // are the next nudge's. Grown past restartPages with (nearly) everything copied, the index's
    // own connection is asked for the RESTART that lets the next write start the WAL over.
    const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
    let r;
    for (let i = 0; i < 8; i++) {
      r = passive.get();
      if (!r || r.busy || r.log <= r.checkpointed) break;
    }
    if (r && !r.busy && r.log >= workerData.restartPages && r.log - r.checkpointed <= workerData.leftPages) {
      // SQLite syncs the database file only when a checkpoint round ends at the WAL's end, which
      // under steady writes it seldom does: the RESTART would flush all that was copied (12-18 ms
      // at 100,000 memories). Flushed here, the RESTART's own sync finds a few pages (~1 ms).
      if (workerData.fd !== undefined) {
        try {
          fdatasyncSync(workerData.fd);
        } catch {
          // Not allowed on this platform: the RESTART syncs it all then.
        }
      }
      parentPort.postMessage('restart');
    }
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
});
`;

export class Checkpointer {
  private worker: Worker | undefined;
  private failed = false;
  private commits = 0;
  private readonly file: string;
  /** Called when checkpoints cannot run in the worker: the connection must do them itself again. */
  private readonly fallBack: () => void;
  /** Runs the RESTART on the index's own connection, without waiting (see the header). */
  private readonly restart: () => void;
  /** This process's descriptor of the index file, for the worker's fdatasync (acquireSyncFd). */
  private readonly sync: { key: string; fd: number | undefined } | undefined;
  private released = false;

  constructor(file: string, fallBack: () => void, restart: () => void) {
    this.file = file;
    this.fallBack = fallBack;
    this.restart = restart;
    this.sync = acquireSyncFd(file);
  }

  /** After each write transaction's COMMIT. */
  committed(): void {
    if (++this.commits < CHECKPOINT_EVERY || this.failed) return;
    this.commits = 0;
    try {
      this.start().postMessage('checkpoint');
    } catch (err) {
      this.fail(err);
    }
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER, { eval: true, workerData: { file: this.file, fd: this.sync?.fd, restartPages: RESTART_PAGES, leftPages: RESTART_LEFT_PAGES } });
    worker.unref();
    worker.on('message', (m: unknown) => {
      if (m === 'restart' && this.worker === worker) {
        try {
          this.restart();
        } catch (err) {
          log.debug('a WAL restart failed; the next one retries', { error: err instanceof Error ? err.message : String(err) });
        }
        return;
      }
      if (m && typeof m === 'object' && 'error' in m) log.debug('a WAL checkpoint failed; the next one retries', { error: String((m as { error: unknown }).error) });
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined;
    });
    return (this.worker = worker);
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    log.warn('WAL checkpoints go back into the index connection: the checkpoint thread failed', { error: err instanceof Error ? err.message : String(err) });
    void this.worker?.terminate();
    this.worker = undefined;
    try {
      this.fallBack();
    } catch {
      // The connection is gone too: nothing left to checkpoint for.
    }
  }

  /** After the index's own connection has closed: gives back this process's descriptor of the file. */
  release(): void {
    if (this.released || !this.sync) return;
    this.released = true;
    releaseSyncFd(this.sync.key);
  }

  /** Closes the worker's connection (so the index's own close is the last and cleans up the WAL as before). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    // Held open until it has closed its connection, even when nothing else keeps the process alive.
    worker.ref();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void worker.terminate().finally(resolve), 5000);
      timer.unref();
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.once('message', (m: unknown) => {
        if (m === 'closed') void worker.terminate();
      });
      worker.postMessage('close');
    });
  }
}
