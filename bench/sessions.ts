/*
 * Sessions: a flood of initialize-only Streamable HTTP sessions (issue 10.1). First 20,000 are
 * opened on a server whose cap admits them all and left to expire, and its RSS after expiry is
 * compared with where it started; then a server with the default cap (--max-sessions 1000) is
 * sent more than it holds and must refuse the rest with 503 + Retry-After.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import { startChild, type Child } from './lib/child.ts';
import { progress } from './lib/progress.ts';
import { fmt, mib, table } from './lib/stats.ts';
import type { Benchmark, BenchOptions, BenchResult } from './lib/types.ts';

interface Mem {
  rss: number;
  heapUsed: number;
}

/** The target: RSS after every session expired, at most this far above where it started. */
const RSS_RETURN_LIMIT = 64 * 1024 * 1024;
const DEFAULT_CAP = 1000;
const CONCURRENCY = 32;
/**
 * More V8 flags for the measured server (it always has --expose-gc, as bin/memento gives
 * `memento serve`, which lets it return memory after a flood): BENCH_V8_FLAGS.
 */
const V8_FLAGS: string[] = (process.env.BENCH_V8_FLAGS ?? '').split(' ').filter(Boolean);

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'flood', version: '1' } },
});

/**
 * Sends `count` initialize-only requests (as the attack did) and counts answers by status; with
 * `untilOpened`, keeps going (a short pause after each 503) until `count` sessions were opened.
 */
