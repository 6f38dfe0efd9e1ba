/*
 * Memory: the server's RSS and heap over 100k tool calls, and with 1k idle sessions. The calls
 * are the `steady` mix (procs/load.ts): every memory stored is deleted again, so the data the
 * server holds does not grow and whatever grows is the server's own (sessions, spans, caches).
 * The server is traced, as deployed (OTLP to the benchmark's collector), since a span
 * pipeline that kept spans would be exactly such a growth.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanEnv, startChild, type Child } from './lib/child.ts';
import { progress } from './lib/progress.ts';
import { fmt, mib, slope, table } from './lib/stats.ts';
import type { Benchmark, BenchOptions, BenchResult } from './lib/types.ts';

interface Mem {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/** Post-GC heap growth over the measured calls below which there is no trend worth the name. */
const HEAP_GROWTH_LIMIT = 1024 * 1024;

async function run(options: BenchOptions): Promise<BenchResult> {
  const calls = options.quick ? 20_000 : 100_000;
  const every = calls / 10;
  const idleSessions = options.quick ? 200 : 1000;
  const children: Child[] = [];
  try {
    const collector = await startChild<{ url: string }>('collector.ts');
    children.push(collector);
    const dir = join(options.workDir, 'data');
    await mkdir(dir, { recursive: true });
    const server = await startChild<{ url: string }>('memento-server.ts', {
      args: [dir],
      execArgv: ['--expose-gc'],
      env: cleanEnv({ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: collector.ready.url }),
    });
    children.push(server);
    const load = await startChild('load.ts');
    children.push(load);
    const sample = async () => {
      const raw = await server.call<Mem>('memory');
      const gced = await server.call<Mem>('memory', { gc: true });
      return { rss: raw.rss, rssAfterGc: gced.rss, heapUsed: gced.heapUsed, external: gced.external };
    };

    await load.call('open', { url: server.ready.url, sessions: 8, userPrefix: 'mem' });
    progress('memory: warm-up (2,000 calls)');
    await load.call('run', { mix: 'steady', calls: 2000 });
    const samples: { calls: number; rss: number; rssAfterGc: number; heapUsed: number; external: number }[] = [{ calls: 0, ...(await sample()) }];
    const pending: Promise<void>[] = [];
    load.onEvent((event) => {
      const e = event as { calls: number; errors: number };
      // Sampled while the load keeps running, as a monitoring agent would see it.
      pending.push(
        sample().then((s) => {
          samples.push({ calls: e.calls, ...s });
          progress(`memory: ${e.calls.toLocaleString('en-US')} calls, RSS ${mib(s.rss)}, heap after GC ${mib(s.heapUsed)}, errors ${e.errors}`);
        }),
      );
    });
    const t0 = performance.now();
    const result = await load.call<{ ok: number; errors: number; errorSamples: string[]; seconds: number }>('run', { mix: 'steady', calls, eventEvery: every });
    await Promise.all(pending);
    samples.sort((a, b) => a.calls - b.calls);
    const seconds = (performance.now() - t0) / 1000;
    await load.call('close');
    await new Promise((r) => setTimeout(r, 500));
    const afterLoad = await sample();

    progress(`memory: opening ${idleSessions} idle sessions`);
    const opened = await load.call<{ sessions: number; seconds: number }>('open', { url: server.ready.url, sessions: idleSessions, userPrefix: 'idle', usersShared: 16 });
    await new Promise((r) => setTimeout(r, 1000));
    const withIdle = await sample();
    const sessionsHeld = await server.call<number>('sessions');
    await load.call('close');
    await new Promise((r) => setTimeout(r, 1000));
    const afterIdle = await sample();
    const sessionsAfter = await server.call<number>('sessions');

    // The same load on the SDK's own server, in its default mode (an SSE stream per POST) and
    // in the JSON-response mode Memento uses: whether a growth is Memento's or the SDK's.
    const floorCalls = options.quick ? 6000 : 12_000;
    const floorRows: string[][] = [];
    const floorData: Record<string, unknown> = {};
    for (const mode of ['sse', 'json']) {
      progress(`memory: floor server, ${mode === 'json' ? 'JSON responses' : 'SSE stream per POST'}, ${floorCalls.toLocaleString('en-US')} calls`);
      const floor = await startChild<{ url: string }>('floor-server.ts', { args: ['http', mode], execArgv: ['--expose-gc'] });
      children.push(floor);
      await load.call('open', { url: floor.ready.url, sessions: 8, userPrefix: 'floor' });
      await load.call('run', { mix: 'noop', calls: 1000 });
      const heap0 = (await floor.call<Mem>('memory', { gc: true })).heapUsed;
      const r = await load.call<{ ok: number; errors: number; latency: { p50: number } }>('run', { mix: 'noop', calls: floorCalls });
      const heap1 = (await floor.call<Mem>('memory', { gc: true })).heapUsed;
      await load.call('close');
      await floor.stop();
      floorData[mode] = { heap0, heap1, perCall: (heap1 - heap0) / r.ok, p50: r.latency.p50, errors: r.errors };
      floorRows.push([
        mode === 'json' ? 'JSON response per POST (`enableJsonResponse: true`, as Memento)' : 'SSE stream per POST (SDK default)',
        mib(heap0),
        mib(heap1),
        fmt((heap1 - heap0) / r.ok),
        fmt(r.latency.p50),
      ]);
    }

    const measured = samples.filter((s) => s.calls >= 2 * every);
    const heapSlope = slope(measured.map((s) => [s.calls, s.heapUsed]));
    const rssSlope = slope(measured.map((s) => [s.calls, s.rss]));
    const heapGrowth = heapSlope * (measured.at(-1)!.calls - measured[0]!.calls);
    const perSession = (withIdle.heapUsed - afterLoad.heapUsed) / idleSessions;
    const perSessionRss = (withIdle.rssAfterGc - afterLoad.rssAfterGc) / idleSessions;

    const body = [
      table(
        ['calls', 'RSS', 'RSS after GC', 'heap used after GC', 'external after GC'],
        samples.map((s) => [s.calls.toLocaleString('en-US'), mib(s.rss), mib(s.rssAfterGc), mib(s.heapUsed), mib(s.external)]),
      ),
      '',
      table(
        ['figure', 'value'],
        [
          ['calls answered / errors', `${result.ok.toLocaleString('en-US')} / ${result.errors}`],
          ['rate while sampling', `${fmt(result.ok / result.seconds)} calls/s (${fmt(seconds)} s)`],
          [`heap-after-GC slope, ${(2 * every).toLocaleString('en-US')} → ${calls.toLocaleString('en-US')} calls`, `${fmt(heapSlope)} bytes/call (${mib(heapGrowth)} over the span)`],
          [`RSS slope over the same span`, `${fmt(rssSlope)} bytes/call (${mib(rssSlope * (measured.at(-1)!.calls - measured[0]!.calls))})`],
          ['after the load, sessions closed', `RSS ${mib(afterLoad.rss)}, heap ${mib(afterLoad.heapUsed)}`],
          [`with ${idleSessions.toLocaleString('en-US')} idle sessions open (server holds ${sessionsHeld}; opened in ${fmt(opened.seconds)} s)`, `RSS ${mib(withIdle.rss)}, heap ${mib(withIdle.heapUsed)}`],
          ['per idle session', `${fmt(perSession / 1024)} KiB heap, ${fmt(perSessionRss / 1024)} KiB RSS`],
          [`after closing them (server holds ${sessionsAfter})`, `RSS ${mib(afterIdle.rss)}, heap ${mib(afterIdle.heapUsed)}`],
        ],
      ),
      '',
      `The SDK's own server (bench/procs/floor-server.ts, no-op tool) under the same 8-session load, ${floorCalls.toLocaleString('en-US')} calls after 1,000 warm-up calls:`,
      '',
      table(['floor server answering', 'heap after GC, before', 'after', 'bytes per call', 'call p50 (ms)'], floorRows),
    ].join('\n');
    return {
      title: 'Memory over 100k calls and with idle sessions',
      method:
        `A traced Memento server process (\`startHttpServer\`, \`--expose-gc\`) takes ${calls.toLocaleString('en-US')} calls from 8 sessions of the load process in the steady mix (store → get → search → delete → retrieve, so stored data does not grow). ` +
        `Every ${every.toLocaleString('en-US')} calls the coordinator reads the server's \`process.memoryUsage()\` over IPC, once as it is and once after a forced full GC; the trend is the least-squares slope from ${(2 * every).toLocaleString('en-US')} calls on (the first samples include warm-up growth: JIT code, pools). ` +
        `Then ${idleSessions.toLocaleString('en-US')} Streamable HTTP sessions are opened (initialize, tools/list, the standalone SSE stream) and left idle.`,
      body,
      targets: [
        { what: `errors over ${calls.toLocaleString('en-US')} calls`, target: '0', measured: String(result.errors), met: result.errors === 0 },
        { what: 'heap after GC, trend over the calls', target: `no upward trend (< ${mib(HEAP_GROWTH_LIMIT)} over the span)`, measured: `${fmt(heapSlope)} bytes/call, ${mib(heapGrowth)}`, met: heapGrowth < HEAP_GROWTH_LIMIT },
        { what: `RSS after ${calls.toLocaleString('en-US')} calls`, target: 'reported', measured: mib(samples.at(-1)!.rss), met: undefined },
        { what: `RSS with ${idleSessions.toLocaleString('en-US')} idle sessions`, target: 'reported', measured: `${mib(withIdle.rss)} (${fmt(perSessionRss / 1024)} KiB each)`, met: undefined },
      ],
      data: { samples, result, afterLoad, withIdle, afterIdle, sessionsHeld, sessionsAfter, heapSlope, rssSlope, floor: floorData },
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

export const memory: Benchmark = {
  name: 'memory',
  summary: 'server RSS over 100k calls (trend) and with 1k idle sessions',
  run,
};
