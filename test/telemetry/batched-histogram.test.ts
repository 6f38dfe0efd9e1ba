/*
 * gen_ai.client.operation.time_per_output_chunk batched per call (src/telemetry/batched-histogram.ts)
 * against the SDK's own histogram fed one value per chunk: the same records, at the same
 * (fake) times, through the same reader and exporter path Memento uses (a
 * PeriodicExportingMetricReader, redactingMetricExporter), serialized by the OTLP/JSON
 * serializer the exporter uses. Every export must be equal: buckets, sum, count, min, max,
 * attributes, start and end times, temporality, resource and scope; the only allowed
 * difference is the metric's place among its scope's metrics (a MetricProducer's metrics
 * come after the SDK's), so metrics are compared sorted by name.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Attributes } from '@opentelemetry/api';
import { AggregationTemporality, AggregationType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { JsonMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchedHistogram } from '../../src/telemetry/batched-histogram.ts';
import { METER_NAME, TIME_PER_OUTPUT_CHUNK_OPTIONS } from '../../src/telemetry/instruments.ts';
import { redactingMetricExporter } from '../../src/telemetry/redact.ts';
import { METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK } from '../../src/telemetry/semconv.ts';
import { VERSION } from '../../src/version.ts';

interface Pipeline {
  /** One chat call's chunk gaps (ms) under one attribute set. */
  call(gapsMs: number[], attributes: Attributes): void;
  /** What one export sends, as OTLP/JSON, metrics sorted by name; undefined when nothing was exported. */
  collect(): Promise<unknown>;
  shutdown(): Promise<void>;
}

function pipeline(temporality: AggregationTemporality, batched: boolean, histogramLimit?: number): Pipeline & { histogram?: BatchedHistogram; reader: PeriodicExportingMetricReader } {
  const exporter = new InMemoryMetricExporter(temporality);
  const histogram = batched ? new BatchedHistogram(METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK, TIME_PER_OUTPUT_CHUNK_OPTIONS, { name: METER_NAME, version: VERSION }) : undefined;
  const producer = histogram?.producer();
  const reader = new PeriodicExportingMetricReader({
    exporter: redactingMetricExporter(exporter),
    exportIntervalMillis: 3_600_000,
    ...(producer ? { metricProducers: [producer] } : {}),
    ...(histogramLimit ? { cardinalityLimits: { histogram: histogramLimit } } : {}),
  });
  producer?.bind(reader);
  const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'memento-test' }), readers: [reader] });
  const meter = provider.getMeter(METER_NAME, VERSION);
  // Another metric of the same scope, recorded by the SDK in both pipelines: the scope's
  // entries must fold into one.
  const calls = meter.createCounter('memento.test.calls');
  const sdk = batched ? undefined : meter.createHistogram(METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK, TIME_PER_OUTPUT_CHUNK_OPTIONS);
  return {
    histogram,
    reader,
    call(gapsMs, attributes) {
      calls.add(1, attributes);
      // genai.ts before: one record per chunk; now: one recordEach per call.
      if (histogram) histogram.recordEach(gapsMs, attributes, 1000);
      else for (const gap of gapsMs) sdk!.record(gap / 1000, attributes);
    },
    async collect() {
      await reader.forceFlush();
      const sent = exporter.getMetrics();
      exporter.reset();
      expect(sent.length).toBeLessThanOrEqual(1);
      return sent[0] && otlp(sent[0]);
    },
    shutdown: () => provider.shutdown(),
  };
}

function otlp(metrics: ResourceMetrics): unknown {
  const request = JSON.parse(new TextDecoder().decode(JsonMetricsSerializer.serializeRequest(metrics))) as {
    resourceMetrics: { scopeMetrics: { metrics: { name: string }[] }[] }[];
  };
  for (const rm of request.resourceMetrics) for (const sm of rm.scopeMetrics) sm.metrics.sort((a, b) => a.name.localeCompare(b.name));
  return request;
}

const TARGET = {
  'gen_ai.operation.name': 'chat',
  'gen_ai.provider.name': 'azure.ai.openai',
  'gen_ai.request.model': 'gpt-4o-mini',
  'server.address': 'example.openai.azure.com',
  'server.port': 443,
};
const REVERSED: Attributes = Object.fromEntries(Object.entries(TARGET).reverse());
const OTHER_MODEL = { ...TARGET, 'gen_ai.request.model': 'gpt-4.1' };
const WITH_RESPONSE = { ...TARGET, 'gen_ai.response.model': 'gpt-4o-mini-2024-07-18' };

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-11-30T04:00:00.000Z'));
});
afterEach(() => vi.useRealTimers());

