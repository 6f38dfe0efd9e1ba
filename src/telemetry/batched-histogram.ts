/*
 * An explicit-bucket histogram recorded a batch of values at a time, for
 * gen_ai.client.operation.time_per_output_chunk: a streamed call has one value per chunk, and
 * the SDK's `Histogram.record` hashes the attribute set (sort + JSON.stringify) and looks it
 * up again for every value — 27 % of the client's whole tracing cost in the instruction count
 * (BENCHMARKS.md, issue 15). Here the set is hashed once per call and each value is a binary
 * search and four additions.
 *
 * It reaches the exporter as a `MetricProducer` of the reader (sdk-metrics' own hook for
 * metrics made outside the SDK) and emits exactly what the SDK's histogram would: the same
 * descriptor and scope, the advice's bucket boundaries, the reader's temporality (start times
 * as sdk-metrics sets them: the series' first record; for delta, the previous collection when
 * the series was reported there), min and max, the per-collection cardinality limit with the
 * `otel.metric.overflow` series, no metric when nothing is to be reported. The sums are
 * added in the SDK's order, so they are equal to the last bit. test/telemetry/batched-histogram.test.ts
 * compares the OTLP export with the SDK's histogram's for both temporalities.
 *
 * Only for readers that aggregate histograms the default way; setup.ts falls back to the
 * SDK's histogram otherwise (a reader it did not build, or an exporter whose aggregation
 * preference is not the default, e.g. exponential buckets; the installed OTLP exporter reads
 * no environment variable for that).
 */
import { diag, ValueType, type Attributes, type HrTime, type MetricAdvice } from '@opentelemetry/api';
import { millisToHrTime, type InstrumentationScope } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  AggregationType,
  DataPointType,
  InstrumentType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type HistogramMetricData,
  type IMetricReader,
  type MetricDescriptor,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { ValuesRecorder } from './instruments.ts';

/** The histogram's options as given to `meter.createHistogram`. */
export interface HistogramOptions {
  unit: string;
  description: string;
  advice: MetricAdvice & { explicitBucketBoundaries: number[] };
}

/** sdk-metrics' InstrumentDescriptor for a histogram made with these options. */
type Descriptor = MetricDescriptor & { type: InstrumentType; advice: MetricAdvice };

/** One attribute set's values in one collection interval (sdk-metrics' HistogramAccumulation). */
interface Series {
  attributes: Attributes;
  startTime: HrTime;
  counts: number[];
  count: number;
  sum: number;
  min: number;
  max: number;
  hasMinMax: boolean;
}

const OVERFLOW: Attributes = { 'otel.metric.overflow': true };

/** sdk-metrics' hashAttributes: the series key. */
function hashAttributes(attributes: Attributes): string {
  const keys = Object.keys(attributes);
  if (keys.length === 0) return '';
  keys.sort();
  return JSON.stringify(keys.map((key) => [key, attributes[key]]));
}

const OVERFLOW_KEY = hashAttributes(OVERFLOW);

/** sdk-metrics' binarySearchUB: the bucket of `value` (upper bounds inclusive). */
function bucketOf(boundaries: readonly number[], value: number): number {
  let lo = 0;
  let hi = boundaries.length - 1;
  let ret = boundaries.length;
  while (hi >= lo) {
    const mid = lo + Math.trunc((hi - lo) / 2);
    if (boundaries[mid]! < value) lo = mid + 1;
    else {
      ret = mid;
      hi = mid - 1;
    }
  }
  return ret;
}

/** The recording side, shared by the producers of every reader. */
export class BatchedHistogram implements ValuesRecorder {
  readonly descriptor: Descriptor;
  readonly boundaries: readonly number[];
  private readonly producers: ReaderProducer[] = [];
  private on = true;

  readonly scope: InstrumentationScope;

  constructor(name: string, options: HistogramOptions, scope: InstrumentationScope) {
    this.scope = scope;
    this.descriptor = {
      name,
      type: InstrumentType.HISTOGRAM,
      description: options.description,
      unit: options.unit,
      valueType: ValueType.DOUBLE,
      advice: options.advice,
    };
    this.boundaries = options.advice.explicitBucketBoundaries;
  }

  /** A producer for one reader's `metricProducers`; `bind` it to that reader once it is built. */
  producer(): ReaderProducer {
    const p = new ReaderProducer(this);
    this.producers.push(p);
    return p;
  }

  /** Whether every producer has its reader and that reader aggregates histograms the default way. */
  usable(): boolean {
    return this.producers.length > 0 && this.producers.every((p) => p.usable());
  }

  /** Stops recording: the SDK's histogram records instead, and the producers report nothing. */
  disable(): void {
    this.on = false;
  }

  /** Records `values[i] / divisor` for every i, with one attribute set: what a loop of `Histogram.record` would. */
  recordEach(values: readonly number[], attributes: Attributes, divisor = 1): void {
    if (!this.on || values.length === 0) return;
    const key = hashAttributes(attributes);
    const now = Date.now();
    for (const p of this.producers) p.record(key, attributes, values, divisor, now);
  }
}

