/*
 * The HTTP SERVER span (src/telemetry/http-server.ts) is the one instrumentation-http made:
 * the same requests to a real node:http server, once under HttpInstrumentation (configured as
 * setup.ts configured it) and once under HttpServerSpans, give spans with the same name, kind,
 * scope, attributes, status, events and parent, active in the request listener, and the same
 * requests ignored with their work untraced.
 */
import { createRequire } from 'node:module';
import http, { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { HttpServerSpans } from '../../src/telemetry/http-server.ts';
import { installInMemoryOtel } from '../helpers/in-memory-otel.ts';

const otel = installInMemoryOtel();
const ignoreIncomingRequestHook = (req: IncomingMessage) =>
  (req.url ?? '').startsWith('/health') || (req.method === 'GET' && String(req.headers.accept ?? '').includes('text/event-stream'));

let server: Server;
let port: number;
/** What the listener saw of the active span, per request (by the x-case header). */
const seen = new Map<string, { active?: string; innerRecording: boolean }>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const name = String(req.headers['x-case']);
    seen.set(name, {
      active: trace.getActiveSpan()?.spanContext().spanId,
      innerRecording: trace.getTracer('test').startSpan('inner').isRecording(),
    });
    req.resume().on('end', () => {
      if (name === 'abort') return; // the client gives up first
      const status = req.url?.startsWith('/fail') ? 500 : req.url?.startsWith('/missing') ? 404 : 200;
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await otel.shutdown();
});

interface Case {
  name: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
}

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_ID = 'b7ad6b7169203331';
const CASES: Case[] = [
  { name: 'mcp-post', method: 'POST', path: '/mcp', headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, 'user-agent': 'memento-test/1', 'content-type': 'application/json' } },
  { name: 'query', path: '/missing?token=secret&q=1', headers: { host: 'memento.example:8443' } },
  { name: 'failure', method: 'POST', path: '/fail' },
  { name: 'forwarded', path: '/mcp', headers: { forwarded: 'for="203.0.113.7:4711";host=memento.example;proto=https', 'x-forwarded-for': '198.51.100.1' } },
  { name: 'x-forwarded', path: '/mcp', headers: { 'x-forwarded-for': '198.51.100.1, 10.0.0.1', 'x-forwarded-host': 'memento.example', 'x-forwarded-proto': 'https' } },
  { name: 'ipv6-host', path: '/mcp', headers: { host: '[::1]:8080' } },
  { name: 'other-method', method: 'PURGE', path: '/mcp' },
  { name: 'health', path: '/health' },
  { name: 'sse', path: '/mcp', headers: { accept: 'text/event-stream' } },
  { name: 'abort', method: 'POST', path: '/mcp' },
];

function send(c: Case): Promise<void> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: c.method ?? 'GET', path: c.path, headers: { 'x-case': c.name, ...c.headers }, agent: false });
    req.on('response', (res) => res.resume().on('end', resolve));
    req.on('error', () => resolve());
    if (c.name === 'abort') {
      req.write('{');
      // Gone once the server has the request; the span ends when the response closes.
      const check = setInterval(() => {
        if (seen.has('abort')) {
          clearInterval(check);
          req.destroy();
        }
      }, 5);
    } else {
      req.end('{}');
    }
  });
}

/** A span as exported, less what differs between two connections (the client's port). */
function exported(span: ReadableSpan) {
  const { 'network.peer.port': port, ...attributes } = span.attributes;
  return {
    name: span.name,
    kind: span.kind,
    scope: span.instrumentationScope,
    attributes,
    hasPeerPort: typeof port === 'number',
    status: span.status,
    events: span.events.map((e) => ({ name: e.name, keys: Object.keys(e.attributes ?? {}).sort() })),
    links: span.links.length,
    parent: span.parentSpanContext ? { traceId: span.parentSpanContext.traceId, spanId: span.parentSpanContext.spanId } : undefined,
    traceIdFromHeader: span.spanContext().traceId === TRACE_ID,
  };
}

async function record(): Promise<Map<string, { span?: ReturnType<typeof exported>; active: boolean; innerRecording: boolean }>> {
  const out = new Map<string, { span?: ReturnType<typeof exported>; active: boolean; innerRecording: boolean }>();
  for (const c of CASES) {
    otel.reset();
    seen.clear();
    await send(c);
    // The span ends on the response's close, which may follow the client's end.
    const deadline = Date.now() + 5_000;
    const expectSpan = c.name !== 'health' && c.name !== 'sse';
    let spans = otel.spans().filter((s) => s.name !== 'inner');
    while (expectSpan && spans.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setImmediate(resolve));
      spans = otel.spans().filter((s) => s.name !== 'inner');
    }
    expect(spans.length, c.name).toBe(expectSpan ? 1 : 0);
    const view = seen.get(c.name)!;
    out.set(c.name, {
      ...(spans[0] ? { span: exported(spans[0]) } : {}),
      active: spans[0] ? view.active === spans[0].spanContext().spanId : view.active === undefined,
      innerRecording: view.innerRecording,
    });
  }
  return out;
}

describe('HTTP server spans', () => {
  it('are the spans instrumentation-http made, for the same requests', async () => {
    const reference = new HttpInstrumentation({ ignoreIncomingRequestHook, disableOutgoingRequestInstrumentation: true });
    reference.setTracerProvider(trace.getTracerProvider());
    reference.enable();
    // instrumentation-http patches `http` when it is required (setup.ts does the same).
    createRequire(import.meta.url)('node:http');
    const before = await record();
    reference.disable();
    expect(before.get('mcp-post')?.span?.scope.name).toBe('@opentelemetry/instrumentation-http');

    const ours = new HttpServerSpans({ ignoreIncomingRequestHook });
    ours.setTracerProvider(trace.getTracerProvider());
    try {
      const after = await record();
      for (const c of CASES) expect(after.get(c.name), c.name).toEqual(before.get(c.name));
    } finally {
      ours.disable();
    }
    // What the cases covered: a parent from traceparent, the span active in the listener,
    // a query, a 5xx, forwarded headers, an unknown method, an ignored request whose
    // work is untraced, an aborted request.
    const post = before.get('mcp-post')!;
    expect(post.span?.parent).toEqual({ traceId: TRACE_ID, spanId: PARENT_ID });
    expect(post.active).toBe(true);
    expect(post.innerRecording).toBe(true);
    expect(before.get('query')?.span?.attributes['url.query']).toEqual(expect.stringContaining('q=1'));
    expect(before.get('failure')?.span?.attributes['error.type']).toBe('500');
    expect(before.get('forwarded')?.span?.attributes['client.address']).toBe('203.0.113.7');
    expect(before.get('other-method')?.span?.attributes['http.request.method']).toBe('_OTHER');
    expect(before.get('health')?.innerRecording).toBe(false);
    expect(before.get('abort')?.span).toBeDefined();
  });
});
