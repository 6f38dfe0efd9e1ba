/*
 * Throughput: tool calls per second with 1, 8 and 64 concurrent MCP sessions over Streamable
 * HTTP, closed loops, zero errors allowed. The load comes from a separate process
 * (procs/load.ts), so client and server each have an event loop, and on this 2-core machine
 * roughly a core, of their own. The untraced and the traced server (real OTLP export) are
 * measured alternately at each concurrency.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanEnv, startChild, type Child } from './lib/child.ts';
import { progress } from './lib/progress.ts';
import { fmt, pct, table, type Summary } from './lib/stats.ts';
import type { Benchmark, BenchOptions, BenchResult, TargetCheck } from './lib/types.ts';

const TARGET_CALLS_PER_SECOND = 2000;
const CONCURRENCY = [1, 8, 64];

interface RunResult {
  ok: number;
  errors: number;
  errorSamples: string[];
  seconds: number;
  clientCpuUs: number;
  latency: Summary;
}

async function run(options: BenchOptions): Promise<BenchResult> {
  const warmMs = options.quick ? 1000 : 1500;
  const measureMs = options.quick ? 3000 : 6000;
  const children: Child[] = [];
  try {
    const collector = await startChild<{ url: string }>('collector.ts');
    children.push(collector);
    const variants = [
      { name: 'floor', env: cleanEnv() },
      { name: 'untraced', env: cleanEnv() },
      { name: 'traced', env: cleanEnv({ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: collector.ready.url }) },
    ];
    const servers = new Map<string, Child<{ url: string }>>();
    for (const v of variants) {
      const dir = join(options.workDir, v.name);
      await mkdir(dir, { recursive: true });
      const server =
        v.name === 'floor'
          ? await startChild<{ url: string }>('floor-server.ts', { args: ['http'] })
          : await startChild<{ url: string }>('memento-server.ts', { args: [dir], env: v.env });
      children.push(server);
      servers.set(v.name, server);
    }
    const load = await startChild('load.ts');
    children.push(load);

    const rows: string[][] = [];
    const targets: TargetCheck[] = [];
    const data: Record<string, unknown> = {};
    for (const c of CONCURRENCY) {
      for (const v of variants) {
        const server = servers.get(v.name)!;
        progress(`throughput: ${c} session(s), ${v.name} server: warm-up ${warmMs} ms, then ${measureMs} ms`);
        await load.call('open', { url: server.ready.url, sessions: c, userPrefix: `tp${c}` });
        const mix = v.name === 'floor' ? 'noop' : 'mixed';
        await load.call('run', { mix, durationMs: warmMs });
        const s0 = await server.call<number>('cpu');
        const r = await load.call<RunResult>('run', { mix, durationMs: measureMs });
        const s1 = await server.call<number>('cpu');
        await load.call('close');
        const perSecond = r.ok / r.seconds;
        const serverBusy = (s1 - s0) / 1e6 / r.seconds;
        const clientBusy = r.clientCpuUs / 1e6 / r.seconds;
        data[`${c}/${v.name}`] = { ...r, perSecond, serverBusy, clientBusy, serverCpuPerCallMs: (s1 - s0) / 1000 / r.ok };
        rows.push([
          String(c),
          v.name === 'floor' ? 'floor (SDK, no-op tool)' : `Memento, ${v.name}`,
          fmt(perSecond),
          String(r.errors),
          fmt(r.latency.p50),
          fmt(r.latency.p99),
          fmt((s1 - s0) / 1000 / r.ok),
          pct(serverBusy, 2),
          pct(clientBusy, 2),
        ]);
        if (r.errors) progress(`throughput: errors: ${r.errorSamples.join(' | ')}`);
        if (v.name === 'floor') continue;
        targets.push({
          what: `${c} session(s), ${v.name} server`,
          target: `≥ ${TARGET_CALLS_PER_SECOND.toLocaleString('en-US')} calls/s, 0 errors`,
          measured: `${fmt(perSecond)} calls/s, ${r.errors} errors`,
          met: perSecond >= TARGET_CALLS_PER_SECOND && r.errors === 0,
        });
      }
    }
    const body = [
      table(['sessions', 'server', 'calls / s', 'errors', 'p50 (ms)', 'p99 (ms)', 'server CPU / call (ms)', 'server CPU busy', 'load process CPU busy'], rows),
      '',
      `Each row: ${warmMs} ms warm-up, then ${measureMs} ms measured. Mix: store_memory, retrieve_memories (newest 20), search_memories (two-word query) in turn; each session is its own user. ` +
        'The floor rows call the SDK server’s no-op tool (bench/procs/floor-server.ts) the same way: the most the SDK, HTTP and this load generator allow on this machine. ' +
        'CPU busy = CPU seconds per wall second of that process (100 % = one core); the two processes share the 2 cores with each other and with whatever else runs on the machine.',
    ].join('\n');
    return {
      title: 'Throughput',
      method:
        'A load process (`bench/procs/load.ts`) opens N MCP sessions (SDK clients over Streamable HTTP) to a Memento server process (`bench/procs/memento-server.ts`, `startHttpServer`) and runs a closed loop on each: the next call goes as soon as the previous one is answered. ' +
        'Calls per second count answered calls that were not errors.',
      body,
      targets,
      data,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

export const throughput: Benchmark = {
  name: 'throughput',
  summary: 'tool calls per second with 1, 8 and 64 concurrent sessions (load from a separate process)',
  run,
};
