/*
 * Span metrics and alerts for real: the collector's span_metrics connector turns Memento's
 * spans into series in the real Prometheus with exactly the labels the shipped alert rules
 * select and group on; slow turns make the real Prometheus fire the test copy of
 * MementoSlowTurns (test-rules.ts: the shipped rule with a tenth of its threshold); and
 * Jaeger's Monitor backend answers for memento-client and memento-mcp-server with the span
 * kinds the README tells users to pick.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { groupingLabels, selectors } from '../deploy/promql.ts';
import { tempDir } from '../helpers/memento.ts';
import { SHIPPED_RULES } from './test-rules.ts';
import { ask, getJson, promQuery, stack, telemetryEnv, waitFor } from './helpers.ts';

interface AlertRule {
  alert: string;
  expr: string;
}
const shipped = (parse(readFileSync(SHIPPED_RULES, 'utf8')) as { groups: { rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules);

let root: Awaited<ReturnType<typeof tempDir>>;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  root = await tempDir('memento-stack-metrics-');
  env = telemetryEnv(join(root.path, 'traces.jsonl'), { MEMENTO_DATA_DIR: join(root.path, 'data'), MEMENTO_USER: 'dora' });
  await ask('remember that the Oslo offsite is on May 5', env);
  await ask('what do I have about Oslo?', env);
});

afterAll(async () => {
  await root?.cleanup();
});

/** `metric{a="b", …}` as written in the rule, for an instant query. */
function selectorText(s: ReturnType<typeof selectors>[number], without: string[] = []): string {
  const matchers = s.matchers.filter((m) => !without.includes(m.label)).map((m) => `${m.label}${m.op}${JSON.stringify(m.value)}`);
  return `${s.metric}{${matchers.join(', ')}}`;
}

describe('span metrics in the real Prometheus', () => {
  for (const rule of shipped) {
    it(`${rule.alert}: its selectors find series, with every label it groups by`, async () => {
      const grouped = groupingLabels(rule.expr).filter((l) => l !== 'le');
      for (const s of selectors(rule.expr)) {
        // No turn here fails a tool call, so an error selector is checked without its status.
        const query = selectorText(s, s.matchers.some((m) => m.label === 'status_code') ? ['status_code'] : []);
        const series = await waitFor(`series for ${query}`, async () => {
          const found = await promQuery(query);
          return found.length ? found : undefined;
        });
        // Span metrics carry the connector's labels; other metrics (the SDKs') what they select on.
        const spanLabels = s.metric.startsWith('traces_span_metrics_') ? ['service_name', 'span_name', 'span_kind', 'status_code'] : [];
        for (const one of series) {
          for (const label of [...grouped, ...spanLabels, ...s.matchers.map((m) => m.label)]) {
            expect(Object.keys(one.metric), `${query} → ${JSON.stringify(one.metric)}`).toContain(label);
          }
        }
      }
    });
  }

  it('holds invoke_agent memento, chat … and tools/call … series for the client and tools/call … for the server', async () => {
    const names = await waitFor('span names', async () => {
      const found = await promQuery('sum by (service_name, span_name, span_kind) (traces_span_metrics_calls_total)');
      const names = found.map((s) => `${s.metric.service_name} ${s.metric.span_kind} ${s.metric.span_name}`);
      return names.includes('memento-mcp-server SPAN_KIND_SERVER tools/call store_memory') ? names : undefined;
    });
    expect(names).toEqual(expect.arrayContaining([
      'memento-client SPAN_KIND_INTERNAL invoke_agent memento',
      'memento-client SPAN_KIND_CLIENT chat gpt-4o-mini',
      'memento-client SPAN_KIND_CLIENT tools/call store_memory',
      'memento-mcp-server SPAN_KIND_SERVER tools/call store_memory',
    ]));
  });
});

describe('alerts for real', () => {
  it('slow turns fire the test copy of MementoSlowTurns; the shipped rule (10 s) stays inactive', async () => {
    const slow = { ...env, MEMENTO_SIMULATOR_LATENCY_MS: '700' };
    // Several, so their share of the last 5 minutes' turns puts the p95 among them even after
    // the other stack tests' fast turns.
    for (let i = 0; i < 5; i++) {
      const turn = await ask(`remember that slow note ${i} is here`, slow);
      expect(turn.json.durationMs).toBeGreaterThan(1000);
    }
    const firing = await waitFor('MementoSlowTurns (test copy) firing', async () => {
      const { body } = await getJson(`${stack().urls.prometheus}/api/v1/alerts`);
      const alerts = body.data.alerts as { labels: Record<string, string>; state: string; value: string }[];
      return alerts.find((a) => a.labels.alertname === 'MementoSlowTurns' && a.labels.copy === 'test' && a.state === 'firing');
    }, 90_000);
    expect(Number(firing.value)).toBeGreaterThan(1000);
    expect(firing.labels.severity).toBe('warning');

    const { body } = await getJson(`${stack().urls.prometheus}/api/v1/alerts`);
    const shippedSlow = (body.data.alerts as { labels: Record<string, string> }[]).filter((a) => a.labels.alertname === 'MementoSlowTurns' && !a.labels.copy);
    expect(shippedSlow).toEqual([]);
  });
});

describe("Jaeger's Monitor tab backend", () => {
  const cases = [
    ['memento-client', 'client'],
    ['memento-client', 'internal'],
    ['memento-mcp-server', 'server'],
  ] as const;

  for (const [service, kind] of cases) {
    for (const what of ['latencies', 'calls'] as const) {
      it(`/api/metrics/${what} for ${service}, span kind ${kind}, has data per operation`, async () => {
        const params = new URLSearchParams({ service, spanKind: kind, groupByOperation: 'true', lookback: '600000', step: '5000', ratePer: '600000' });
        if (what === 'latencies') params.set('quantile', '0.95');
        const operations = await waitFor(`Monitor ${what} for ${service}/${kind}`, async () => {
          const { status, body, text } = await getJson(`${stack().urls.jaeger}/api/metrics/${what}?${params}`);
          if (status !== 200) throw new Error(`${status}: ${text.slice(0, 300)}`);
          const metrics = (body.metrics ?? []) as { labels: { name: string; value: string }[]; metricPoints: { gaugeValue?: { doubleValue?: number } }[] }[];
          const withData = metrics.filter((m) => m.metricPoints.some((p) => Number.isFinite(p.gaugeValue?.doubleValue) && p.gaugeValue!.doubleValue! > 0));
          return withData.length ? withData.map((m) => m.labels.find((l) => l.name === 'operation')?.value) : undefined;
        });
        const expected = { client: 'chat gpt-4o-mini', internal: 'invoke_agent memento', server: 'tools/call store_memory' }[kind];
        expect(operations).toContain(expected);
      });
    }
  }
});
