/*
 * The last stop before any span leaves the process: the first span processor, so what the
 * turn recorder, the trace file, the OTLP exporter and any other processor see has already
 * been scrubbed. Every string a span carries — name, attributes (url.full and url.query of the
 * HTTP client and server spans among them), status message, events (exception messages and
 * stacks), links — goes through log.ts `redact`: registered secrets (API key, tokens, the
 * credentials in configured URLs), URL userinfo and secret-looking query parameters.
 * Metrics get the same on their way to OTLP (`redactingMetricExporter`).
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { PushMetricExporter, ResourceMetrics, ScopeMetrics } from '@opentelemetry/sdk-metrics';
import type { ExportResult } from '@opentelemetry/core';
import { redact } from '../log.ts';

function clean(value: AttributeValue | undefined): AttributeValue | undefined {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((v) => {
      if (typeof v !== 'string') return v;
      const r = redact(v);
      if (r !== v) changed = true;
      return r;
    });
    return (changed ? out : value) as AttributeValue;
  }
  return value;
}

export function redactAttributes(attributes: Attributes | undefined): void {
  if (!attributes) return;
  // for…in: no array of keys per span; numbers and booleans (half of a span's values) are
  // passed over without a call.
  for (const key in attributes) {
    const before = attributes[key];
    if (typeof before !== 'string' && !Array.isArray(before)) continue;
    const after = clean(before);
    if (after !== before) attributes[key] = after;
  }
}

/** Scrubs a finished span in place (its fields are plain data once it has ended). */
export function redactSpan(span: ReadableSpan): void {
  const writable = span as { -readonly [K in keyof ReadableSpan]: ReadableSpan[K] };
  const name = redact(span.name);
  if (name !== span.name) writable.name = name;
  if (span.status.message) {
    const message = redact(span.status.message);
    if (message !== span.status.message) writable.status = { ...span.status, message };
  }
  redactAttributes(span.attributes);
  for (const event of span.events) {
    const eventName = redact(event.name);
    if (eventName !== event.name) (event as { name: string }).name = eventName;
    redactAttributes(event.attributes);
  }
  for (const link of span.links) redactAttributes(link.attributes);
}

export class RedactingSpanProcessor implements SpanProcessor {
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    try {
      redactSpan(span);
    } catch {
      // Never let scrubbing break the application; the span is scrubbed as far as it got.
    }
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * One ScopeMetrics per scope, as the SDK alone makes them: a MetricProducer's metrics
 * (batched-histogram.ts) come in an entry of their own after the SDK's, with the same scope.
 */
function foldScopes(metrics: ResourceMetrics): void {
  const scopes = metrics.scopeMetrics;
  if (scopes.length < 2) return;
  const kept: ScopeMetrics[] = [];
  for (const entry of scopes) {
    const { name, version, schemaUrl } = entry.scope;
    const same = kept.find((k) => k.scope.name === name && k.scope.version === version && k.scope.schemaUrl === schemaUrl);
    if (same) same.metrics = same.metrics.concat(entry.metrics);
    else kept.push(entry);
  }
  if (kept.length < scopes.length) metrics.scopeMetrics = kept;
}

/**
 * The same scrubbing for metrics on their way to OTLP: Memento's metric attributes are fixed,
 * low-cardinality sets (no URL, no message), so this is a guarantee rather than a filter.
 */
export function redactingMetricExporter(inner: PushMetricExporter): PushMetricExporter {
  return {
    export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
      try {
        foldScopes(metrics);
        for (const scope of metrics.scopeMetrics) {
          for (const metric of scope.metrics) {
            for (const point of metric.dataPoints as { attributes: Attributes }[]) {
              // A copy when anything changes: the attribute set may be the aggregator's own key.
              const copy = { ...point.attributes };
              redactAttributes(copy);
              if (Object.keys(copy).some((k) => copy[k] !== point.attributes[k])) point.attributes = copy;
            }
          }
        }
      } catch {
        // As for spans: scrubbing never breaks the export.
      }
      inner.export(metrics, resultCallback);
    },
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
    ...(inner.selectAggregationTemporality ? { selectAggregationTemporality: inner.selectAggregationTemporality.bind(inner) } : {}),
    ...(inner.selectAggregation ? { selectAggregation: inner.selectAggregation.bind(inner) } : {}),
  };
}
