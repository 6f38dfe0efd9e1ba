/*
 * Scale: one user holding 1k, 10k and 100k memories (seeded through the store API, cached
 * between runs), measured through MCP over Streamable HTTP: listing the newest, listing by
 * tag, ranked search and store, and what loading the user's directory on first use costs in
 * time and server memory.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startChild } from './lib/child.ts';
import { queries, VOCABULARY } from './lib/corpus.ts';
import { callTool, connect } from './lib/mcp.ts';
import { progress } from './lib/progress.ts';
import { ensureSeeded, seededUser } from './lib/seeded.ts';
import { fmt, mib, summarize, table, type Summary } from './lib/stats.ts';
import type { Benchmark, BenchOptions, BenchResult, TargetCheck } from './lib/types.ts';
import { memoryText } from './lib/corpus.ts';

// Issue 11: search p50 ≤ 3 ms at 100k (issue 6 asked ≤ 20 ms there); first call ≤ 200 ms at 100k;
// store p99 ≤ 10 ms. With --million a user with 1,000,000 memories is measured too, and reported:
// the targets stay at 100k.
const TARGET_SIZE = 100_000;
const TARGET_SEARCH_P50: Record<number, number> = { 10_000: 3, 100_000: 3 };
const TARGET_FIRST_CALL_MS = 200;
const TARGET_STORE_P99_MS = 10;
type Op = 'retrieve' | 'retrieve by tag' | 'search' | 'store';
const OPS: Op[] = ['retrieve', 'retrieve by tag', 'search', 'store'];

function structured<T>(r: CallToolResult): T {
  return r.structuredContent as T;
}

/** What one server process on one data directory measured, for each of its sizes. */
interface Measured {
  rows: string[][];
  loadRows: string[][];
  stats: Map<string, Summary>;
  firstCallMs: Map<number, number>;
  data: Record<string, unknown>;
  startupPassMs: number;
}

/**
 * One fresh server process on `dataDir`: the first call for each size (during its start-up
 * pass), then, once that pass is over, `samples` calls of each kind per size.
 */
async function measure(dataDir: string, sizes: number[], samples: number): Promise<Measured> {
  const server = await startChild<{ url: string }>('memento-server.ts', { args: [dataDir], execArgv: ['--expose-gc'] });
  try {
    const client = await connect({ kind: 'http', url: server.ready.url });
    const words = queries(samples, 41);
    const out: Measured = { rows: [], loadRows: [], stats: new Map(), firstCallMs: new Map(), data: {}, startupPassMs: 0 };
    const { rows, loadRows, stats, firstCallMs, data } = out;
    try {
      let before = (await server.call<{ heapUsed: number; rss: number }>('memory', { gc: true }));
      for (const size of sizes) {
        const user = seededUser(size);
        progress(`scale: ${size.toLocaleString('en-US')} memories: first call`);
        const t0 = performance.now();
        const held = structured<{ total: number }>(await callTool(client, 'retrieve_memories', { limit: 1 }, user)).total;
        const loadMs = performance.now() - t0;
        firstCallMs.set(size, loadMs);
        const after = await server.call<{ heapUsed: number; rss: number }>('memory', { gc: true });
        loadRows.push([size.toLocaleString('en-US'), held.toLocaleString('en-US'), fmt(loadMs), mib(after.heapUsed - before.heapUsed), fmt((after.heapUsed - before.heapUsed) / held), mib(after.rss)]);
        before = after;
        data[size] = { held, loadMs, memory: after };
      }
      // Steady state: the samples start once the start-up pass over every user directory (9 s
      // for these 111k memories here, in the background) is over; the first calls above ran
      // while it did.
      progress('scale: waiting for the server\'s start-up pass over the user directories to finish');
      const passFrom = performance.now();
      await server.call('storageStarted');
      out.startupPassMs = performance.now() - passFrom;
      for (const size of sizes) {
        const user = seededUser(size);
        progress(`scale: ${size.toLocaleString('en-US')} memories: ${samples} calls of each kind`);
        const times = new Map<Op, number[]>(OPS.map((o) => [o, []]));
        const ids: string[] = [];
        let matched = 0;
        let tagged = 0;
        try {
          for (let i = 0; i < samples; i++) {
            // One call of each kind in turn, so every kind sees the same conditions.
            for (const op of OPS) {
              const t = performance.now();
              if (op === 'retrieve') await callTool(client, 'retrieve_memories', {}, user);
              else if (op === 'retrieve by tag') tagged += structured<{ total: number }>(await callTool(client, 'retrieve_memories', { tag: VOCABULARY[i % 8] }, user)).total;
              else if (op === 'search') matched += structured<{ total: number }>(await callTool(client, 'search_memories', { query: words[i]! }, user)).total;
              else {
                const m = memoryText(2_000_000 + i, 43);
                ids.push(structured<{ id: string }>(await callTool(client, 'store_memory', { content: m.content, description: m.description, tags: m.tags }, user)).id);
              }
              times.get(op)!.push(performance.now() - t);
            }
          }
        } finally {
          // The seeded stores are shared between runs: leave them as they were.
          for (const id of ids) await callTool(client, 'delete_memory', { id }, user).catch(() => {});
        }
        const perOp: Record<string, Summary> = {};
        for (const op of OPS) {
          const s = summarize(times.get(op)!);
          perOp[op] = s;
          stats.set(`${size}/${op}`, s);
        }
        data[size] = { ...(data[size] as object), perOp, matchedPerSearch: matched / samples, perTag: tagged / samples };
        rows.push([
          size.toLocaleString('en-US'),
          ...OPS.flatMap((op) => [fmt(perOp[op]!.p50), fmt(perOp[op]!.p99)]),
          `${fmt(matched / samples)} matched per search, ${fmt(tagged / samples)} per tag`,
        ]);
      }
    } finally {
      await client.close();
    }
    return out;
  } finally {
    await server.stop();
  }
}