async function flood(url: string, count: number, label: string, untilOpened = false): Promise<{ statuses: Record<string, number>; retryAfter: Set<string>; seconds: number }> {
  const dispatcher = new Agent({ connections: CONCURRENCY, pipelining: 1 });
  const statuses: Record<string, number> = {};
  const retryAfter = new Set<string>();
  let next = 0;
  const t0 = performance.now();
  let opened = 0;
  const worker = async () => {
    while (untilOpened ? opened < count : next < count) {
      const n = next++;
      const response = await fetch(`${url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: INITIALIZE,
        dispatcher,
      });
      await response.arrayBuffer();
      statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      if (response.status === 200) opened++;
      else if (untilOpened) await new Promise((r) => setTimeout(r, 100));
      const retry = response.headers.get('retry-after');
      if (retry) retryAfter.add(retry);
      if ((n + 1) % 5000 === 0) progress(`sessions: ${label}: ${(n + 1).toLocaleString('en-US')} initialize requests sent`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await dispatcher.close();
  return { statuses, retryAfter, seconds: (performance.now() - t0) / 1000 };
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

async function run(options: BenchOptions): Promise<BenchResult> {
  const count = options.quick ? 5000 : 20_000;
  const idleS = 5;
  const children: Child[] = [];
  try {
    const dir = join(options.workDir, 'data');
    await mkdir(dir, { recursive: true });
    // Part 1: the default cap and a short idle timeout; sessions opened until 20,000 were.
    const server = await startChild<{ url: string }>('memento-server.ts', {
      args: [dir, '0', JSON.stringify({ sessionIdleTimeoutMs: idleS * 1000 })],
      execArgv: ['--expose-gc', ...V8_FLAGS],
    });
    children.push(server);
    const memory = (gc: boolean) => server.call<Mem>('memory', { gc });
    const sessions = () => server.call<number>('sessions');
    const expire = async () => until(async () => (await sessions()) === 0, (idleS * 3 + 120) * 1000);
    // Warm-up: code paths compiled, pools and caches filled, then expired.
    await flood(server.ready.url, 1000, 'warm-up');
    await expire();
    const start = await memory(true);
    progress(`sessions: opening ${count.toLocaleString('en-US')} sessions (RSS at start ${mib(start.rss)})`);
    let held = 0;
    let peak: Mem = start;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [n, m] = await Promise.all([sessions(), memory(false)]);
        held = Math.max(held, n);
        if (m.rss > peak.rss) peak = m;
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const opened = await flood(server.ready.url, count, 'open', true);
    sampling = false;
    await sampler;
    const peakAfterGc = await memory(true);
    progress(`sessions: ${count} opened (at most ${held} at once), peak RSS ${mib(peak.rss)}; waiting for them to expire`);
    const t0 = performance.now();
    const expired = await expire();
    const expirySeconds = (performance.now() - t0) / 1000;
    const after = await memory(true);
    await server.stop();
    children.length = 0;

    // Part 2: the default cap, sent half as many again as it holds.
    const capped = await startChild<{ url: string }>('memento-server.ts', { args: [join(options.workDir, 'data'), '0'], execArgv: ['--expose-gc', ...V8_FLAGS] });
    children.push(capped);
    const over = Math.round(DEFAULT_CAP * 1.5);
    progress(`sessions: ${over} sessions against the default cap of ${DEFAULT_CAP}`);
    const cappedFlood = await flood(capped.ready.url, over, 'past the cap');
    const cappedHeld = await capped.call<number>('sessions');
    const cappedMem = await capped.call<Mem>('memory', { gc: true });
    const emptyMem = await (async () => {
      const fresh = await startChild<{ url: string }>('memento-server.ts', { args: [join(options.workDir, 'data'), '0'], execArgv: ['--expose-gc', ...V8_FLAGS] });
      children.push(fresh);
      await flood(fresh.ready.url, 1, 'one session');
      return fresh.call<Mem>('memory', { gc: true });
    })();
    const perSessionHeap = (cappedMem.heapUsed - emptyMem.heapUsed) / Math.max(1, cappedHeld - 1);
    const perSessionRss = (cappedMem.rss - emptyMem.rss) / Math.max(1, cappedHeld - 1);

    const returned = after.rss - start.rss;
    // Per session: measured on the capped server below, full of idle sessions.
    const body = [
      table(
        ['moment', 'sessions held', 'RSS', 'heap used'],
        [
          ['start (after a 1,000-session warm-up, expired; after GC)', '0', mib(start.rss), mib(start.heapUsed)],
          [`peak while opening ${count.toLocaleString('en-US')} sessions (${fmt(opened.seconds)} s; answers ${JSON.stringify(opened.statuses)})`, `≤ ${held}`, mib(peak.rss), mib(peak.heapUsed)],
          ['right after the last one, after GC', '', mib(peakAfterGc.rss), mib(peakAfterGc.heapUsed)],
          [`all expired (${fmt(expirySeconds)} s later; after GC)`, expired ? '0' : 'not all', mib(after.rss), mib(after.heapUsed)],
        ],
      ),
      '',
      table(
        ['figure', 'value'],
        [
          ['per open session', `${fmt(perSessionHeap / 1024)} KiB heap, ${fmt(perSessionRss / 1024)} KiB RSS`],
          ['RSS after expiry − at start', mib(returned)],
          [`default cap: ${over.toLocaleString('en-US')} initialize requests`, `${cappedHeld} sessions held; answers ${JSON.stringify(cappedFlood.statuses)}; Retry-After ${[...cappedFlood.retryAfter].join(', ') || 'none'} s`],
          ['default cap: RSS with it full (after GC)', mib(cappedMem.rss)],
        ],
      ),
    ].join('\n');
    const refused = cappedFlood.statuses['503'] ?? 0;
    return {
      title: 'Sessions: a flood of initialize-only sessions, the cap, and memory after expiry',
      method:
        `One untraced Memento server process (\`startHttpServer\`, \`${['--expose-gc', ...V8_FLAGS].join(' ')}\`, as \`memento serve\` runs), default cap (${DEFAULT_CAP} sessions) and a ${idleS} s idle timeout. ` +
        `Part 1: the coordinator opens Streamable HTTP sessions with \`initialize\` only (${CONCURRENCY} at a time, as the attack did; 100 ms pause after a 503) until ${count.toLocaleString('en-US')} were opened, ` +
        'then waits until the server holds none; RSS and heap are read over IPC after a forced full GC (start: after a 1,000-session warm-up, expired). ' +
        `Part 2: a fresh server is sent ${over.toLocaleString('en-US')} initialize requests back to back; the memory per session compares it, full, with a server holding one.`,
      body,
      targets: [
        { what: `RSS after ${count.toLocaleString('en-US')} sessions expired`, target: `within ${mib(RSS_RETURN_LIMIT)} of the start`, measured: `${mib(returned)} above (${mib(start.rss)} → ${mib(after.rss)})`, met: expired && returned <= RSS_RETURN_LIMIT },
        { what: 'memory per open session', target: 'reported', measured: `${fmt(perSessionHeap / 1024)} KiB heap, ${fmt(perSessionRss / 1024)} KiB RSS`, met: undefined },
        { what: `default cap (${DEFAULT_CAP}) under ${over.toLocaleString('en-US')} initializes`, target: `holds ≤ ${DEFAULT_CAP}, the rest 503 + Retry-After`, measured: `holds ${cappedHeld}, ${refused} refused`, met: cappedHeld <= DEFAULT_CAP && refused === over - DEFAULT_CAP && cappedFlood.retryAfter.size > 0 },
      ],
      data: { count, start, peak, peakAfterGc, after, held, expired, expirySeconds, opened: { ...opened, retryAfter: [...opened.retryAfter] }, capped: { held: cappedHeld, statuses: cappedFlood.statuses, retryAfter: [...cappedFlood.retryAfter], rss: cappedMem.rss } },
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

export const sessions: Benchmark = {
  name: 'sessions',
  summary: 'open and expire 20k initialize-only sessions (RSS back within 64 MiB), and the session cap',
  run,
};
