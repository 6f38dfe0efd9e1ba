/*
 * One span shape for every trace view. Spans reach `memento traces` and the terminal summary
 * from three places — lines of the local trace file and Jaeger's /api/v3 answers (both
 * OTLP/JSON) and the SDK's in-memory ReadableSpans of the turn that just ended — and each
 * speaks a slightly different dialect (hex or base64 ids, nanoseconds as strings or numbers,
 * enums as numbers or names). They are normalised here once, so the analysis and the
 * drawing never care where a span came from.
 */
import { SpanKind, SpanStatusCode, type HrTime } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_SERVICE_NAME,
  GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT,
} from '../telemetry/semconv.ts';

export type TraceSpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type TraceSpanStatus = 'unset' | 'ok' | 'error';

export interface TraceSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** The resource's service.name, or '' when the exporter sent none. */
  service: string;
  kind: TraceSpanKind;
  /** Epoch milliseconds, fractional (microsecond precision survives the conversion). */
  startMs: number;
  endMs: number;
  durationMs: number;
  attributes: Record<string, unknown>;
  status: TraceSpanStatus;
  statusMessage?: string;
}

/** The spans of one trace id, earliest first. */
export interface Trace {
  traceId: string;
  spans: TraceSpan[];
  startMs: number;
  endMs: number;
}

/** A trace whose root is the client's `invoke_agent memento` span: one user turn. */
export interface Turn extends Trace {
  root: TraceSpan;
}

// OTLP/JSON field shapes, as loose as the producers that write them.
export type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number | string;
  boolValue?: boolean;
  bytesValue?: string;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
};
export type KeyValue = { key?: string; value?: AnyValue };
type Nanos = string | number | { low: number; high: number };
type OtlpSpan = {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number | string;
  startTimeUnixNano?: Nanos;
  endTimeUnixNano?: Nanos;
  attributes?: KeyValue[];
  status?: { code?: number | string; message?: string };
};
type OtlpRequest = {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
};

/** One OTLP/JSON AnyValue as a plain JavaScript value. */
export function decodeValue(v: AnyValue | undefined): unknown {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  // int64 travels as a JSON string when the producer is protobuf-JSON (Jaeger, the collector).
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(decodeValue);
  if (v.kvlistValue) return decodeAttributes(v.kvlistValue.values);
  return undefined;
}

/** OTLP/JSON key-value pairs as a plain object. */
export function decodeAttributes(kvs: KeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(kvs)) return out;
  for (const kv of kvs) if (typeof kv?.key === 'string') out[kv.key] = decodeValue(kv.value);
  return out;
}

const HEX_ID = /^[0-9a-f]+$/i;

/**
 * OTLP/JSON says ids are hex, but protobuf-JSON encoders that do not special-case them
 * write base64; accept both so a trace from any exporter keeps its real id.
 */
function decodeId(raw: unknown, bytes: 8 | 16): string | undefined {
  if (typeof raw !== 'string' || raw === '') return undefined;
  if (raw.length === bytes * 2 && HEX_ID.test(raw)) return raw.toLowerCase();
  const buf = Buffer.from(raw, 'base64');
  if (buf.length === bytes) return buf.toString('hex');
  return HEX_ID.test(raw) ? raw.toLowerCase() : undefined;
}

/** Nanoseconds → fractional epoch ms without losing the microseconds to float rounding. */
function nanosToMs(raw: Nanos | undefined): number {
  if (raw === undefined || raw === null) return 0;
  let ns: bigint;
  try {
    if (typeof raw === 'object') {
      // Older OTLP transformers wrote fixed64 as a Long: {low, high} 32-bit halves.
      ns = (BigInt(raw.high >>> 0) << 32n) | BigInt(raw.low >>> 0);
    } else {
      ns = BigInt(raw);
    }
  } catch {
    return Number.NaN;
  }
  return Number(ns / 1000n) / 1000;
}

