/*
 * `memento doctor` against the real stack: the built-in simulator and its own MCP server,
 * OTLP into the real collector, the test turn found in the real Jaeger and its span metrics
 * in the real Prometheus (which scrapes the collector every second here). Every check passes
 * and the exit status is 0.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemento, tempDir } from '../helpers/memento.ts';
import { stack, telemetryEnv } from './helpers.ts';

let root: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  root = await tempDir('memento-stack-doctor-');
});
afterAll(async () => {
  await root?.cleanup();
});

describe('memento doctor on the real stack', () => {
  it('passes every check: model, MCP, OTLP, the test turn, Jaeger, Prometheus', async () => {
    const state = stack();
    const env = telemetryEnv(join(root.path, 'traces.jsonl'), { MEMENTO_DATA_DIR: join(root.path, 'data'), MEMENTO_PROMETHEUS_URL: state.urls.prometheus });
    const r = await runMemento(['doctor', '--json', '--wait', '90000'], { env, timeoutMs: 170_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.checks.map((c: { name: string; status: string }) => [c.name, c.status])).toEqual([
      ['model endpoint', 'ok'],
      ['MCP server', 'ok'],
      ['OTLP endpoint', 'ok'],
      ['test turn', 'ok'],
      ['Jaeger', 'ok'],
      ['Prometheus', 'ok'],
    ]);
    expect(out.checks[4].detail).toContain(`${state.urls.jaeger}/trace/`);
    expect(out.checks[5].detail).toMatch(/has span metrics for \d+ memento-client turns?/);
  });
});
