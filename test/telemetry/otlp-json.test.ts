/*
 * The client's trace exporter writes the OTLP/JSON body itself (src/telemetry/otlp-json.ts):
 * it must be the bytes otlp-transformer's JsonTraceSerializer writes, for every span shape
 * Memento can emit and then some. Spans from the real SDK (attributes of every type, events,
 * links, status, kinds, several resources and scopes, remote parents, trace state) and
 * hand-made ReadableSpans for what the SDK's API does not reach (scope attributes, schema URLs,
 * odd numbers, missing fields) are serialized both ways and compared byte for byte.
 */
import { context, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type HrTime } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { describe, expect, it } from 'vitest';
import { encodeTraceRequestJson, hrTimeNanos, LeanJsonTraceSerializer, OtlpJsonTraceExporter } from '../../src/telemetry/otlp-json.ts';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function expectSameBytes(spans: ReadableSpan[]): void {
  const sdk = JsonTraceSerializer.serializeRequest(spans)!;
  const lean = LeanJsonTraceSerializer.serializeRequest(spans)!;
  expect(text(lean)).toBe(text(sdk));
  expect(Buffer.from(lean).equals(Buffer.from(sdk))).toBe(true);
}

const ATTRIBUTES: Attributes = {
  'gen_ai.operation.name': 'chat',
  'gen_ai.usage.input_tokens': 1234,
  'gen_ai.request.temperature': 0.7,
  'server.port': 443,
  'error.flag': false,
  'ok.flag': true,
  'empty.string': '',
  'escapes': 'quote " backslash \\ newline \n tab \t control \u0001 unicode é 😀 \u2028',
  'big.int': 2 ** 53 + 2,
  'negative': -17,
  'negative.double': -0.5,
  'tiny': 1e-7,
  'huge': 1e21,
  'gen_ai.response.finish_reasons': ['stop', 'length'],
  'int.array': [1, 2, 3],
  'double.array': [1.5, 2],
  'bool.array': [true, false],
  'empty.array': [],
  'sparse.array': ['a', null, undefined, 'b'] as unknown as string[],
};

