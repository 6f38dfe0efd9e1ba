/*
 * WAL checkpoints off the event loop. node:sqlite is synchronous, and SQLite's automatic
 * checkpoint runs inside the COMMIT that crosses 1,000 WAL pages: it copies every page back
 * into the database file and fsyncs it, blocking the loop for every request in progress.
 * Measured on the store path (8 concurrent stores, 64 users; each store's FTS5 insert writes
 * ~20 pages, so one in ~50 commits checkpointed): write transactions' p99 8.5 ms and max 58–82 ms
 * with automatic checkpoints, 1.9–4.4 ms and 6–11 ms without.
 *
 * So a worker thread, with a connection of its own to the same file, runs PASSIVE checkpoints
 * (they neither wait for nor block readers and writers) after every CHECKPOINT_EVERY commits,
 * and once caught up past RESTART_PAGES a RESTART so that the next write starts the WAL over
 * (the file stays ~5 MB, as with SQLite's own rhythm). The index's connection keeps an automatic
 * checkpoint only as a backstop at 10,000 pages (sqlite-index.ts), and gets the usual 1,000 back
 * if the worker fails. The worker starts at the first nudge: a store that only ever sees a few
 * writes never starts one. Measured with the same 1,500 stores, alternating, load average 15:
 * transactions' mean 0.43–0.57 → 0.29–0.43 ms, p99 8.4–10.2 → 1.6–6.1 ms.
 */
import { Worker } from 'node:worker_threads';
import { log } from '../../log.ts';

/** Commits between checkpoints: well under SQLite's 1,000-page default at ~20 pages a store. */
export const CHECKPOINT_EVERY = 32;
/** WAL pages past which a caught-up checkpoint also restarts the WAL (~SQLite's own 1,000-page rhythm). */
const RESTART_PAGES = 1000;

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
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
    // are the next nudge's. Caught up and grown past RESTART_PAGES, a RESTART makes the next
    // write start the WAL over (a PASSIVE one alone rarely finds the moment under steady writes);
    // having nothing left to copy, it holds writers back only briefly.
    const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
    let r;
    for (let i = 0; i < 8; i++) {
      r = passive.get();
      if (!r || r.busy || r.log <= r.checkpointed) break;
    }
    if (r && !r.busy && r.log >= workerData.restartPages && r.log <= r.checkpointed) db.prepare('PRAGMA wal_checkpoint(RESTART)').get();
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

  constructor(file: string, fallBack: () => void) {
    this.file = file;
    this.fallBack = fallBack;
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
    const worker = new Worker(WORKER, { eval: true, workerData: { file: this.file, restartPages: RESTART_PAGES } });
    worker.unref();
    worker.on('message', (m: unknown) => {
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
