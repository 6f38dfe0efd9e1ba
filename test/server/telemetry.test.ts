/*
 * The server's half of a turn's trace, exported over OTLP/HTTP to a receiver inside the test:
 * a `tools/call` carrying a `traceparent` in `_meta` yields a SERVER span in that trace, child
 * of the caller's span, with the HTTP server span as a link and storage spans beneath it; the
 * token and the memory's content appear in no exported byte.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { waitFor } from '../helpers/wait.ts';
import { OtlpReceiver, SPAN_KIND, STATUS, type ReceivedSpan } from '../helpers/otlp-receiver.ts';
import { connect } from './support.ts';

const TOKEN = 'otlp-never-sees-this-7c4e1a9b3f';
const CONTENT = 'Confidential: the merger closes on Friday';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const traceparent = (traceId: string, spanId: string) => `00-${traceId}-${spanId}-01`;

describe('server telemetry', () => {
  let receiver: OtlpReceiver;
  // The metric reader refuses an export timeout longer than its interval.
  const otlpEnv = () => ({ ...receiver.env(), OTEL_METRIC_EXPORT_TIMEOUT: '200' });
  let data: Awaited<ReturnType<typeof tempDir>>;
  let server: Running;

  beforeAll(async () => {
    receiver = await new OtlpReceiver().start();
    data = await tempDir('memento-telemetry-');
    server = await startMemento(['serve', '--port', '0', '--data-dir', data.path], {
      env: { ...otlpEnv(), MEMENTO_MCP_TOKEN: TOKEN, MEMENTO_LOG_LEVEL: 'debug' },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await receiver?.stop();
    await data?.cleanup();
  });

  it('makes a SERVER span per tools/call, child of the _meta context, with the HTTP span as a link', async () => {
    const client = await connect('http', server.url, { token: TOKEN });
    const traceId = hex(16);
    const parentId = hex(8);
    const result = await client.call(
      'store_memory',
      { content: CONTENT, filename: 'merger_notes.txt', tags: ['deal'] },
      { traceparent: traceparent(traceId, parentId), 'memento/user': 'alice' },
    );
    expect(result.isError).toBeFalsy();
    const id = (result.structuredContent as { id: string }).id;

    const spans = await receiver.waitFor((all) =>
      all.some((s) => s.traceId === traceId && s.name === 'memento.storage.write'),
    );
    const inTrace = spans.filter((s) => s.traceId === traceId);
    const call = inTrace.find((s) => s.name === 'tools/call store_memory')!;
    expect(call).toBeDefined();
    expect(call.service).toBe('memento-mcp-server');
    expect(call.kind).toBe(SPAN_KIND.SERVER);
    expect(call.parentSpanId).toBe(parentId);
    expect(call.status.code).toBe(STATUS.UNSET);
    expect(call.attributes).toEqual({
      'mcp.method.name': 'tools/call',
      // Who called: the HTTP peer of the request that carried the message.
      'client.address': '127.0.0.1',
      'client.port': expect.any(Number),
      'gen_ai.tool.name': 'store_memory',
      'gen_ai.operation.name': 'execute_tool',
      'jsonrpc.request.id': expect.any(String),
      'mcp.session.id': expect.stringMatching(/^[0-9a-f-]{36}$/),
      'mcp.protocol.version': expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      'network.transport': 'tcp',
      'network.protocol.name': 'http',
      'memento.tool.result.size': expect.any(Number),
    });

    // The HTTP server span that carried the request: a link, not the parent.
    const httpSpan = spans.find((s) => s.kind === SPAN_KIND.SERVER && s.name.startsWith('POST') && call.links.some((l) => l.spanId === s.spanId));
    expect(httpSpan, 'the linked HTTP server span was exported').toBeDefined();
    expect(httpSpan!.traceId).not.toBe(traceId);

    const write = inTrace.find((s) => s.name === 'memento.storage.write')!;
    expect(write.parentSpanId).toBe(call.spanId);
    expect(write.kind).toBe(SPAN_KIND.INTERNAL);
    expect(write.attributes).toEqual({
      'memento.storage.operation': 'write',
      'memento.memory.id': id,
      'memento.memory.content.size': Buffer.byteLength(CONTENT),
    });
    // The index statement beneath it, by the database conventions: no parameters, no content.
    const insert = inTrace.find((s) => s.name === 'INSERT memories')!;
    expect(insert.parentSpanId).toBe(write.spanId);
    expect(insert.kind).toBe(SPAN_KIND.CLIENT);
    expect(insert.attributes).toEqual({
      'db.system.name': 'sqlite',
      'db.operation.name': 'INSERT',
      'db.collection.name': 'memories',
      'db.query.summary': 'INSERT memories',
    });
    await client.close();
  });

  it('marks a refused call error.type=tool_error, and starts a trace of its own without _meta context', async () => {
    const client = await connect('sse', server.url, { token: TOKEN });
    const traceId = hex(16);
    const refused = await client.call('get_memory', { id: 'x', user_id: 'bob' }, {
      traceparent: traceparent(traceId, hex(8)),
      'memento/user': 'alice',
    });
    expect(refused.isError).toBe(true);
    const plain = await client.call('retrieve_memories', {}, { 'memento/user': 'alice' });
    expect(plain.isError).toBeFalsy();

    const spans = await receiver.waitFor((all) =>
      all.some((s) => s.traceId === traceId) && all.some((s) => s.name === 'tools/call retrieve_memories'),
    );
    const refusal = spans.find((s) => s.traceId === traceId && s.name === 'tools/call get_memory')!;
    expect(refusal.attributes['error.type']).toBe('tool_error');
    expect(refusal.attributes['network.transport']).toBe('tcp');
    expect(refusal.status.code).toBe(STATUS.ERROR);
    const own = spans.find((s) => s.name === 'tools/call retrieve_memories')!;
    expect(own.parentSpanId).toBe('');
    await client.close();
  });

  it('joins the trace over stdio too', async () => {
    const client = await connect('stdio', '', { dataDir: data.path, env: otlpEnv() });
    const traceId = hex(16);
    const parentId = hex(8);
    await client.call('search_memories', { query: 'merger' }, { traceparent: traceparent(traceId, parentId), 'memento/user': 'alice' });
    await client.close();
    const spans = await receiver.waitFor((all) => all.some((s) => s.traceId === traceId && s.name === 'tools/call search_memories'));
    const call = spans.find((s: ReceivedSpan) => s.traceId === traceId && s.name === 'tools/call search_memories')!;
    expect(call.parentSpanId).toBe(parentId);
    expect(call.attributes['network.transport']).toBe('pipe');
    const search = spans.find((s) => s.traceId === traceId && s.name === 'memento.storage.search')!;
    expect(search.parentSpanId).toBe(call.spanId);
    expect(search.attributes).toEqual({
      'memento.storage.operation': 'search',
      'memento.search.terms': 1,
      'memento.memory.count': 1,
    });
  });

  it('exports no token, no content and no name made from content', async () => {
    await waitFor('the server operation metric', () => (receiver.metrics.some((m) => m.name === 'mcp.server.operation.duration') ? true : undefined), {
      intervalMs: 50,
    });
    const raw = receiver.rawText();
    expect(raw.length).toBeGreaterThan(0);
    expect(raw).not.toContain(TOKEN);
    expect(raw).not.toContain('Confidential');
    expect(raw).not.toContain('merger');
    expect(raw).not.toContain('deal');
    expect(server.stderr()).not.toContain(TOKEN);
    expect(receiver.metrics.map((m) => m.name)).toContain('mcp.server.operation.duration');
  });
});