/** Runs the same steps on both pipelines at the same fake times; the exports must be equal. */
async function compare(temporality: AggregationTemporality, steps: ((p: Pipeline) => void | 'collect')[], limit?: number) {
  const sdk = pipeline(temporality, false, limit);
  const batched = pipeline(temporality, true, limit);
  expect(batched.histogram!.usable()).toBe(true);
  const exports: unknown[] = [];
  try {
    for (const step of steps) {
      vi.advanceTimersByTime(1234);
      if (step(sdk) === 'collect') {
        const [a, b] = [await sdk.collect(), await batched.collect()];
        expect(b).toEqual(a);
        exports.push(a);
      } else {
        step(batched);
      }
    }
  } finally {
    await sdk.shutdown();
    await batched.shutdown();
  }
  return exports;
}

const collect = () => 'collect' as const;
/** Gaps that hit bucket boundaries exactly (10 ms, 25 ms, 2.5 s), the first and the overflow bucket, and sums that round. */
const STEPS: ((p: Pipeline) => void | 'collect')[] = [
  (p) => p.call([12, 30, 30.5, 250, 0, 2600, 10, 25, 0.1, 0.2, 0.30000000000000004], TARGET),
  (p) => p.call([5, 99.9], OTHER_MODEL),
  collect,
  (p) => p.call([40, 7], REVERSED),
  (p) => p.call([], OTHER_MODEL),
  (p) => p.call([1e6 / 3, 17.3], WITH_RESPONSE),
  collect,
  collect,
  // A negative value is dropped with a warning, as by the SDK's histogram.
  (p) => p.call([-5, 3], OTHER_MODEL),
  collect,
  (p) => p.call([8], WITH_RESPONSE),
  collect,
];

function histogramOf(exported: unknown) {
  const request = exported as { resourceMetrics: { scopeMetrics: { scope: { name: string }; metrics: { name: string; histogram?: { aggregationTemporality: number; dataPoints: { count: number | string; attributes: { key: string }[] }[] } }[] }[] }[] };
  if (!request) return { scopes: [], metric: undefined };
  const scopes = request.resourceMetrics[0]!.scopeMetrics;
  return { scopes: scopes.map((s) => s.scope.name), metric: scopes.flatMap((s) => s.metrics).find((m) => m.name === METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK) };
}

describe('time_per_output_chunk batched per call', () => {
  it('exports what the SDK histogram exports, cumulative', async () => {
    const exports = await compare(AggregationTemporality.CUMULATIVE, STEPS);
    expect(exports).toHaveLength(5);
    // Not vacuous: one memento scope, the histogram in every export, its series growing.
    const last = histogramOf(exports.at(-1));
    expect(last.scopes).toEqual([METER_NAME]);
    expect(last.metric?.histogram?.aggregationTemporality).toBe(2);
    expect(last.metric?.histogram?.dataPoints.map((d) => Number(d.count))).toEqual([13, 3, 3]);
  });

  it('exports what the SDK histogram exports, delta', async () => {
    const exports = await compare(AggregationTemporality.DELTA, STEPS);
    expect(exports).toHaveLength(5);
    const counts = exports.map((e) => histogramOf(e).metric?.histogram?.dataPoints.map((d) => Number(d.count)));
    // The third export had no records: no histogram in it (the counter is not there either).
    expect(counts).toEqual([[11, 2], [2, 2], undefined, [1], [1]]);
    expect(histogramOf(exports[0]).metric?.histogram?.aggregationTemporality).toBe(1);
  });

  for (const temporality of [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA]) {
    it(`past the cardinality limit, the same otel.metric.overflow series (${AggregationTemporality[temporality]})`, async () => {
      const sets = Array.from({ length: 5 }, (_, i) => ({ ...TARGET, 'gen_ai.request.model': `model-${i}` }));
      const exports = await compare(
        temporality,
        [...sets.map((set, i) => (p: Pipeline) => p.call([i + 1, 2 * i + 1], set)), collect, (p) => p.call([9], sets[4]!), (p) => p.call([4], sets[0]!), collect],
        3,
      );
      const points = histogramOf(exports[0]).metric?.histogram?.dataPoints ?? [];
      expect(points.some((d) => d.attributes.some((a) => a.key === 'otel.metric.overflow'))).toBe(true);
    });
  }

  it('is not used by a reader that aggregates histograms otherwise', () => {
    const histogram = new BatchedHistogram(METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK, TIME_PER_OUTPUT_CHUNK_OPTIONS, { name: METER_NAME, version: VERSION });
    const producer = histogram.producer();
    const exponential = Object.assign(new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), {
      selectAggregation: () => ({ type: AggregationType.EXPONENTIAL_HISTOGRAM }) as const,
    });
    producer.bind(new PeriodicExportingMetricReader({ exporter: exponential, metricProducers: [producer] }));
    expect(histogram.usable()).toBe(false);
  });
});