/** One reader's view: its own interval and report history, as sdk-metrics keeps one storage per reader. */
export class ReaderProducer implements MetricProducer {
  private reader: IMetricReader | undefined;
  private active = new Map<string, Series>();
  private limit = 2000 - 1;
  private temporality: AggregationTemporality | undefined;
  /** What the last collection reported (cumulative: the running totals), and when. */
  private last = new Map<string, Series>();
  private lastCollectionTime: HrTime | undefined;

  private readonly histogram: BatchedHistogram;

  constructor(histogram: BatchedHistogram) {
    this.histogram = histogram;
  }

  bind(reader: IMetricReader): void {
    this.reader = reader;
    this.limit = (reader.selectCardinalityLimit?.(InstrumentType.HISTOGRAM) ?? 2000) - 1;
  }

  usable(): boolean {
    return this.reader !== undefined && this.reader.selectAggregation(InstrumentType.HISTOGRAM).type === AggregationType.DEFAULT;
  }

  record(key: string, attributes: Attributes, values: readonly number[], divisor: number, nowMs: number): void {
    let series = this.active.get(key);
    for (let i = 0; i < values.length; i++) {
      const value = values[i]! / divisor;
      // HistogramInstrument.record's check, before any series is made.
      if (value < 0) {
        diag.warn(`negative value provided to histogram ${this.histogram.descriptor.name}: ${value}`);
        continue;
      }
      if (!series) {
        const startTime = millisToHrTime(nowMs);
        if (this.active.size >= this.limit) {
          // DeltaMetricProcessor.record: past the cardinality limit, into the overflow series.
          series = this.active.get(OVERFLOW_KEY);
          if (!series) this.active.set(OVERFLOW_KEY, (series = this.empty(OVERFLOW, startTime)));
        } else {
          this.active.set(key, (series = this.empty(attributes, startTime)));
        }
      }
      if (Number.isNaN(value)) continue;
      series.count += 1;
      series.sum += value;
      series.min = Math.min(value, series.min);
      series.max = Math.max(value, series.max);
      series.hasMinMax = true;
      series.counts[bucketOf(this.histogram.boundaries, value)]! += 1;
    }
  }

  private empty(attributes: Attributes, startTime: HrTime): Series {
    return {
      attributes,
      startTime,
      counts: new Array<number>(this.histogram.boundaries.length + 1).fill(0),
      count: 0,
      sum: 0,
      min: Infinity,
      max: -Infinity,
      hasMinMax: false,
    };
  }

  async collect(): Promise<CollectionResult> {
    // MetricCollector.collect's collection time.
    const collectionTime = millisToHrTime(Date.now());
    const current = this.active;
    this.active = new Map();
    // TemporalMetricProcessor: the temporality is chosen at the first collection and kept.
    this.temporality ??= this.reader?.selectAggregationTemporality(InstrumentType.HISTOGRAM) ?? AggregationTemporality.CUMULATIVE;
    let result: Map<string, Series>;
    if (this.lastCollectionTime === undefined) {
      result = current;
    } else if (this.temporality === AggregationTemporality.CUMULATIVE) {
      result = this.last;
      for (const [key, delta] of current) {
        const previous = result.get(key);
        result.set(key, previous ? merge(previous, delta) : delta);
      }
    } else {
      result = current;
      const since = this.lastCollectionTime;
      for (const key of this.last.keys()) {
        const series = result.get(key);
        if (series) series.startTime = since;
      }
    }
    this.last = result;
    this.lastCollectionTime = collectionTime;
    const scopeMetrics = [];
    if (result.size > 0) {
      const metric: HistogramMetricData = {
        descriptor: this.histogram.descriptor,
        aggregationTemporality: this.temporality,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: Array.from(result.values(), (s) => point(s, this.histogram.boundaries, collectionTime)),
      };
      scopeMetrics.push({ scope: this.histogram.scope, metrics: [metric] });
    }
    return { resourceMetrics: { resource: emptyResource(), scopeMetrics }, errors: [] };
  }
}

/** HistogramAggregator.merge: a new series, so that what was exported is never changed. */
function merge(previous: Series, delta: Series): Series {
  const counts = new Array<number>(previous.counts.length);
  for (let i = 0; i < counts.length; i++) counts[i] = previous.counts[i]! + delta.counts[i]!;
  let min = Infinity;
  let max = -Infinity;
  if (previous.hasMinMax && delta.hasMinMax) {
    min = Math.min(previous.min, delta.min);
    max = Math.max(previous.max, delta.max);
  } else if (previous.hasMinMax) {
    min = previous.min;
    max = previous.max;
  } else if (delta.hasMinMax) {
    min = delta.min;
    max = delta.max;
  }
  return {
    attributes: previous.attributes,
    startTime: previous.startTime,
    counts,
    count: previous.count + delta.count,
    sum: previous.sum + delta.sum,
    min,
    max,
    hasMinMax: previous.hasMinMax || delta.hasMinMax,
  };
}

function point(s: Series, boundaries: readonly number[], endTime: HrTime): DataPoint<Histogram> {
  return {
    attributes: s.attributes,
    startTime: s.startTime,
    endTime,
    value: {
      min: s.hasMinMax ? s.min : undefined,
      max: s.hasMinMax ? s.max : undefined,
      sum: s.sum,
      buckets: { boundaries: boundaries as number[], counts: s.counts },
      count: s.count,
    },
  };
}
