/*
 * Side by side with the official @modelcontextprotocol/server-memory, both over stdio, same
 * client, same run: create_entities vs store_memory and search_nodes vs search_memories at
 * growing sizes, calls interleaved one by one; then 20 concurrent creates on one connection
 * and how many of them are still there afterwards.
 *
 * server-memory keeps one JSONL file that it reads whole for every call and rewrites whole for
 * every create, so its file is seeded by writing that file directly; Memento's stores come from
 * the cached seeded stores (lib/seeded.ts).
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { cleanEnv } from './lib/child.ts';
import { memoryText, singleWordQueries } from './lib/corpus.ts';
import { callTool, connect, mementoStdio, serverMemoryStdio } from './lib/mcp.ts';
import { progress } from './lib/progress.ts';
import { ensureSeeded, seededUser } from './lib/seeded.ts';
import { fmt, summarize, table, type Summary } from './lib/stats.ts';
import type { Benchmark, BenchOptions, BenchResult, TargetCheck } from './lib/types.ts';

const SM_MAX_MESSAGE = 512 * 1024 * 1024;
const ALONE_SAMPLES = 100;
const TARGET_SEARCH_P50: Record<number, number> = { 10_000: 3, 100_000: 20 };
/** Store cost counts as flat while its p50 at the largest size is within this of the p50 at 0. */
const FLAT_FACTOR = 1.5;

function entityLine(i: number): string {
  const m = memoryText(i);
  return JSON.stringify({ type: 'entity', name: `entity-${i}`, entityType: 'note', observations: [m.content] });
}

async function serverMemoryFile(dir: string, size: number): Promise<string> {
  const file = join(dir, `memory-${size}.jsonl`);
  const lines: string[] = [];
  for (let i = 0; i < size; i++) lines.push(entityLine(i));
  await writeFile(file, lines.length ? `${lines.join('\n')}\n` : '');
  return file;
}

function structured<T>(result: CallToolResult): T {
  if (result.structuredContent) return result.structuredContent as T;
  const text = result.content?.find((c) => c.type === 'text');
  return JSON.parse(text && 'text' in text ? text.text : '{}') as T;
}

