/*
 * Giving memory back after a flood of sessions. Sessions that expire leave no live objects
 * behind, but V8 keeps the pages they lived in pooled for reuse, so a server that once held
 * thousands of sessions keeps the RSS it had at the peak (~100 MiB more after 20,000; issue
 * 10.1). A "last resort" collection — the one V8 runs under memory pressure — also returns
 * pooled pages to the OS. It is only reachable through the `gc` function, which bin/memento
 * exposes for `serve` (--expose-gc); in-process servers (tests) simply skip it.
 */
import { log } from '../../log.ts';

/** At most one release in this long: a last-resort collection runs several full GCs. */
const MIN_INTERVAL_MS = 10_000;
/** Sessions ended since the last release that make one worthwhile. */
const WORTH_IT = 1000;

type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

export class MemoryReleaser {
  private ended = 0;
  private last = 0;
  private timer: NodeJS.Timeout | undefined;

  /** Notes `count` sessions ended; `remaining` sessions live. Releases when a flood has drained. */
  sessionsEnded(count: number, remaining: number): void {
    this.ended += count;
    if (this.ended === 0 || (this.ended < WORTH_IT && remaining > 0) || this.timer) return;
    const wait = Math.max(0, this.last + MIN_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => this.release(), wait);
    this.timer.unref();
  }

  private release(): void {
    this.timer = undefined;
    const gc = (globalThis as { gc?: GcFunction }).gc;
    if (typeof gc !== 'function') return;
    const ended = this.ended;
    this.ended = 0;
    this.last = Date.now();
    const before = process.memoryUsage.rss();
    try {
      gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    } catch {
      return;
    }
    log.debug('returned memory after sessions ended', { sessions: ended, rssMiB: Math.round(before / 2 ** 20), afterMiB: Math.round(process.memoryUsage.rss() / 2 ** 20) });
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}