const KIND_BY_NUMBER: Record<number, TraceSpanKind> = { 1: 'internal', 2: 'server', 3: 'client', 4: 'producer', 5: 'consumer' };

function decodeKind(raw: number | string | undefined): TraceSpanKind {
  if (typeof raw === 'number') return KIND_BY_NUMBER[raw] ?? 'internal';
  if (typeof raw === 'string') {
    const name = raw.replace(/^SPAN_KIND_/, '').toLowerCase();
    if (name === 'server' || name === 'client' || name === 'producer' || name === 'consumer') return name;
  }
  return 'internal';
}

function decodeStatus(raw: number | string | undefined): TraceSpanStatus {
  if (raw === 2 || raw === 'STATUS_CODE_ERROR') return 'error';
  if (raw === 1 || raw === 'STATUS_CODE_OK') return 'ok';
  return 'unset';
}

function finish(span: Omit<TraceSpan, 'durationMs'>): TraceSpan {
  // A span exported before it ended, or with a clock step backwards, still gets a sane length.
  const endMs = span.endMs >= span.startMs ? span.endMs : span.startMs;
  return { ...span, endMs, durationMs: endMs - span.startMs };
}

/**
 * The spans of one OTLP/JSON ExportTraceServiceRequest (`{resourceSpans: […]}`), as the
 * trace file stores it and Jaeger's api_v3 returns it inside `result`. Spans without a usable
 * trace id, span id or start time are dropped rather than guessed at.
 */
export function spansFromOtlpJson(body: unknown): TraceSpan[] {
  const out: TraceSpan[] = [];
  const resourceSpans = (body as OtlpRequest | null)?.resourceSpans;
  if (!Array.isArray(resourceSpans)) return out;
  for (const rs of resourceSpans) {
    const resource = decodeAttributes(rs?.resource?.attributes);
    const service = typeof resource[ATTR_SERVICE_NAME] === 'string' ? resource[ATTR_SERVICE_NAME] : '';
    for (const ss of Array.isArray(rs?.scopeSpans) ? rs.scopeSpans : []) {
      for (const s of Array.isArray(ss?.spans) ? ss.spans : []) {
        const traceId = decodeId(s?.traceId, 16);
        const spanId = decodeId(s?.spanId, 8);
        const startMs = nanosToMs(s?.startTimeUnixNano);
        if (!traceId || !spanId || !Number.isFinite(startMs)) continue;
        const endMs = nanosToMs(s.endTimeUnixNano);
        const parentSpanId = decodeId(s.parentSpanId, 8);
        out.push(
          finish({
            traceId,
            spanId,
            ...(parentSpanId ? { parentSpanId } : {}),
            name: typeof s.name === 'string' ? s.name : '',
            service,
            kind: decodeKind(s.kind),
            startMs,
            endMs: Number.isFinite(endMs) ? endMs : startMs,
            attributes: decodeAttributes(s.attributes),
            status: decodeStatus(s.status?.code),
            ...(s.status?.message ? { statusMessage: s.status.message } : {}),
          }),
        );
      }
    }
  }
  return out;
}

const hrToMs = (t: HrTime): number => t[0] * 1000 + t[1] / 1e6;

const KIND_BY_API: Record<SpanKind, TraceSpanKind> = {
  [SpanKind.INTERNAL]: 'internal',
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
};

/**
 * The SDK's finished spans (the turn recorder's, an in-memory exporter's) in the same shape.
 * The client converts its turn's spans after every turn (split and self-check), so this makes
 * one object per span and shares the span's attributes instead of copying them: a finished
 * span's attributes no longer change (the SDK ignores setAttribute after end), and no view
 * writes to a TraceSpan's attributes.
 */