async function run(options: BenchOptions): Promise<BenchResult> {
  const sizes = options.quick ? [0, 1_000, 10_000] : [0, 1_000, 10_000, 100_000];
  // server-memory at 100k entities takes a large fraction of a second per call.
  const samplesAt = (size: number) => (options.quick ? (size >= 10_000 ? 10 : 30) : size >= 100_000 ? 15 : size >= 10_000 ? 40 : 100);
  const dataDir = await ensureSeeded(options.cacheDir, sizes, options.freshSeed);
  const smDir = join(options.workDir, 'server-memory');
  await mkdir(smDir, { recursive: true });
  const queries = singleWordQueries(200);

  progress('side-by-side: starting Memento over stdio (untraced) on the seeded stores');
  const memento = await connect({ kind: 'stdio', server: mementoStdio(dataDir, cleanEnv()) });
  const rows: string[][] = [];
  const data: Record<string, unknown> = {};
  const stats = new Map<string, Summary>();
  let created = 0;
  try {
    for (const size of sizes) {
      const user = size === 0 ? `side-empty-${process.pid}` : seededUser(size);
      const n = samplesAt(size);
      progress(`side-by-side: ${size.toLocaleString('en-US')} memories / entities, ${n} calls of each kind`);
      const file = await serverMemoryFile(smDir, size);
      // search_nodes returns every entity that contains the query; at 100k entities one answer
      // passes the SDK client's default 10 MiB message limit, and that client then drops the
      // connection. The limit is raised so the call can be timed; the report says so.
      const sm = await connect({ kind: 'stdio', server: serverMemoryStdio(file, cleanEnv(), SM_MAX_MESSAGE) });
      const ids: string[] = [];
      try {
        // First calls: Memento loads the user's directory, server-memory reads its file.
        const t0 = performance.now();
        const held = structured<{ total: number }>(await callTool(memento, 'retrieve_memories', { limit: 1 }, user)).total;
        const mementoFirst = performance.now() - t0;
        const t1 = performance.now();
        await callTool(sm, 'search_nodes', { query: 'zzzz' });
        const smFirst = performance.now() - t1;
        const times = { create: [] as number[], store: [] as number[], searchNodes: [] as number[], searchMemories: [] as number[] };
        let smHits = 0;
        let smBytes = 0;
        let mementoHits = 0;
        for (let i = 0; i < n; i++) {
          const m = memoryText(1_000_000 + created);
          const q = queries[i % queries.length]!;
          let t = performance.now();
          await callTool(sm, 'create_entities', { entities: [{ name: `bench-${created}`, entityType: 'note', observations: [m.content] }] });
          times.create.push(performance.now() - t);
          t = performance.now();
          const stored = await callTool(memento, 'store_memory', { content: m.content, description: m.description, tags: m.tags }, user);
          times.store.push(performance.now() - t);
          ids.push(structured<{ id: string }>(stored).id);
          created++;
          t = performance.now();
          const nodes = await callTool(sm, 'search_nodes', { query: q });
          times.searchNodes.push(performance.now() - t);
          smBytes += JSON.stringify(nodes).length;
          smHits += structured<{ entities?: unknown[] }>(nodes).entities?.length ?? 0;
          t = performance.now();
          const found = await callTool(memento, 'search_memories', { query: q }, user);
          times.searchMemories.push(performance.now() - t);
          mementoHits += structured<{ total: number }>(found).total;
        }
        // server-memory rewrites its whole file on every create (30 MB at 100k), and the page
        // cache writeback that follows slows whatever touches the disk next, Memento's store
        // included. Whether Memento's own store cost is flat is judged on a block of its own.
        const alone: number[] = [];
        for (let i = 0; i < ALONE_SAMPLES; i++) {
          const m = memoryText(2_000_000 + created++);
          const t = performance.now();
          const stored = await callTool(memento, 'store_memory', { content: m.content, description: m.description, tags: m.tags }, user);
          alone.push(performance.now() - t);
          ids.push(structured<{ id: string }>(stored).id);
        }
        const s = {
          storeAlone: summarize(alone),
          create: summarize(times.create),
          store: summarize(times.store),
          searchNodes: summarize(times.searchNodes),
          searchMemories: summarize(times.searchMemories),
        };
        for (const [k, v] of Object.entries(s)) stats.set(`${size}/${k}`, v);
        data[size] = { held, mementoFirst, smFirst, ...s, smHitsPerSearch: smHits / n, smBytesPerSearch: smBytes / n, mementoMatchesPerSearch: mementoHits / n };
        rows.push(
          [size.toLocaleString('en-US'), 'create / store', fmt(s.create.p50), fmt(s.create.p99), fmt(s.store.p50), fmt(s.store.p99), `${(s.create.p50 / s.store.p50).toFixed(1)}×`, `${held.toLocaleString('en-US')} held; first call ${fmt(mementoFirst)} ms (Memento) / ${fmt(smFirst)} ms (server-memory)`],
          [size.toLocaleString('en-US'), 'store, Memento alone', '', '', fmt(s.storeAlone.p50), fmt(s.storeAlone.p99), '', `${ALONE_SAMPLES} stores after the interleaved calls, with server-memory idle`],
          [size.toLocaleString('en-US'), 'search', fmt(s.searchNodes.p50), fmt(s.searchNodes.p99), fmt(s.searchMemories.p50), fmt(s.searchMemories.p99), `${(s.searchNodes.p50 / s.searchMemories.p50).toFixed(1)}×`, `${fmt(smHits / n)} entities returned (${fmt(smBytes / n / 1024)} KiB${smBytes / n > 10 * 2 ** 20 ? ', past the SDK client’s default 10 MiB limit' : ''}) / ${fmt(mementoHits / n)} memories matched per query (top 10 returned)`],
        );
      } finally {
        await sm.close();
        // The seeded stores are shared between runs: leave them as they were.
        for (const id of ids) await callTool(memento, 'delete_memory', { id }, user).catch(() => {});
      }
    }

    progress('side-by-side: 20 concurrent creates, 3 trials each');
    const trials = 3;
    const survivors = { serverMemory: [] as number[], memento: [] as number[] };
    for (let trial = 0; trial < trials; trial++) {
      const file = join(smDir, `concurrent-${trial}.jsonl`);
      await copyFile(await serverMemoryFile(smDir, 0), file);
      const sm = await connect({ kind: 'stdio', server: serverMemoryStdio(file, cleanEnv()) });
      try {
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            callTool(sm, 'create_entities', { entities: [{ name: `concurrent-${i}`, entityType: 'note', observations: ['x'] }] }),
          ),
        );
        const graph = structured<{ entities: unknown[] }>(await callTool(sm, 'read_graph', {}));
        survivors.serverMemory.push(graph.entities.length);
      } finally {
        await sm.close();
      }
      const user = `concurrent-${process.pid}-${trial}`;
      await Promise.all(Array.from({ length: 20 }, (_, i) => callTool(memento, 'store_memory', { content: `concurrent ${i}` }, user)));
      survivors.memento.push(structured<{ total: number }>(await callTool(memento, 'retrieve_memories', { limit: 1 }, user)).total);
    }
    data.concurrent = survivors;

    const largest = sizes.at(-1)!;
    const storeFlat = stats.get(`${largest}/storeAlone`)!.p50 / stats.get('0/storeAlone')!.p50;
    const interleavedFlat = stats.get(`${largest}/store`)!.p50 / stats.get('0/store')!.p50;
    const targets: TargetCheck[] = [
      {
        what: `store_memory p50 at ${largest.toLocaleString('en-US')} ÷ at 0, Memento alone (flat)`,
        target: `≤ ${FLAT_FACTOR}×`,
        measured: `${storeFlat.toFixed(2)}× (${fmt(stats.get('0/storeAlone')!.p50)} → ${fmt(stats.get(`${largest}/storeAlone`)!.p50)} ms)`,
        met: storeFlat <= FLAT_FACTOR,
      },
      {
        what: `the same, interleaved with server-memory's creates`,
        target: `≤ ${FLAT_FACTOR}×`,
        measured: `${interleavedFlat.toFixed(2)}× (${fmt(stats.get('0/store')!.p50)} → ${fmt(stats.get(`${largest}/store`)!.p50)} ms)`,
        met: interleavedFlat <= FLAT_FACTOR,
      },
      ...sizes
        .filter((s) => TARGET_SEARCH_P50[s] !== undefined)
        .map((s) => ({
          what: `search_memories p50 at ${s.toLocaleString('en-US')} (stdio)`,
          target: `≤ ${TARGET_SEARCH_P50[s]} ms`,
          measured: `${fmt(stats.get(`${s}/searchMemories`)!.p50)} ms`,
          met: stats.get(`${s}/searchMemories`)!.p50 <= TARGET_SEARCH_P50[s]!,
        })),
      {
        what: '20 concurrent creates that survive',
        target: '20 of 20',
        measured: `Memento ${survivors.memento.join(', ')}; server-memory ${survivors.serverMemory.join(', ')} (${trials} trials)`,
        met: survivors.memento.every((n) => n === 20),
      },
    ];
    const body = [
      table(['size', 'operation', 'server-memory p50 (ms)', 'server-memory p99 (ms)', 'Memento p50 (ms)', 'Memento p99 (ms)', 'server-memory ÷ Memento (p50)', 'notes'], rows),
      '',
      table(
        ['20 concurrent creates on one connection', ...Array.from({ length: trials }, (_, i) => `trial ${i + 1}`)],
        [
          ['server-memory: entities present afterwards', ...survivors.serverMemory.map(String)],
          ['Memento: memories present afterwards', ...survivors.memento.map(String)],
        ],
      ),
      '',
      'Operations: server-memory `create_entities` with one entity (one observation: the memory text) vs Memento `store_memory` (content, description, tags); ' +
        'server-memory `search_nodes` (substring over names, types and observations, returns every match) vs Memento `search_memories` (ranked word-prefix search, returns the best 10), both with the same one-word query from the corpus. ' +
        'Sizes are entities in server-memory’s file and memories held by the Memento user (the "held" figure is the server’s own count).',
    ].join('\n');
    return {
      title: 'Side by side with @modelcontextprotocol/server-memory (stdio)',
      method:
        'One SDK client in the coordinator talks to both servers over stdio, each started as its own process (`memento serve --stdio` untraced, `node …/server-memory/dist/index.js` with `MEMORY_FILE_PATH`); create, store, search and search calls alternate one by one at each size.',
      body,
      targets,
      data,
    };
  } finally {
    await memento.close();
  }
}

export const sideBySide: Benchmark = {
  name: 'side-by-side',
  createsFiles: true,
  summary: 'Memento vs @modelcontextprotocol/server-memory over stdio at growing sizes, and 20 concurrent creates',
  run,
};
