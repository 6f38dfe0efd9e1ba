/*
 * HTTP CLIENT spans from undici's diagnostics channels (src/telemetry/http-client.ts): real
 * requests through the client's own undici Agent to a real node:http server on a free port.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { agentFetch, createAgent } from '../../src/client/http.ts';
import { HttpClientSpans } from '../../src/telemetry/http-client.ts';
import { installInMemoryOtel } from '../helpers/in-memory-otel.ts';

const otel = installInMemoryOtel();
const spans = new HttpClientSpans({
  requireParentSpan: true,
  ignoreRequest: (req) => req.method === 'GET' && String(req.headers).includes('text/event-stream'),
});
const agent = createAgent();
const fetch = agentFetch(agent, 'MCP_SERVER');
let server: Server;
let base: string;
const received: IncomingMessage[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    received.push(req);
    req.resume().on('end', () => {
      const status = req.url?.startsWith('/fail') ? 500 : 200;
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  spans.disable();
  await agent.close();
  await new Promise((resolve) => server.close(resolve));
  await otel.shutdown();
});
beforeEach(() => {
  otel.reset();
  received.length = 0;
});

/** Runs `fn` inside a recording parent span, as a turn does. */
async function inTurn<T>(fn: () => Promise<T>) {
  const parent = trace.getTracer('test').startSpan('turn');
  try {
    return { parent, value: await context.with(trace.setSpan(context.active(), parent), fn) };
  } finally {
    parent.end();
  }
}

const httpSpans = () => otel.spans().filter((s) => s.instrumentationScope.name === 'memento-http-client');

describe('HTTP client spans', () => {
  it('make one CLIENT span per request, with the semconv attributes, carrying its context to the server', async () => {
    const { parent } = await inTurn(async () => (await fetch(`${base}/mcp?session=1`, { method: 'POST', body: '{}', headers: { 'user-agent': 'memento-test/1' } })).text());
    const [span] = httpSpans();
    expect(httpSpans()).toHaveLength(1);
    expect(span!.name).toBe('POST');
    expect(span!.kind).toBe(SpanKind.CLIENT);
    expect(span!.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(span!.attributes).toEqual({
      'http.request.method': 'POST',
      'url.full': `${base}/mcp?session=1`,
      'url.path': '/mcp',
      'url.query': 'session=1',
      'url.scheme': 'http',
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(base).port),
      'user_agent.original': 'memento-test/1',
      'network.peer.address': '127.0.0.1',
      'network.peer.port': Number(new URL(base).port),
      'network.protocol.version': '1.1',
      'http.response.status_code': 200,
    });
    const { traceId, spanId } = span!.spanContext();
    expect(received[0]!.headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
  });

  it('mark a 5xx answer as an error', async () => {
    await inTurn(async () => (await fetch(`${base}/fail`, { method: 'POST', body: '{}' })).text());
    const [span] = httpSpans();
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes).toMatchObject({ 'http.response.status_code': 500, 'error.type': '500' });
  });

  it('record a failed connection as an error with its code', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await inTurn(() => fetch(`http://127.0.0.1:${port}/mcp`, { method: 'POST', body: '{}' }).catch(() => undefined));
    const [span] = httpSpans();
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes['error.type']).toBe('ECONNREFUSED');
    expect(span!.events.map((e) => e.name)).toContain('exception');
  });

  it('make nothing outside a turn, nor for an SSE stream, and send no trace context then', async () => {
    await (await fetch(`${base}/outside`, { method: 'DELETE' })).text();
    await inTurn(async () => (await fetch(`${base}/sse`, { headers: { accept: 'text/event-stream' } })).text());
    expect(httpSpans()).toHaveLength(0);
    expect(received.map((r) => r.headers.traceparent)).toEqual([undefined, undefined]);
  });

  it('pass a trace that is not recorded on without a span of its own', async () => {
    const unsampled = trace.wrapSpanContext({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 0 });
    await context.with(trace.setSpan(context.active(), unsampled), async () => (await fetch(`${base}/mcp`, { method: 'POST', body: '{}' })).text());
    expect(httpSpans()).toHaveLength(0);
    expect(received[0]!.headers.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00');
  });
});
