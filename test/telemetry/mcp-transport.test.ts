/*
 * The MCP span decorators between a real SDK Client and a real McpServer. The SDK's linked
 * in-memory transports stand in for a wire here; the HTTP, SSE and stdio paths are covered
 * end to end by the client and server suites.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { z } from 'zod';
import { instrumentClientTransport, instrumentServerTransport, TOOL_CALL_ID_KEY } from '../../src/telemetry/mcp.ts';
import { installInMemoryOtel } from '../helpers/in-memory-otel.ts';

const otel = installInMemoryOtel();
afterAll(() => otel.shutdown());
beforeEach(() => otel.reset());

async function connectedPair() {
  const server = new McpServer({ name: 'test', version: '1.0.0' });
  server.registerTool('echo', { description: 'echo', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('refuse', { description: 'always refuses', inputSchema: {} }, async () => {
    throw new Error('refused: not yours');
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(instrumentServerTransport(serverSide, { transport: 'stdio' }));
  const client = new Client({ name: 'test-client', version: '1.0.0' });
  await client.connect(instrumentClientTransport(clientSide, { transport: 'stdio' }));
  return { client, server };
}

const byName = (name: string, kind: SpanKind) => otel.spans().filter((s) => s.name === name && s.kind === kind);

describe('MCP span decorators', () => {
  it('make a CLIENT span per request and a SERVER span that is its child', async () => {
    const { client, server } = await connectedPair();
    otel.reset();
    const root = trace.getTracer('test').startSpan('turn');
    await context.with(trace.setSpan(context.active(), root).setValue(TOOL_CALL_ID_KEY, 'call_abc'), () =>
      client.callTool({ name: 'echo', arguments: { text: 'hi' } }),
    );
    root.end();

    const [clientSpan] = byName('tools/call echo', SpanKind.CLIENT);
    const [serverSpan] = byName('tools/call echo', SpanKind.SERVER);
    expect(clientSpan).toBeDefined();
    expect(serverSpan).toBeDefined();
    expect(clientSpan!.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(serverSpan!.spanContext().traceId).toBe(root.spanContext().traceId);
    expect(serverSpan!.parentSpanContext?.spanId).toBe(clientSpan!.spanContext().spanId);
    expect(clientSpan!.attributes).toEqual({
      'mcp.method.name': 'tools/call',
      'jsonrpc.request.id': expect.any(String),
      'gen_ai.tool.name': 'echo',
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.call.id': 'call_abc',
      'mcp.protocol.version': expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      'network.transport': 'pipe',
      'memento.tool.result.size': expect.any(Number),
      // The server's span, as the server named it in the result's _meta.
      'memento.mcp.server_span': `00-${serverSpan!.spanContext().traceId}-${serverSpan!.spanContext().spanId}-01`,
    });
    expect(serverSpan!.attributes).toEqual({
      'mcp.method.name': 'tools/call',
      'jsonrpc.request.id': clientSpan!.attributes['jsonrpc.request.id'],
      'gen_ai.tool.name': 'echo',
      'gen_ai.operation.name': 'execute_tool',
      'mcp.protocol.version': clientSpan!.attributes['mcp.protocol.version'],
      'network.transport': 'pipe',
      'memento.tool.result.size': expect.any(Number),
    });
    expect(clientSpan!.status.code).toBe(SpanStatusCode.UNSET);
    await client.close();
    await server.close();
  });

  it('mark a tool result with isError as error.type=tool_error on both sides', async () => {
    const { client, server } = await connectedPair();
    otel.reset();
    const result = await client.callTool({ name: 'refuse', arguments: {} });
    expect(result.isError).toBe(true);
    for (const kind of [SpanKind.CLIENT, SpanKind.SERVER]) {
      const [span] = byName('tools/call refuse', kind);
      expect(span?.attributes['error.type']).toBe('tool_error');
      // Without the content opt-in the status says what kind of failure, never the server's
      // words, which may quote the arguments they refuse.
      expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'the tool reported an error' });
    }
    await client.close();
    await server.close();
  });

  it('with the content opt-in, the status quotes the server\'s own words', async () => {
    process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT = 'true';
    try {
      const { client, server } = await connectedPair();
      otel.reset();
      await client.callTool({ name: 'refuse', arguments: {} });
      for (const kind of [SpanKind.CLIENT, SpanKind.SERVER]) {
        const [span] = byName('tools/call refuse', kind);
        expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: expect.stringContaining('refused: not yours') });
      }
      await client.close();
      await server.close();
    } finally {
      delete process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT;
    }
  });

  it('record a JSON-RPC error code as error.type and rpc.response.status_code', async () => {
    const { client, server } = await connectedPair();
    otel.reset();
    await expect(client.request({ method: 'prompts/list', params: {} }, z.any())).rejects.toThrow();
    const [span] = byName('prompts/list', SpanKind.CLIENT);
    expect(span?.attributes['error.type']).toBe('-32601');
    expect(span?.attributes['rpc.response.status_code']).toBe('-32601');
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    // On the server, "method not found" is the caller's mistake, not the server's failure.
    const [served] = byName('prompts/list', SpanKind.SERVER);
    expect(served?.attributes['rpc.response.status_code']).toBe('-32601');
    expect(served?.attributes['error.type']).toBeUndefined();
    expect(served?.status.code).toBe(SpanStatusCode.UNSET);
    await client.close();
    await server.close();
  });

  it('start a new trace on the server for a request that carries no context', async () => {
    const { client, server } = await connectedPair();
    otel.reset();
    await client.listTools();
    const [clientSpan] = byName('tools/list', SpanKind.CLIENT);
    const [serverSpan] = byName('tools/list', SpanKind.SERVER);
    // No active span on the client: its span is a root, and the server joins that trace.
    expect(clientSpan?.parentSpanContext).toBeUndefined();
    expect(serverSpan?.spanContext().traceId).toBe(clientSpan?.spanContext().traceId);
    await client.close();
    await server.close();
  });

  it('end pending spans with error.type when the connection closes', async () => {
    const server = new McpServer({ name: 'test', version: '1.0.0' });
    let arrived!: () => void;
    const called = new Promise<void>((resolve) => (arrived = resolve));
    server.registerTool('hang', { description: 'never answers', inputSchema: {} }, () => {
      arrived();
      return new Promise(() => {});
    });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: 'c', version: '1' });
    await client.connect(instrumentClientTransport(clientSide, { transport: 'stdio' }));
    otel.reset();
    const call = client.callTool({ name: 'hang', arguments: {} });
    // Closed only once the server holds the call, so the span sees the connection close under it.
    await called;
    await client.close();
    await expect(call).rejects.toThrow();
    const [span] = byName('tools/call hang', SpanKind.CLIENT);
    expect(span?.attributes['error.type']).toBe('connection_closed');
    expect(span?.ended).toBe(true);
    await server.close();
  });
});