async function sdkSpans(): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const resource = resourceFromAttributes({ 'service.name': 'memento', 'service.version': '1.2.3', 'process.pid': 42, 'host.arch': ['x64'] });
  const provider = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const other = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': 'other' }), spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const memento = provider.getTracer('memento', '0.1.0');
  const http = provider.getTracer('@opentelemetry/instrumentation-undici', '0.34.0', { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' });
  const noVersion = provider.getTracer('no-version');
  const kinds = [SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER];
  const root = memento.startSpan('invoke_agent memento', { kind: SpanKind.INTERNAL, attributes: ATTRIBUTES });
  const rootContext = trace.setSpan(context.active(), root);
  kinds.forEach((kind, i) => {
    const span = (i % 2 ? http : memento).startSpan(`span ${i}`, { kind, attributes: { index: i, 'http.request.method': 'POST' } }, rootContext);
    span.addEvent('gen_ai.content.chunk', { 'chunk.index': i, 'chunk.text': `word ${i}` });
    span.addEvent('no-attributes');
    span.addEvent('at a time', { when: 'explicit' }, [1_700_000_000, 5]);
    if (i === 1) span.setStatus({ code: SpanStatusCode.ERROR, message: 'boom "quoted"' });
    if (i === 2) span.setStatus({ code: SpanStatusCode.OK });
    if (i === 3) span.recordException(new Error('failed: \n details'));
    if (i === 4) span.setStatus({ code: SpanStatusCode.ERROR });
    span.addLink({ context: root.spanContext(), attributes: { 'link.reason': 'follows' } });
    span.addLink({ context: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.NONE, isRemote: true, traceState: new TraceState('vendor=a,other=b') } });
    span.end();
  });
  // A remote parent with trace state; flags with and without sampled.
  const remote = trace.setSpanContext(context.active(), {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED, isRemote: true, traceState: new TraceState('congo=t61rcWkgMzE'),
  });
  const child = noVersion.startSpan('child of remote', { kind: SpanKind.SERVER, startTime: [1_700_000_000, 0] }, remote);
  child.end([1_700_000_001, 999_999_999]);
  const early = memento.startSpan('early', { startTime: [0, 123] });
  early.end([0, 456]);
  const otherSpan = other.getTracer('memento', '0.1.0').startSpan('other resource');
  otherSpan.end();
  // Attribute limits: dropped counts.
  const limited = new TracerProvider({ resource, spanLimits: { attributeCountLimit: 2, eventCountLimit: 1, linkCountLimit: 1 }, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const l = limited.getTracer('memento', '0.1.0').startSpan('limited', { attributes: { a: 1, b: 2, c: 3, d: 4 } });
  l.addEvent('one'); l.addEvent('two'); l.addEvent('three');
  l.addLink({ context: root.spanContext() }); l.addLink({ context: root.spanContext() });
  l.end();
  const unended = memento.startSpan('root ends last');
  unended.end();
  root.end();
  await Promise.all([provider.forceFlush(), other.forceFlush(), limited.forceFlush()]);
  return exporter.getFinishedSpans();
}

/** A ReadableSpan built by hand, for the fields the SDK's API does not set. */
function handMade(overrides: Partial<Record<keyof ReadableSpan, unknown>>): ReadableSpan {
  const base = {
    name: 'hand',
    kind: SpanKind.CLIENT,
    spanContext: () => ({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 }),
    parentSpanContext: undefined,
    startTime: [1_764_470_000, 12] as HrTime,
    endTime: [1_764_470_001, 999_000_000] as HrTime,
    status: { code: SpanStatusCode.UNSET },
    attributes: {},
    links: [],
    events: [],
    duration: [1, 0] as HrTime,
    ended: true,
    resource: resourceFromAttributes({ 'service.name': 'hand' }),
    instrumentationScope: { name: 'hand', version: '1' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
  return { ...base, ...overrides } as ReadableSpan;
}

describe('OTLP/JSON trace body written directly', () => {
  it('equals JsonTraceSerializer byte for byte on SDK spans', async () => {
    const spans = await sdkSpans();
    expect(spans.length).toBeGreaterThan(8);
    expectSameBytes(spans);
    // Each span alone, and in reverse order (resource and scope grouping by first sight).
    for (const span of spans) expectSameBytes([span]);
    expectSameBytes([...spans].reverse());
    expectSameBytes([]);
  });

  it('equals JsonTraceSerializer on hand-made spans: scope attributes, schema URLs, odd values', () => {
    const resource = resourceFromAttributes({ 'service.name': 'hand', nested: { a: 1 } as never }, { schemaUrl: 'https://example.com/schema' });
    const spans = [
      handMade({ resource, attributes: { nan: NaN, inf: Infinity, negInf: -Infinity, negZero: -0, bytes: new Uint8Array([0, 1, 250, 255]), obj: { k: 'v', n: 2, deep: { x: [1, 'y'] } }, nil: null, undef: undefined, fn: (() => 1) as never, big: 10n as never, arr: [new Uint8Array([7]), { a: 1 }, [1, [2]]] } as never }),
      handMade({ resource, instrumentationScope: { name: 'scoped', version: '2', schemaUrl: '', attributes: { 'scope.attr': 'x', n: 1 }, droppedAttributesCount: 3 } as never }),
      handMade({ resource, instrumentationScope: { name: 'scoped-empty-attrs', attributes: {} } as never }),
      handMade({ resource, instrumentationScope: { name: 'scoped-no-dropped', schemaUrl: 'https://s', attributes: { a: true } } as never }),
      handMade({ kind: undefined as never, status: { code: SpanStatusCode.ERROR, message: '' }, parentSpanContext: { traceId: 'a'.repeat(32), spanId: '', traceFlags: 0 } }),
      handMade({ spanContext: () => ({ traceId: 'c'.repeat(32), spanId: 'd'.repeat(16), traceFlags: 0x1ff, traceState: new TraceState('') }), parentSpanContext: { traceId: 'c'.repeat(32), spanId: 'e'.repeat(16), traceFlags: 1, isRemote: false } }),
      handMade({ startTime: [1_764_470_000.9, 12.7] as HrTime, endTime: [1_764_470_000, 1_500_000_000] as HrTime }),
      handMade({ startTime: [-1, 5] as HrTime, endTime: [0, 0] as HrTime }),
      handMade({ events: [{ name: 'e', time: [1, 2], attributes: undefined, droppedAttributesCount: undefined }, { name: 'f', time: [3, 4], attributes: { z: 'z' }, droppedAttributesCount: 2 }] }),
      handMade({ links: [{ context: { traceId: 'f'.repeat(32), spanId: '1'.repeat(16), traceFlags: 1 } }, { context: { traceId: 'f'.repeat(32), spanId: '2'.repeat(16), traceFlags: 0, isRemote: true }, attributes: {}, droppedAttributesCount: 1 }] }),
      handMade({ droppedAttributesCount: 5, droppedEventsCount: 6, droppedLinksCount: 7, name: 'ünïcödé "name"' }),
    ];
    for (const span of spans) expectSameBytes([span]);
    expectSameBytes(spans);
  });

  it('writes nanoseconds as the SDK BigInt does', () => {
    const times: HrTime[] = [[0, 0], [0, 1], [1, 0], [1_764_470_000, 1], [1_764_470_000, 999_999_999], [2 ** 53 - 1, 5], [2 ** 53 + 2, 5], [5, 1e9], [5, -1], [-3, 7]];
    for (const t of times) expect(hrTimeNanos(t)).toBe((BigInt(Math.trunc(t[0])) * 1_000_000_000n + BigInt(Math.trunc(t[1]))).toString());
    expect(encodeTraceRequestJson([])).toBe('{"resourceSpans":[]}');
  });
});

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** An OTLP receiver that records each request; `statuses` answers the first requests (then 200). */
async function receiver(statuses: number[] = []) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
      const status = statuses.shift() ?? 200;
      res.writeHead(status, { 'Content-Type': 'application/json', ...(status === 503 ? { 'Retry-After': '1' } : {}) });
      res.end(status === 200 ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const exportWith = (exporter: { export(items: ReadableSpan[], cb: (r: ExportResult) => void): void }, spans: ReadableSpan[]) =>
  new Promise<ExportResult>((resolve) => exporter.export(spans, resolve));

describe('the client trace exporter on the wire', () => {
  // Extra headers; one that repeats a default in another case; gzip.
  const cases: { headers?: Record<string, string>; compression?: 'gzip' }[] = [{}, { headers: { 'x-tenant': 'a' } }, { headers: { 'content-type': 'application/json', 'X-Tenant': 'b' } }, { compression: 'gzip' }];
  for (const options of cases) {
    it(`sends what OTLPTraceExporter sends: ${JSON.stringify(options)}`, async () => {
      const spans = await sdkSpans();
      const sdk = await receiver([503]);
      const lean = await receiver([503]);
      try {
        const sdkExporter = new OTLPTraceExporter({ url: sdk.url, ...options } as never);
        const leanExporter = new OtlpJsonTraceExporter({ url: lean.url, ...options } as never);
        // Twice: the second export reuses the kept-alive connection. The first answer is a 503 (retried).
        for (let i = 0; i < 2; i++) {
          expect((await exportWith(sdkExporter, spans)).code).toBe(ExportResultCode.SUCCESS);
          expect((await exportWith(leanExporter, spans)).code).toBe(ExportResultCode.SUCCESS);
        }
        await Promise.all([sdkExporter.shutdown(), leanExporter.shutdown()]);
        expect(lean.received.length).toBe(3);
        expect(sdk.received.length).toBe(3);
        for (let i = 0; i < 3; i++) {
          const [a, b] = [sdk.received[i]!, lean.received[i]!];
          expect(b.method).toBe(a.method);
          expect(b.url).toBe(a.url);
          const withoutHost = (h: string[]) => h.map((v, j) => (j % 2 === 1 && h[j - 1] === 'Host' ? 'host' : v));
          expect(withoutHost(b.rawHeaders)).toEqual(withoutHost(a.rawHeaders));
          expect(b.body.equals(a.body)).toBe(true);
          const json = options.compression ? gunzipSync(b.body) : b.body;
          expect(json.equals(Buffer.from(JsonTraceSerializer.serializeRequest(spans)!))).toBe(true);
        }
        expect(lean.received[0]!.headers['transfer-encoding']).toBe('chunked');
      } finally {
        await Promise.all([sdk.close(), lean.close()]);
      }
    });
  }

  it('fails as the SDK does on a non-retryable status and on a closed port', async () => {
    const spans = await sdkSpans();
    const r = await receiver([400, 400]);
    try {
      const a = await exportWith(new OTLPTraceExporter({ url: r.url }), spans);
      const b = await exportWith(new OtlpJsonTraceExporter({ url: r.url }), spans);
      expect(b.code).toBe(ExportResultCode.FAILED);
      expect(a.code).toBe(ExportResultCode.FAILED);
      expect(b.error?.constructor).toBe(a.error?.constructor);
      expect(String(b.error)).toBe(String(a.error));
    } finally {
      await r.close();
    }
    const closed = r.url;
    const a = await exportWith(new OTLPTraceExporter({ url: closed, timeoutMillis: 300 }), spans);
    const b = await exportWith(new OtlpJsonTraceExporter({ url: closed, timeoutMillis: 300 }), spans);
    expect(b.code).toBe(ExportResultCode.FAILED);
    expect(a.code).toBe(ExportResultCode.FAILED);
    expect((b.error as NodeJS.ErrnoException | undefined)?.code).toBe((a.error as NodeJS.ErrnoException | undefined)?.code);
  });
});
