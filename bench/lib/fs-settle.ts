/*
 * What a file creation costs on the benchmarks' file system, and waiting until that is back to
 * normal. On ext4 without a journal (this machine's root file system), the inode allocator
 * skips every inode freed in the last 60 s — 360 s while its inode-table block is still dirty —
 * looking each one up before it hands out a new one (`perf`: recently_deleted() under
 * find_inode_bit()). For up to six minutes after a benchmark run removes its scratch
 * directories, or a test suite its temporary ones, creating a file took 0.2–0.85 ms instead of
 * ~0.02 ms, and a store creates two: a store's latency then measured the previous run's
 * cleanup. So the benchmarks whose figures include file creation wait until a probe's
 * creations are back to normal, and every benchmark's report says what one cost when it began.
 *
 * The probe's files are kept (deleting them would start the clock again) in one directory that
 * bench/run.ts removes with the scratch directories, after the last benchmark.
 */
import { closeSync, constants, mkdtempSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { progress } from './progress.ts';

/** A creation at or under this p50 counts as normal (0.014–0.027 ms measured when settled, 0.07–0.85 ms after deletes). */
export const SETTLED_MS = 0.05;
/** The longest wait: the kernel's own limit (360 s) and a margin. */
const MAX_WAIT_MS = 420_000;
const PROBE_EVERY_MS = 10_000;
/** Files created per probe. */
const PROBE_FILES = 100;

export interface FsState {
  /** p50 of one file creation (open with O_CREAT | O_EXCL, then close), ms, when the benchmark began. */
  createP50Ms: number;
  /** Seconds waited for it to come down to SETTLED_MS. */
  waitedS: number;
  settled: boolean;
}

/** The p50 of PROBE_FILES creations in a new directory under `root` (files kept). */
export function probeCreate(root: string): number {
  const dir = mkdtempSync(join(root, 'p-'));
  const times: number[] = [];
  for (let i = 0; i < PROBE_FILES; i++) {
    const t0 = performance.now();
    const fd = openSync(join(dir, `f${i}`), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    times.push(performance.now() - t0);
    closeSync(fd);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

/**
 * Probes file creation under `root`; unless `wait` is false, probes again every 10 s (with
 * progress) until it is at SETTLED_MS or under, for at most seven minutes.
 */
export async function settleFileSystem(root: string, wait: boolean, label: string): Promise<FsState> {
  const t0 = performance.now();
  let p50 = probeCreate(root);
  while (wait && p50 > SETTLED_MS && performance.now() - t0 < MAX_WAIT_MS) {
    progress(
      `${label}: a file creation takes ${p50.toFixed(3)} ms (recent deletes: this file system checks every inode freed in the ` +
        `last minutes before it hands one out); waiting for it to come down to ${SETTLED_MS} ms (${((performance.now() - t0) / 1000).toFixed(0)} s so far)`,
    );
    await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
    p50 = probeCreate(root);
  }
  return { createP50Ms: p50, waitedS: (performance.now() - t0) / 1000, settled: p50 <= SETTLED_MS };
}

/** One line for the report. */
export function describeFsState(s: FsState): string {
  const waited = s.waitedS >= 1 ? `, after waiting ${s.waitedS.toFixed(0)} s for recent deletes to age out` : '';
  const warning = s.settled ? '' : ` — **over ${SETTLED_MS} ms: file creation was slowed by recent deletes, and so is every figure that creates files**`;
  return `File creation when it began: p50 ${s.createP50Ms.toFixed(3)} ms${waited}${warning}.`;
}
