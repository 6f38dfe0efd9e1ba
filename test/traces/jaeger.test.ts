import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JaegerClient } from '../../src/traces/jaeger.ts';
import { groupTurns } from '../../src/traces/model.ts';
import { runMemento } from '../helpers/memento.ts';
import { FakeJaeger } from './fake-jaeger.ts';
import { buildTurn, type BuiltTurn } from './fixtures.ts';

const jaeger = new FakeJaeger();
let recent: BuiltTurn;
let older: BuiltTurn;
let downUrl: string;

beforeAll(async () => {
  const now = Date.now();
  older = await buildTurn({
    traceId: 'a1b2c3d4e0000000000000000000000b',
    startMs: now - 3_600_000,
    ms: 2600,
    user: 'bob',
    chats: [{ phase: 'intent', at: 0, ms: 2500, input: 100, output: 10 }],
  });
  recent = await buildTurn({
    traceId: 'a1b2c3d4f0000000000000000000000a',
    startMs: now - 60_000,
    ms: 900,
    user: 'alice',
    chats: [
      { phase: 'intent', at: 0, ms: 300, input: 120, output: 20 },
      { phase: 'summarize', at: 500, ms: 300 },
    ],
    tools: [{ tool: 'store_memory', at: 300, ms: 150, server: { at: 305, ms: 140 } }],
  });
  await jaeger.add(older, recent).start();
  // A port that was just free: nothing listens there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  downUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});
afterAll(() => jaeger.stop());
beforeEach(() => {
  jaeger.failWith = undefined;
  jaeger.requests.length = 0;
});

describe('JaegerClient', () => {
  it('fetches one trace with the MCP server spans in it', async () => {
    const spans = await new JaegerClient(jaeger.url).getTrace(recent.traceId);
    expect(jaeger.requests.map((u) => u.pathname)).toEqual([`/api/v3/traces/${recent.traceId}`]);
    const [turn] = groupTurns(spans);
    expect(turn?.traceId).toBe(recent.traceId);
    expect(turn?.spans.filter((s) => s.service === 'memento-mcp-server').map((s) => s.name)).toEqual(['tools/call store_memory']);
    expect(turn?.spans.find((s) => s.name === 'chat gpt-4o-mini')?.attributes['gen_ai.usage.input_tokens']).toBe(120);
  });

  it('answers an unknown trace id with no spans', async () => {
    expect(await new JaegerClient(jaeger.url).getTrace('ffffffffffffffffffffffffffffffff')).toEqual([]);
  });

  it('searches by service and time window, with both spellings of each parameter', async () => {
    const startMin = new Date(Date.now() - 7_200_000);
    const startMax = new Date();
    const spans = await new JaegerClient(jaeger.url).findTraces({ service: 'memento-client', startMin, startMax, limit: 1 });
    expect(groupTurns(spans).map((t) => t.traceId)).toEqual([recent.traceId]);
    const params = Object.fromEntries(jaeger.requests[0]!.searchParams);
    expect(params).toEqual({
      'query.serviceName': 'memento-client',
      'query.service_name': 'memento-client',
      'query.startTimeMin': startMin.toISOString(),
      'query.start_time_min': startMin.toISOString(),
      'query.startTimeMax': startMax.toISOString(),
      'query.start_time_max': startMax.toISOString(),
      'query.searchDepth': '1',
      'query.search_depth': '1',
      'query.num_traces': '1',
    });
  });

  it("takes Jaeger's 404 for an empty search as no traces", async () => {
    const spans = await new JaegerClient(jaeger.url).findTraces({
      service: 'nobody',
      startMin: new Date(0),
      startMax: new Date(),
      limit: 10,
    });
    expect(spans).toEqual([]);
  });

  it('lists the services', async () => {
    expect((await new JaegerClient(jaeger.url).services()).sort()).toEqual(['memento-client', 'memento-mcp-server']);
  });

  it("says what Jaeger answered when it fails, naming the URL", async () => {
    jaeger.failWith = 500;
    await expect(new JaegerClient(jaeger.url).getTrace(recent.traceId)).rejects.toThrow(
      `Jaeger at ${jaeger.url} answered 500 to /api/v3/traces/${recent.traceId}: failed to query storage: backend unavailable`,
    );
  });

  it('says when Jaeger is not there at all', async () => {
    await expect(new JaegerClient(downUrl).services()).rejects.toThrow(
      `cannot reach Jaeger at ${downUrl} (ECONNREFUSED); is it running?`,
    );
  });

  it('says when the URL answers but is not a Jaeger query API', async () => {
    await expect(new JaegerClient(`${jaeger.url}/wrong/base`).getTrace(recent.traceId)).rejects.toThrow(
      `${jaeger.url}/wrong/base/api/v3/traces/${recent.traceId} answered 404: no Jaeger api_v3 there`,
    );
  });

  it('gives up on a Jaeger that does not answer', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      await expect(new JaegerClient(url, { timeoutMs: 200 }).services()).rejects.toThrow(
        `Jaeger at ${url} did not answer within 0.2 s`,
      );
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('memento traces --jaeger', () => {
  it('lists the recent turns from Jaeger', async () => {
    const run = await runMemento(['traces', 'list', '--jaeger', jaeger.url, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.source).toEqual({ kind: 'jaeger', url: jaeger.url });
    expect(out.turns.map((t: { traceId: string; user: string }) => [t.traceId, t.user])).toEqual([
      [recent.traceId, 'alice'],
      [older.traceId, 'bob'],
    ]);
    expect(out.turns[0].split).toEqual({ totalMs: 900, azureMs: 600, mcpMs: 150, clientMs: 150 });
  });

  it('shows a trace by full id with one request, and by prefix through a search', async () => {
    const full = await runMemento(['traces', 'show', recent.traceId, '--jaeger', jaeger.url]);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).toContain('server │  └─ tools/call store_memory');
    expect(full.stdout).toContain(`jaeger  ${jaeger.url}/trace/${recent.traceId}`);
    expect(jaeger.requests.map((u) => u.pathname)).toEqual([`/api/v3/traces/${recent.traceId}`]);

    const prefix = await runMemento(['traces', 'show', recent.traceId.slice(0, 9), '--jaeger', jaeger.url]);
    expect(prefix.code, prefix.stderr).toBe(0);
    expect(prefix.stdout).toContain(`trace ${recent.traceId}`);

    const ambiguous = await runMemento(['traces', 'show', 'a1b2c3d4', '--jaeger', jaeger.url]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('trace id a1b2c3d4 is ambiguous');

    const unknown = await runMemento(['traces', 'show', 'f'.repeat(32), '--jaeger', jaeger.url]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`memento: no trace ${'f'.repeat(32)} in Jaeger at ${jaeger.url}`);
  });

  it('computes stats from Jaeger', async () => {
    const run = await runMemento(['traces', 'stats', '--jaeger', jaeger.url, '--slow', '1000', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.turns).toBe(2);
    expect(out.phases.map((p: { phase: string; count: number }) => [p.phase, p.count])).toEqual([
      ['intent', 2],
      ['summarize', 1],
    ]);
    expect(out.slow.map((s: { traceId: string }) => s.traceId)).toEqual([older.traceId]);
  });

  it('fails with the URL in the message when Jaeger is down or failing', async () => {
    const down = await runMemento(['traces', 'list', '--jaeger', downUrl]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`memento: cannot reach Jaeger at ${downUrl}`);
    expect(down.stdout).toBe('');

    jaeger.failWith = 500;
    const failing = await runMemento(['traces', 'stats', '--jaeger', jaeger.url]);
    expect(failing.code).toBe(1);
    expect(failing.stderr).toContain(`memento: Jaeger at ${jaeger.url} answered 500 to /api/v3/traces`);
  });

  it('explains an empty Jaeger, and refuses a URL that is not one', async () => {
    const empty = new FakeJaeger();
    await empty.start();
    try {
      const run = await runMemento(['traces', 'list', '--jaeger', empty.url]);
      expect(run.code).toBe(0);
      expect(run.stderr).toContain(`No turns from memento-client in Jaeger at ${empty.url} in the last 7 days. It has no traces at all yet.`);
    } finally {
      await empty.stop();
    }
    const bad = await runMemento(['traces', 'list', '--jaeger', 'localhost:16686']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--jaeger needs an http(s) URL');
  });
});
