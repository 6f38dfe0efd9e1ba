/*
 * The alert rules and their promtool tests use the metric and label names that the
 * collector's span_metrics connector produces for the spans docs/design.md promises. Both sides
 * are derived: the names from otel-collector.yaml (span-metrics.ts), the spans from
 * docs/design.md (design.ts). A renamed span, a dropped dimension or a changed namespace fails
 * here instead of leaving an alert that can never fire.
 */
import { describe, expect, it } from 'vitest';
import * as semconv from '../../src/telemetry/semconv.ts';
import { concreteSpans, designSpans, type DesignSpan } from './design.ts';
import {
  matches,
  parseSeries,
  resultLabels,
  selectors,
  thresholds,
  groupingLabels,
  type Selector,
} from './promql.ts';
import {
  prometheusMetricName,
  prometheusSpanMetrics,
  SPAN_KIND_VALUES,
  STATUS_CODE_VALUES,
} from './span-metrics.ts';
import { readText, readYaml } from './stack.ts';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface PromtoolTests {
  rule_files: string[];
  tests: {
    name?: string;
    input_series: { series: string; values: string }[];
    alert_rule_test?: { eval_time: string; alertname: string; exp_alerts: { exp_labels?: Record<string, string> }[] }[];
  }[];
}

const exported = prometheusSpanMetrics();
const SPAN_METRICS = [exported.calls, exported.durationBucket, exported.durationSum, exported.durationCount];
/** Labels a span-metrics series carries in Prometheus: the connector's, `le` on buckets, the scrape's. */
const SERIES_LABELS = new Set([...exported.labels, 'le', 'job', 'instance']);
const spans = concreteSpans();

/**
 * Alerts that span metrics cannot express use the client's own OTLP metrics, named in
 * semconv.ts and served by the collector's prometheus exporter with the attributes the
 * client records on them (src/telemetry/genai.ts) as labels and `job` = service.name
 * (honor_labels in prometheus.yml).
 */
const CHAT_METRIC_ATTRIBUTES = [
  semconv.ATTR_GEN_AI_OPERATION_NAME,
  semconv.ATTR_GEN_AI_PROVIDER_NAME,
  semconv.ATTR_GEN_AI_REQUEST_MODEL,
  semconv.ATTR_GEN_AI_RESPONSE_MODEL,
  semconv.ATTR_SERVER_ADDRESS,
  semconv.ATTR_SERVER_PORT,
];
const CLIENT_METRICS = new Map([
  [
    `${prometheusMetricName(semconv.METRIC_GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK, 's', 'histogram')}_bucket`,
    {
      labels: new Set([...CHAT_METRIC_ATTRIBUTES.map((a) => a.replace(/[^A-Za-z0-9_]/g, '_')), 'le', 'job', 'instance']),
      buckets: semconv.BUCKETS_GEN_AI_OPERATION_DURATION_S,
    },
  ],
]);
const isClientMetricRule = (rule: Rule) => selectors(rule.expr).some((s) => CLIENT_METRICS.has(s.metric));
const alerts = readYaml<RuleFile>('deploy/prometheus/alerts.yml').groups.flatMap((g) => g.rules);
const unitTests = readYaml<PromtoolTests>('deploy/prometheus/alerts.test.yml');

/** A span-metrics series label set that a span of docs/design.md could produce. */
function spanLabels(span: DesignSpan): Record<string, string> {
  return {
    service_name: span.service,
    span_name: span.name,
    span_kind: `SPAN_KIND_${span.kind}`,
  };
}

function spansMatching(selector: Selector): DesignSpan[] {
  const intrinsic = selector.matchers.filter((m) => ['service_name', 'span_name', 'span_kind'].includes(m.label));
  return spans.filter((span) => intrinsic.every((m) => matches(m, spanLabels(span)[m.label])));
}

