/*
 * The MCP span decorator never costs a message: with a tracer whose spans throw from every
 * attribute setter (a failing attribute builder), a tracer that cannot start spans at all, and a
 * histogram that throws on record, tool calls over a real HTTP server on a real port still
 * complete, and each failure is reported to `diag`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { diag, DiagLogLevel, INVALID_SPAN_CONTEXT, metrics, trace, type Meter, type MeterProvider, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { startHttpServer, type RunningHttpServer } from '../../src/server/index.ts';
import { instrumentClientTransport } from '../../src/telemetry/mcp.ts';
import { tempDir } from '../helpers/memento.ts';

let mode: 'attributes-throw' | 'start-throws' = 'attributes-throw';
const boom = () => {
  throw new Error('injected telemetry failure');
};

/** A span whose every attribute, status and end call throws. */
function failingSpan(): Span {
  const context = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
  return {
    spanContext: () => context,
    setAttribute: boom,
    setAttributes: boom,
    addEvent: boom,
    addLink: boom,
    addLinks: boom,
    setStatus: boom,
    updateName: boom,
    end: boom,
    isRecording: () => true,
    recordException: boom,
  } as unknown as Span;
}

const tracer: Tracer = {
  startSpan: () => (mode === 'start-throws' ? boom() : failingSpan()),
  // Storage spans are not the decorator's: they get a harmless span.
  startActiveSpan: ((...args: unknown[]) => (args.at(-1) as (span: Span) => unknown)(trace.wrapSpanContext(INVALID_SPAN_CONTEXT))) as Tracer['startActiveSpan'],
};
const tracerProvider: TracerProvider = { getTracer: () => tracer };
const meterProvider = {
  getMeter: () => new Proxy({}, { get: () => () => ({ record: boom, add: boom }) }) as Meter,
} as MeterProvider;

const warnings: string[] = [];
let data: Awaited<ReturnType<typeof tempDir>>;
let server: RunningHttpServer;

beforeAll(async () => {
  expect(trace.setGlobalTracerProvider(tracerProvider)).toBe(true);
  expect(metrics.setGlobalMeterProvider(meterProvider)).toBe(true);
  diag.setLogger(
    { error: () => {}, warn: (m: string) => void warnings.push(m), info: () => {}, debug: () => {}, verbose: () => {} },
    DiagLogLevel.WARN,
  );
  data = await tempDir('memento-guarded-');
  server = await startHttpServer({ dataDir: data.path, port: 0, defaultUser: 'default' });
});
afterAll(async () => {
  await server?.close();
  await data?.cleanup();
});

async function callsComplete(): Promise<void> {
  const client = new Client({ name: 'guarded-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`));
  await client.connect(instrumentClientTransport(transport, { transport: 'http', url: new URL(server.url) }));
  const stored = await client.callTool({ name: 'store_memory', arguments: { content: `telemetry failed (${mode}), the call did not` } });
  expect(stored.isError).toBeFalsy();
  const listed = await client.callTool({ name: 'retrieve_memories', arguments: {} });
  expect((listed.structuredContent as { total: number }).total).toBeGreaterThan(0);
  await client.close();
}

describe('a failing telemetry hook', () => {
  it('still forwards every message when attribute setters, span end and the histogram throw', async () => {
    mode = 'attributes-throw';
    warnings.length = 0;
    await callsComplete();
    expect(warnings.some((w) => /memento MCP telemetry: ending a (server|client) span failed/.test(w))).toBe(true);
  });

  it('still forwards every message when no span can be started', async () => {
    mode = 'start-throws';
    warnings.length = 0;
    await callsComplete();
    expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/starting a client span failed/), expect.stringMatching(/starting a server span failed/)]));
  });
});
