/*
 * The benchmark harness still works: its processes start and answer over IPC, the collector
 * counts real exports, a traced client turn produces the whole trace, and the load generator
 * completes calls without errors. No timing is asserted; speed is `npm run bench`'s job.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, startChild, type Child } from '../../bench/lib/child.ts';
import { summarize } from '../../bench/lib/stats.ts';

describe('benchmark harness', () => {
  const children: Child[] = [];
  let dir: string;
  let collector: Child<{ url: string }>;
  let server: Child<{ url: string }>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'memento-bench-test-'));
    collector = await startChild<{ url: string }>('collector.ts');
    children.push(collector);
    server = await startChild<{ url: string }>('memento-server.ts', {
      args: [dir],
      env: cleanEnv({ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: collector.ready.url, OTEL_RESOURCE_ATTRIBUTES: 'bench.mode=memento' }),
    });
    children.push(server);
  });

  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  it('runs traced turns whose spans reach the collector', async () => {
    const simulator = await startChild<{ url: string }>('simulator.ts', { args: ['0'] });
    children.push(simulator);
    const worker = await startChild('turn-worker.ts', {
      args: ['memento'],
      env: cleanEnv({
        AZURE_OPENAI_ENDPOINT: simulator.ready.url,
        AZURE_OPENAI_API_KEY: 'bench',
        MEMENTO_MCP_URL: `${server.ready.url}/mcp`,
        OTEL_SDK_DISABLED: 'false',
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.ready.url,
        OTEL_RESOURCE_ATTRIBUTES: 'bench.mode=memento',
      }),
    });
    children.push(worker);
    // The first turn also connects (initialize, tools/list): count from the second on.
    await worker.call('turns', { n: 1 });
    await worker.call('flush');
    await server.call('flush');
    await collector.call('reset');
    const round = await worker.call<{ n: number; failures: number; toolCalls: number; cpuUs: number }>('turns', { n: 4 });
    expect(round).toMatchObject({ n: 4, failures: 0, toolCalls: 4 });
    expect(round.cpuUs).toBeGreaterThan(0);
    await worker.call('flush');
    await server.call('flush');
    await expect
      .poll(async () => (await collector.call<{ spans: Record<string, number> }>('counts')).spans, { timeout: 10_000 })
      .toMatchObject({
        // Per turn: root, 2 chat, 2 HTTP under them, MCP tools/call and its HTTP POST; the
        // server's MCP span, HTTP server span and storage span.
        'memento-client/memento': 4 * 7,
        'memento-mcp-server/memento': expect.any(Number),
      });
  });

  it('drives the server from the load process without errors', async () => {
    const load = await startChild('load.ts');
    children.push(load);
    const before = await server.call<number>('sessions');
    await load.call('open', { url: server.ready.url, sessions: 4, userPrefix: 'smoke' });
    const result = await load.call<{ ok: number; errors: number; errorSamples: string[] }>('run', { mix: 'steady', calls: 50 });
    await load.call('close');
    expect(result.errorSamples).toEqual([]);
    expect(result.ok).toBeGreaterThanOrEqual(50);
    // The load generator ends its sessions with a DELETE: the server holds none of them.
    expect(await server.call<number>('sessions')).toBe(before);
    const memory = await server.call<{ rss: number }>('memory');
    expect(memory.rss).toBeGreaterThan(0);
  });

  it('keeps session groups apart, as the interleaved throughput rounds use them', async () => {
    const load = await startChild('load.ts');
    children.push(load);
    const before = await server.call<number>('sessions');
    await load.call('open', { url: server.ready.url, sessions: 2, userPrefix: 'ga', group: 'a' });
    await load.call('open', { url: server.ready.url, sessions: 3, userPrefix: 'gb', group: 'b' });
    const result = await load.call<{ ok: number; samples: number[] }>('run', { mix: 'mixed', calls: 12, group: 'b', samples: true });
    expect(result.ok).toBeGreaterThanOrEqual(12);
    expect(result.samples.length).toBe(result.ok);
    expect(await server.call<number>('sessions')).toBe(before + 5);
    await load.call('close', { group: 'a' });
    expect(await server.call<number>('sessions')).toBe(before + 3);
    await load.call('close');
    expect(await server.call<number>('sessions')).toBe(before);
  });

  it('summarizes samples', () => {
    expect(summarize([3, 1, 2])).toMatchObject({ n: 3, p50: 2, max: 3 });
  });
});
