/*
 * What the collector's span_metrics connector produces, and under which names Prometheus
 * stores it, worked out from otel-collector.yaml rather than written down a second time.
 *
 * The connector (opentelemetry-collector-contrib, connector/spanmetricsconnector) emits
 * `<namespace>.calls` (a monotonic sum) and `<namespace>.duration` (a histogram in the
 * configured unit), with the data-point attributes service.name, span.name, span.kind,
 * status.code and the configured dimensions. span.kind and status.code carry the OTLP enum
 * names (SPAN_KIND_CLIENT, STATUS_CODE_ERROR …).
 *
 * The prometheus exporter with translation_strategy UnderscoreEscapingWithSuffixes (the
 * contrib Prometheus translator) splits a name on every character that is not a letter or
 * digit, appends the unit's long name (ms → milliseconds, s → seconds) and `total` for
 * counters, and joins the parts with `_`; a histogram becomes `_bucket` (with `le`), `_sum`
 * and `_count`. Attribute keys become labels with every invalid character replaced by `_`.
 */
import { readYaml } from './stack.ts';

export const SPAN_KINDS = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;
export const SPAN_KIND_VALUES = SPAN_KINDS.map((k) => `SPAN_KIND_${k}`);
export const STATUS_CODE_VALUES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

/** The connector's intrinsic dimensions, as span attributes. */
export const INTRINSIC_DIMENSIONS = ['service.name', 'span.name', 'span.kind', 'status.code'] as const;

const UNIT_NAMES: Record<string, string> = { ms: 'milliseconds', s: 'seconds' };

export interface CollectorConfig {
  extensions?: Record<string, unknown>;
  receivers?: Record<string, unknown>;
  processors?: Record<string, unknown>;
  exporters?: Record<string, unknown>;
  connectors?: Record<string, unknown>;
  service: {
    extensions?: string[];
    pipelines: Record<string, { receivers?: string[]; processors?: string[]; exporters?: string[] }>;
    telemetry?: unknown;
  };
}

export function collectorConfig(): CollectorConfig {
  return readYaml<CollectorConfig>('otel-collector.yaml');
}

/** `span_metrics/foo` → `span_metrics`. */
export function componentType(id: string): string {
  return id.split('/')[0] ?? id;
}

export function prometheusMetricName(otelName: string, unit: string | undefined, kind: 'counter' | 'histogram'): string {
  const parts = otelName.split(/[^A-Za-z0-9]+/).filter(Boolean);
  if (unit) {
    const long = UNIT_NAMES[unit];
    if (!long) throw new Error(`no Prometheus unit suffix known for "${unit}"`);
    parts.push(long);
  }
  if (kind === 'counter') parts.push('total');
  return parts.join('_');
}

export function prometheusLabelName(attribute: string): string {
  const label = attribute.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(label) ? `key_${label}` : label;
}

/** Go durations as the connector's buckets are written (`50ms`, `1s`, `7500ms`, `1m`) → ms. */
export function durationMs(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value.trim());
  if (!m) throw new Error(`not a duration the tests understand: "${value}"`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

export interface SpanMetricsConnector {
  id: string;
  namespace: string;
  unit: string;
  bucketsMs: number[];
  /** Configured dimensions, as span attribute keys, in order. */
  dimensions: string[];
}

export function spanMetricsConnector(config: CollectorConfig = collectorConfig()): SpanMetricsConnector {
  const ids = Object.keys(config.connectors ?? {}).filter((id) => componentType(id) === 'span_metrics');
  if (ids.length !== 1) throw new Error(`expected one span_metrics connector, found ${ids.length}`);
  const id = ids[0] as string;
  const c = (config.connectors?.[id] ?? {}) as {
    namespace?: string;
    histogram?: { unit?: string; explicit?: { buckets?: string[] } };
    dimensions?: { name: string }[];
  };
  return {
    id,
    // The connector's defaults (factory.go): namespace traces.span.metrics, unit ms.
    namespace: c.namespace ?? 'traces.span.metrics',
    unit: c.histogram?.unit ?? 'ms',
    bucketsMs: (c.histogram?.explicit?.buckets ?? []).map(durationMs),
    dimensions: (c.dimensions ?? []).map((d) => d.name),
  };
}

export interface PrometheusSpanMetrics {
  calls: string;
  durationBucket: string;
  durationSum: string;
  durationCount: string;
  /** Labels on every series: the intrinsic dimensions and the configured ones. */
  labels: string[];
  /** Span attribute → Prometheus label, for the configured dimensions. */
  dimensionLabels: Map<string, string>;
  connector: SpanMetricsConnector;
}

export function prometheusSpanMetrics(config: CollectorConfig = collectorConfig()): PrometheusSpanMetrics {
  const connector = spanMetricsConnector(config);
  const duration = prometheusMetricName(`${connector.namespace}.duration`, connector.unit, 'histogram');
  const dimensionLabels = new Map(connector.dimensions.map((d) => [d, prometheusLabelName(d)]));
  return {
    calls: prometheusMetricName(`${connector.namespace}.calls`, undefined, 'counter'),
    durationBucket: `${duration}_bucket`,
    durationSum: `${duration}_sum`,
    durationCount: `${duration}_count`,
    labels: [...INTRINSIC_DIMENSIONS.map(prometheusLabelName), ...dimensionLabels.values()],
    dimensionLabels,
    connector,
  };
}