export function spansFromReadableSpans(spans: readonly ReadableSpan[]): TraceSpan[] {
  const out: TraceSpan[] = new Array(spans.length);
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i]!;
    const ctx = s.spanContext();
    const service = s.resource.attributes[ATTR_SERVICE_NAME];
    const startMs = hrToMs(s.startTime);
    // A span exported before it ended, or with a clock step backwards, still gets a sane length (finish()).
    const endMs = Math.max(startMs, hrToMs(s.endTime));
    const span: TraceSpan = {
      traceId: ctx.traceId,
      spanId: ctx.spanId,
      name: s.name,
      service: typeof service === 'string' ? service : '',
      kind: KIND_BY_API[s.kind] ?? 'internal',
      startMs,
      endMs,
      durationMs: endMs - startMs,
      attributes: s.attributes as Record<string, unknown>,
      status: s.status.code === SpanStatusCode.ERROR ? 'error' : s.status.code === SpanStatusCode.OK ? 'ok' : 'unset',
    };
    const parentSpanId = s.parentSpanContext?.spanId;
    if (parentSpanId) span.parentSpanId = parentSpanId;
    if (s.status.message) span.statusMessage = s.status.message;
    out[i] = span;
  }
  return out;
}

export function isTurnRootSpan(span: TraceSpan): boolean {
  return (
    span.attributes[ATTR_GEN_AI_OPERATION_NAME] === GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT ||
    span.name.startsWith(`${GEN_AI_OPERATION_NAME_VALUE_INVOKE_AGENT} `)
  );
}

/**
 * The `invoke_agent` span that starts the turn. Normally it has no parent; a caller that
 * passed its own traceparent makes it a child of a span we never see, so "no parent among
 * these spans" is what counts.
 */
export function findTurnRoot(spans: readonly TraceSpan[]): TraceSpan | undefined {
  const ids = new Set(spans.map((s) => s.spanId));
  let best: TraceSpan | undefined;
  for (const s of spans) {
    if (!isTurnRootSpan(s) || (s.parentSpanId && ids.has(s.parentSpanId))) continue;
    if (!best || s.startMs < best.startMs) best = s;
  }
  return best;
}

/**
 * Start order, the same from every source: Jaeger keeps microseconds where the trace file keeps
 * nanoseconds, so spans apart by less than a microsecond tie there. A tie puts the parent
 * first, then goes by span id, never by the order a source happened to return them in.
 */
export function byStart(a: TraceSpan, b: TraceSpan): number {
  return (
    a.startMs - b.startMs ||
    (b.parentSpanId === a.spanId ? -1 : a.parentSpanId === b.spanId ? 1 : 0) ||
    (a.spanId < b.spanId ? -1 : a.spanId > b.spanId ? 1 : 0)
  );
}

/**
 * Spans grouped by trace id, newest trace first. A span seen twice (the same batch read
 * from two sources) is kept once.
 */
export function groupTraces(spans: Iterable<TraceSpan>): Trace[] {
  const byTrace = new Map<string, Map<string, TraceSpan>>();
  for (const s of spans) {
    let group = byTrace.get(s.traceId);
    if (!group) byTrace.set(s.traceId, (group = new Map()));
    group.set(s.spanId, s);
  }
  const traces: Trace[] = [];
  for (const [traceId, group] of byTrace) {
    const list = [...group.values()].sort(byStart);
    const endMs = list.reduce((end, s) => Math.max(end, s.endMs), -Infinity);
    traces.push({ traceId, spans: list, startMs: list[0]?.startMs ?? 0, endMs });
  }
  return traces.sort((a, b) => b.startMs - a.startMs);
}

/** The traces that are turns, newest first; the MCP server's spans of a turn stay in it. */
export function groupTurns(spans: Iterable<TraceSpan>): Turn[] {
  const turns: Turn[] = [];
  for (const t of groupTraces(spans)) {
    const root = findTurnRoot(t.spans);
    if (root) turns.push({ ...t, root });
  }
  return turns.sort((a, b) => b.root.startMs - a.root.startMs);
}
