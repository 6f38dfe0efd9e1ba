/*
 * Tail sampling with the real collector, as otel-collector.yaml ships it but with a 10 % share
 * and a 6 s slow threshold (its ${env:…} settings; a busy test machine makes ordinary turns
 * take seconds, so "slow" means the simulator adding 4 s to each chat call, 8 s a turn):
 * 20 fast turns, 2 slow turns and 1 failed
 * turn, each through a `memento serve` over Streamable HTTP so every trace has spans from two
 * processes. Jaeger must hold the 3 interesting turns whole (client and server spans), fast
 * turns only whole or not at all and far fewer than 20, while the span metrics, taken before
 * sampling, count all 23 turns.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { ask, fileTrace, jaegerTrace, restartCollector, stack, telemetryEnv, waitFor, type AskResult } from './helpers.ts';

let root: Awaited<ReturnType<typeof tempDir>>;
let server: Running;
let traceFile: string;
const SLOW_MS = 6000;
const fast: AskResult[] = [];
const interesting: AskResult[] = [];

beforeAll(async () => {
  // The decision waits longer than a slow turn lasts (see otel-collector.yaml).
  await restartCollector({ OTEL_COLLECTOR_SAMPLING_PERCENT: '10', OTEL_COLLECTOR_SAMPLING_SLOW_MS: String(SLOW_MS), OTEL_COLLECTOR_SAMPLING_WAIT: '15s' });
  root = await tempDir('memento-stack-sampling-');
  traceFile = join(root.path, 'traces.jsonl');
  server = await startMemento(['serve', '--port', '0', '--data-dir', join(root.path, 'data')], { env: telemetryEnv(traceFile) });
  const env = telemetryEnv(traceFile, { MEMENTO_MCP_URL: `${server.url}/mcp`, MEMENTO_USER: 'erin' });
  // Two at a time: faster than one by one, without making the fast turns slow.
  for (let i = 0; i < 20; i += 2) {
    fast.push(...(await Promise.all([0, 1].map((j) => ask(`remember that fast note ${i + j} is filed`, env)))));
  }
  const slowEnv = { ...env, MEMENTO_SIMULATOR_LATENCY_MS: '4000' };
  interesting.push(await ask('remember that slow note 1 is filed', slowEnv));
  interesting.push(await ask('remember that slow note 2 is filed', slowEnv));
  interesting.push(await ask('remember that the failing note is filed', { ...env, MEMENTO_SIMULATOR_FAULTS: '500*20', MEMENTO_MODEL_MAX_RETRIES: '0' }, { expectFailure: true }));
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await restartCollector();
  await root?.cleanup();
});

/** calls_total of the turn root, summed over status codes, from the collector's exporter. */
async function turnsCounted(): Promise<number> {
  const text = await (await fetch(stack().urls.collectorMetrics)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('traces_span_metrics_calls_total{') && line.includes('span_name="invoke_agent memento"') && line.includes('service_name="memento-client"')) {
      total += Number(line.trim().split(/\s+/).at(-1));
    }
  }
  return total;
}

describe('tail sampling in the real collector', () => {
  it('the turns are what the test says: 20 fast, 2 slow, 1 failed', () => {
    expect(fast.map((t) => t.code === 0 && (t.json.durationMs ?? Infinity) < SLOW_MS)).toEqual(fast.map(() => true));
    expect(interesting.slice(0, 2).every((t) => (t.json.durationMs ?? 0) > SLOW_MS)).toBe(true);
    expect(interesting[2]!.code).not.toBe(0);
  });

  it('keeps every slow and failed turn whole, client and server spans together', async () => {
    for (const turn of interesting) {
      const local = await waitFor(`turn ${turn.traceId} in the local file`, async () => {
        const spans = await fileTrace(traceFile, turn.traceId);
        return spans.length ? spans : undefined;
      });
      const kept = await waitFor(`turn ${turn.traceId} whole in Jaeger`, async () => {
        const t = await jaegerTrace(turn.traceId);
        const file = await fileTrace(traceFile, turn.traceId);
        return t && t.spans.length === file.length ? t : undefined;
      });
      expect(kept.spans.length).toBeGreaterThanOrEqual(local.length);
      if (turn.code === 0) expect(new Set(kept.spans.map((s) => s.service))).toEqual(new Set(['memento-client', 'memento-mcp-server']));
    }
  });

  it('keeps a share of the fast turns, each whole or not at all', async () => {
    let kept = 0;
    for (const turn of fast) {
      const t = await jaegerTrace(turn.traceId);
      if (!t) continue;
      kept++;
      expect(t.spans.length, `fast turn ${turn.traceId}`).toBe((await fileTrace(traceFile, turn.traceId)).length);
    }
    // 10 % of 20 is 2 on average; more than 10 would happen about once in a million runs.
    expect(kept).toBeLessThanOrEqual(10);
  });

  it('still counts every turn in the span metrics (taken before sampling)', async () => {
    await waitFor('23 turns counted', async () => ((await turnsCounted()) === 23 ? true : undefined));
  });
});