describe('span metrics as Prometheus stores them', () => {
  it('are named from the connector settings (the names Jaeger’s Monitor tab queries)', () => {
    // Written out once, as a readable statement of what the derivation yields for the
    // current otel-collector.yaml; every other check below uses the derived names.
    expect(exported.calls).toBe('traces_span_metrics_calls_total');
    expect(exported.durationBucket).toBe('traces_span_metrics_duration_milliseconds_bucket');
    expect(exported.labels).toEqual([
      'service_name', 'span_name', 'span_kind', 'status_code',
      'gen_ai_request_model', 'gen_ai_tool_name', 'memento_phase',
    ]);
  });

  it('are translated the way the derivation assumes', () => {
    const prom = readYaml<{ exporters: Record<string, { translation_strategy?: string }> }>('otel-collector.yaml');
    expect(prom.exporters.prometheus?.translation_strategy).toBe('UnderscoreEscapingWithSuffixes');
  });

  it('cover the spans docs/design.md names, with the services semconv.ts uses', () => {
    const names = designSpans().map((s) => `${s.service} ${s.name} ${s.kind}`);
    expect(names).toContain(`${semconv.SERVICE_NAME_CLIENT} invoke_agent ${semconv.AGENT_NAME} INTERNAL`);
    expect(names).toContain(`${semconv.SERVICE_NAME_CLIENT} chat {deployment} CLIENT`);
    expect(names.some((n) => n.startsWith(`${semconv.SERVICE_NAME_SERVER} tools/call `))).toBe(true);
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  it('has the alerts the issues ask for', () => {
    expect(alerts.map((a) => a.alert)).toEqual([
      'MementoSlowTurns',
      'MementoSlowAzureCalls',
      'MementoSlowToolCalls',
      'MementoSlowFirstToken',
      'MementoToolErrorRatio',
    ]);
  });

  for (const rule of alerts.filter(isClientMetricRule)) {
    describe(rule.alert ?? '?', () => {
      const sels = selectors(rule.expr);
      it("selects only the client's metrics, by labels it records, for the client's service", () => {
        for (const s of sels) {
          const metric = CLIENT_METRICS.get(s.metric);
          expect(metric, s.metric).toBeDefined();
          for (const m of s.matchers) expect(metric!.labels, `${s.metric}{${m.label}}`).toContain(m.label);
          expect(s.matchers).toContainEqual(expect.objectContaining({ label: 'job', value: semconv.SERVICE_NAME_CLIENT }));
          for (const label of groupingLabels(rule.expr)) expect(metric!.labels, `by (${label})`).toContain(label);
        }
      });
      it('compares its p95 with a bucket bound of the histogram', () => {
        const [threshold] = thresholds(rule.expr);
        expect(CLIENT_METRICS.get(sels[0]!.metric)!.buckets).toContain(threshold);
      });
      it('fills its annotations only with labels the result has', () => {
        const kept = new Set(resultLabels(rule.expr));
        for (const text of Object.values(rule.annotations ?? {})) {
          for (const m of text.matchAll(/\$labels\.([A-Za-z_][A-Za-z0-9_]*)/g)) expect(kept).toContain(m[1]);
        }
      });
    });
  }

  for (const rule of alerts.filter((r) => !isClientMetricRule(r))) {
    describe(rule.alert ?? rule.record ?? '?', () => {
      const sels = selectors(rule.expr);

      it('selects only span metrics, by labels the connector produces', () => {
        expect(sels.length).toBeGreaterThan(0);
        for (const s of sels) {
          expect(SPAN_METRICS, s.metric).toContain(s.metric);
          for (const m of s.matchers) expect(SERIES_LABELS, `${s.metric}{${m.label}}`).toContain(m.label);
        }
        for (const label of groupingLabels(rule.expr)) expect(SERIES_LABELS, `by (${label})`).toContain(label);
      });

      it('selects spans that docs/design.md promises, with valid kind and status values', () => {
        for (const s of sels) {
          expect(spansMatching(s).length, `${s.metric}{${s.matchers.map((m) => `${m.label}${m.op}"${m.value}"`).join(', ')}}`).toBeGreaterThan(0);
          for (const m of s.matchers.filter((x) => x.label === 'span_kind')) {
            expect(SPAN_KIND_VALUES.some((v) => matches(m, v)), m.value).toBe(true);
          }
          for (const m of s.matchers.filter((x) => x.label === 'status_code')) {
            expect(STATUS_CODE_VALUES.some((v) => matches(m, v)), m.value).toBe(true);
          }
          // Every selector pins the service, the span and its kind: the client and the
          // server share span names (tools/call …) and must not be mixed.
          expect(s.matchers.map((m) => m.label)).toEqual(expect.arrayContaining(['service_name', 'span_name', 'span_kind']));
        }
      });

      it('groups by dimensions that the selected spans carry', () => {
        const selected = sels.flatMap(spansMatching);
        for (const label of resultLabels(rule.expr)) {
          const dimension = [...exported.dimensionLabels].find(([, l]) => l === label)?.[0];
          expect(dimension, `${label} is a configured dimension`).toBeDefined();
          if (dimension === semconv.ATTR_GEN_AI_TOOL_NAME) {
            expect(selected.every((s) => s.name.startsWith('tools/call '))).toBe(true);
          }
          if (dimension === semconv.ATTR_MEMENTO_PHASE || dimension === semconv.ATTR_GEN_AI_REQUEST_MODEL) {
            expect(selected.every((s) => s.name.startsWith('chat '))).toBe(true);
          }
        }
      });

      it('fills its annotations only with labels the result has', () => {
        const kept = new Set(resultLabels(rule.expr));
        for (const [key, text] of Object.entries(rule.annotations ?? {})) {
          for (const m of text.matchAll(/\$labels\.([A-Za-z_][A-Za-z0-9_]*)/g)) {
            expect(kept, `annotation ${key} uses $labels.${m[1]}`).toContain(m[1]);
          }
        }
        expect(rule.annotations?.summary).toBeTruthy();
        expect(rule.annotations?.description).toBeTruthy();
      });

      if (rule.expr.includes('histogram_quantile')) {
        it('compares its p95 with a bucket bound of the connector’s histogram', () => {
          const [threshold] = thresholds(rule.expr);
          expect(exported.connector.bucketsMs).toContain(threshold);
        });
      }
    });
  }
});

describe('deploy/prometheus/alerts.test.yml', () => {
  it('tests the rules in alerts.yml', () => {
    expect(unitTests.rule_files).toEqual(['alerts.yml']);
  });

  it('shows every alert firing and staying quiet', () => {
    for (const rule of alerts) {
      const cases = unitTests.tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.alertname === rule.alert);
      expect(cases.some((c) => c.exp_alerts.length > 0), `${rule.alert} fires`).toBe(true);
      expect(cases.some((c) => c.exp_alerts.length === 0), `${rule.alert} stays quiet`).toBe(true);
    }
  });

  it('feeds series shaped like the connector’s, for spans docs/design.md promises', () => {
    const phases = [semconv.MEMENTO_PHASE_VALUE_INTENT, semconv.MEMENTO_PHASE_VALUE_SUMMARIZE];
    for (const input of unitTests.tests.flatMap((t) => t.input_series)) {
      const { metric, labels } = parseSeries(input.series);
      const client = CLIENT_METRICS.get(metric);
      if (client) {
        for (const label of Object.keys(labels)) expect(client.labels, `${input.series}: ${label}`).toContain(label);
        expect(labels.job).toBe(semconv.SERVICE_NAME_CLIENT);
        expect('le' in labels, `${input.series}: le`).toBe(true);
        continue;
      }
      expect(SPAN_METRICS, metric).toContain(metric);
      for (const label of Object.keys(labels)) expect(SERIES_LABELS, `${input.series}: ${label}`).toContain(label);
      const span = spans.find((s) => Object.entries(spanLabels(s)).every(([k, v]) => labels[k] === v));
      expect(span, `${input.series} is a docs/design.md span`).toBeDefined();
      expect(STATUS_CODE_VALUES).toContain(labels.status_code);
      expect('le' in labels, `${input.series}: le`).toBe(metric === exported.durationBucket);
      if (labels.gen_ai_tool_name) expect(labels.span_name).toBe(`tools/call ${labels.gen_ai_tool_name}`);
      if (labels.gen_ai_request_model) expect(labels.span_name).toBe(`chat ${labels.gen_ai_request_model}`);
      if (labels.memento_phase) expect(phases).toContain(labels.memento_phase);
    }
  });
});

describe('README.md', () => {
  it('explains every alert', () => {
    const doc = readText('README.md');
    for (const rule of alerts) expect(doc).toContain(rule.alert);
  });
});