async function run(options: BenchOptions): Promise<BenchResult> {
  const base = options.quick ? [1_000, 10_000] : [1_000, 10_000, 100_000];
  const samples = options.quick ? 60 : 200;
  const dataDir = await ensureSeeded(options.cacheDir, base, options.freshSeed);
  // The million lives in a data directory of its own: in the shared one, every run's server
  // would spend its start-up pass (~90 s) and its page cache on it before measuring the rest.
  const millionDir = !options.quick && options.million ? await ensureSeeded(options.cacheDir, [1_000_000], options.freshSeed, 'million') : undefined;
  const sizes = millionDir ? [...base, 1_000_000] : base;
  const parts = [await measure(dataDir, base, samples)];
  if (millionDir) parts.push(await measure(millionDir, [1_000_000], samples));
  const rows = parts.flatMap((m) => m.rows);
  const loadRows = parts.flatMap((m) => m.loadRows);
  const stats = new Map(parts.flatMap((m) => [...m.stats]));
  const firstCallMs = new Map(parts.flatMap((m) => [...m.firstCallMs]));
  const data: Record<string, unknown> = Object.assign({}, ...parts.map((m) => m.data));
  const passes = parts.map((m) => `${fmt(m.startupPassMs / 1000)} s`).join(millionDir ? ' (the 1,000,000 in its own data directory and server: ' : '');
  const targets: TargetCheck[] = sizes
    .filter((s) => TARGET_SEARCH_P50[s] !== undefined)
    .map((s) => ({
      what: `search_memories p50 at ${s.toLocaleString('en-US')} (Streamable HTTP)`,
      target: `≤ ${TARGET_SEARCH_P50[s]} ms`,
      measured: `${fmt(stats.get(`${s}/search`)!.p50)} ms`,
      met: stats.get(`${s}/search`)!.p50 <= TARGET_SEARCH_P50[s]!,
    }));
  const largest = sizes.includes(TARGET_SIZE) ? TARGET_SIZE : sizes.at(-1)!;
  targets.push(
    {
      what: `first call for a user with ${largest.toLocaleString('en-US')} memories (Streamable HTTP)`,
      target: `≤ ${TARGET_FIRST_CALL_MS} ms`,
      measured: `${fmt(firstCallMs.get(largest)!)} ms`,
      met: firstCallMs.get(largest)! <= TARGET_FIRST_CALL_MS,
    },
    {
      what: `store_memory p99 at ${largest.toLocaleString('en-US')} (Streamable HTTP)`,
      target: `≤ ${TARGET_STORE_P99_MS} ms`,
      measured: `${fmt(stats.get(`${largest}/store`)!.p99)} ms`,
      met: stats.get(`${largest}/store`)!.p99 <= TARGET_STORE_P99_MS,
    },
  );
  const first = stats.get(`${sizes[0]}/store`)!.p50;
  const last = stats.get(`${largest}/store`)!.p50;
  targets.push({
    what: `store_memory p50 from ${sizes[0]!.toLocaleString('en-US')} to ${largest.toLocaleString('en-US')} (Streamable HTTP)`,
    target: 'flat (≤ 1.5×)',
    measured: `${fmt(first)} → ${fmt(last)} ms (${(last / first).toFixed(2)}×)`,
    met: last / first <= 1.5,
  });
  const body = [
    table(
      ['memories', 'retrieve p50', 'retrieve p99', 'by tag p50', 'by tag p99', 'search p50', 'search p99', 'store p50', 'store p99', 'notes'],
      rows,
    ),
    '',
    'All times in ms, client-side, one call at a time. retrieve = `retrieve_memories` (newest 20); by tag = `retrieve_memories` with one of the 8 corpus tags (newest 20 of them); search = `search_memories` with a two-word query (best 10); store = `store_memory` (deleted again afterwards).',
    '',
    table(['memories', 'held (server’s count)', 'first call (ms)', 'server heap added (after GC)', 'bytes per memory', 'server RSS afterwards'], loadRows),
    '',
    `First calls were made right after the server started, while its start-up pass over every user directory ran in the background; the pass ended ${passes}${millionDir ? ')' : ''} after the last of them, and the timed calls above started then.`,
  ].join('\n');
  return {
    title: `Scale: one user with ${sizes.map((s) => (s >= 1_000_000 ? `${s / 1_000_000}M` : `${s / 1000}k`)).join(', ')} memories`,
    method:
      'One Memento server process (`startHttpServer`, untraced, `--expose-gc` so heap figures are after a full GC) on the cached seeded stores; one SDK client over Streamable HTTP in the coordinator. ' +
      'The seeded users were written through the embedded backend (`EmbeddedStorage.store`: files plus the SQLite index) in a separate process (`bench/procs/seed.ts`); the measured server is a fresh process on that data directory, like any restarted server, and its start-up pass over every user directory runs in the background: the first calls are made during it, the timed calls after it.',
    body,
    targets,
    data,
  };
}

export const scale: Benchmark = {
  name: 'scale',
  createsFiles: true,
  summary: 'retrieve / search / store latency for one user holding 1k, 10k and 100k memories (and 1M with --million)',
  run,
};
