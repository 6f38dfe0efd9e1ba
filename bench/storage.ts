/*
 * Storage backends beyond the embedded scale run (scale.ts): the PostgreSQL backend with one
 * user holding 100k memories (first call, list, search, store p50/p99, server heap), and
 * throughput of two stateless replicas behind a round-robin nginx against one replica, both
 * on the same PostgreSQL. PostgreSQL (Debian's package) and nginx are started here, in temp
 * directories, as the tests do.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import postgres from 'postgres';
import { startNginx, type RunningNginx } from '../test/helpers/nginx.ts';
import { startPostgres, type RunningPostgres } from '../test/helpers/postgres.ts';
import { cleanEnv, startChild, type Child } from './lib/child.ts';
import { memoryText, queries, VOCABULARY } from './lib/corpus.ts';
import { callTool, connect } from './lib/mcp.ts';
import { progress } from './lib/progress.ts';
import { fmt, mib, summarize, table, type Summary } from './lib/stats.ts';
import type { Benchmark, BenchOptions, BenchResult, TargetCheck } from './lib/types.ts';

type Op = 'retrieve' | 'retrieve by tag' | 'search' | 'store';
const OPS: Op[] = ['retrieve', 'retrieve by tag', 'search', 'store'];
const structured = <T>(r: CallToolResult) => r.structuredContent as T;

async function run(options: BenchOptions): Promise<BenchResult> {
  const size = options.quick ? 10_000 : 100_000;
  const samples = options.quick ? 60 : 200;
  const measureMs = options.quick ? 3000 : 6000;
  const children: Child[] = [];
  let pg: RunningPostgres | undefined;
  let proxy: RunningNginx | undefined;
  try {
    pg = await startPostgres();
    const url = await pg.createDatabase('bench');
    const env = cleanEnv({ MEMENTO_STORE_URL: url, MEMENTO_BENCH_STATELESS: '1' });

    // Seeded through the backend's own store(), like the embedded scale run.
    const user = `seed-${size}`;
    progress(`storage: seeding ${size.toLocaleString('en-US')} memories into PostgreSQL`);
    const seeder = await startChild('seed.ts');
    const { seconds } = await seeder.call<{ seconds: number }>('seed', { dataDir: '/nonexistent', storeUrl: url, users: [{ user, count: size }] });
    await seeder.stop();
    progress(`storage: seeded in ${seconds.toFixed(1)} s`);
    // The state autovacuum reaches on its own within a minute or so of a burst of 100k inserts
    // (hint bits set, visibility map and planner statistics current), without waiting for it.
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    await admin`VACUUM (ANALYZE) memories`;
    await admin.end();

    const servers = await Promise.all(
      [0, 1].map(() => startChild<{ url: string }>('memento-server.ts', { args: ['/nonexistent'], env, execArgv: ['--expose-gc'] })),
    );
    children.push(...servers);
    const one = servers[0]!;

    // Scale: first call, then each kind of call in turn, one at a time.
    const before = await one.call<{ heapUsed: number; rss: number }>('memory', { gc: true });
    const client = await connect({ kind: 'http', url: one.ready.url });
    const t0 = performance.now();
    const held = structured<{ total: number }>(await callTool(client, 'retrieve_memories', { limit: 1 }, user)).total;
    const firstMs = performance.now() - t0;
    const words = queries(samples, 41);
    const times = new Map<Op, number[]>(OPS.map((o) => [o, []]));
    const ids: string[] = [];
    for (let i = 0; i < samples; i++) {
      for (const op of OPS) {
        const t = performance.now();
        if (op === 'retrieve') await callTool(client, 'retrieve_memories', {}, user);
        else if (op === 'retrieve by tag') await callTool(client, 'retrieve_memories', { tag: VOCABULARY[i % 8] }, user);
        else if (op === 'search') await callTool(client, 'search_memories', { query: words[i]! }, user);
        else {
          const m = memoryText(2_000_000 + i, 43);
          ids.push(structured<{ id: string }>(await callTool(client, 'store_memory', { content: m.content, description: m.description, tags: m.tags }, user)).id);
        }
        times.get(op)!.push(performance.now() - t);
      }
    }
    await client.close();
    const after = await one.call<{ heapUsed: number; rss: number }>('memory', { gc: true });
    const perOp = Object.fromEntries(OPS.map((op) => [op, summarize(times.get(op)!)])) as Record<Op, Summary>;

    // Replicas: the same closed-loop mix through nginx over two replicas, and straight to one.
    proxy = await startNginx(servers.map((s) => Number(new URL(s.ready.url).port)));
    const load = await startChild('load.ts');
    children.push(load);
    const sessions = 16;
    const through: Record<string, { perSecond: number; errors: number; p50: number; p99: number }> = {};
    for (const [name, target] of [['one replica', one.ready.url], ['two replicas behind nginx', proxy.url]] as const) {
      progress(`storage: ${sessions} sessions, ${name}: ${measureMs} ms`);
      await load.call('open', { url: target, sessions, userPrefix: `rep-${name.length}` });
      await load.call('run', { mix: 'mixed', durationMs: 1000 });
      const r = await load.call<{ ok: number; errors: number; seconds: number; latency: Summary }>('run', { mix: 'mixed', durationMs: measureMs });
      await load.call('close');
      through[name] = { perSecond: r.ok / r.seconds, errors: r.errors, p50: r.latency.p50, p99: r.latency.p99 };
    }
    const ratio = through['two replicas behind nginx']!.perSecond / through['one replica']!.perSecond;
    const targets: TargetCheck[] = [
      { what: `PostgreSQL: first call at ${size.toLocaleString('en-US')}`, target: '≤ 200 ms', measured: `${fmt(firstMs)} ms`, met: firstMs <= 200 },
      { what: 'two replicas vs one, 0 errors', target: 'no errors', measured: `${ratio.toFixed(2)}× calls/s`, met: Object.values(through).every((t) => t.errors === 0) },
    ];
    const body = [
      table(
        ['backend', 'memories', 'first call', 'retrieve p50/p99', 'by tag p50/p99', 'search p50/p99', 'store p50/p99', 'heap added', 'RSS'],
        [[
          'PostgreSQL',
          held.toLocaleString('en-US'),
          fmt(firstMs),
          ...OPS.map((op) => `${fmt(perOp[op].p50)} / ${fmt(perOp[op].p99)}`),
          mib(after.heapUsed - before.heapUsed),
          mib(after.rss),
        ]],
      ),
      '',
      table(
        ['target', 'calls / s', 'errors', 'p50 (ms)', 'p99 (ms)'],
        Object.entries(through).map(([name, t]) => [name, fmt(t.perSecond), String(t.errors), fmt(t.p50), fmt(t.p99)]),
      ),
      '',
      `Ratio two replicas / one: **${ratio.toFixed(2)}×**. All times ms, client-side. ${sessions} closed-loop sessions, mix store/retrieve/search (bench/procs/load.ts). ` +
        'Everything (PostgreSQL, both replicas, nginx, the load process) shares this machine’s 2 cores, so replicas add no CPU here: the ratio shows what the proxy and the shared store cost, not what more machines would give.',
    ].join('\n');
    return {
      title: `Storage: PostgreSQL at ${size.toLocaleString('en-US')}, and two replicas behind nginx`,
      method:
        'A real PostgreSQL (Debian package, temp dir, fsync off as in the tests) seeded through `PostgresStorage.store` in a separate process, then `VACUUM (ANALYZE)` (what autovacuum does soon after on its own); Memento servers (`bench/procs/memento-server.ts`) with `MEMENTO_STORE_URL` and stateless Streamable HTTP; a real nginx round-robin in front of two of them.',
      body,
      targets,
      data: { size, held, firstMs, perOp, before, after, through, ratio },
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await proxy?.stop();
    await pg?.stop();
  }
}

export const storage: Benchmark = {
  name: 'storage',
  summary: 'PostgreSQL backend at 100k; two stateless replicas behind nginx vs one',
  run,
};
