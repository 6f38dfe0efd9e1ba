/*
 * Attacks on the HTTP server from outside, each test named after the attack it stops, against a
 * real server on a real port: a flood of sessions, a huge body sent as fast as possible, a body
 * that trickles in, and messages nested deep enough to overflow a recursive walker.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, httpServers, INITIALIZE, MCP_HEADERS, post, rawSession, rawToolCall } from './support.ts';

const start = httpServers('memento-attacks-');

beforeAll(() => {
  // Content capture makes the span decorator serialize arguments: the deepest recursion there is.
  process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT = 'true';
});
afterAll(() => {
  delete process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT;
});

/**
 * POSTs `body` with fetch (undici) as fast as it goes: as one buffer with its length declared,
 * or streamed in 1 MiB chunks without one. Resolves with the answer; a lost answer rejects.
 */
async function blast(url: string, body: Buffer, options: { streamed?: boolean; headers?: Record<string, string> } = {}) {
  const stream = new ReadableStream({
    start(controller) {
      for (let i = 0; i < body.length; i += 1024 * 1024) controller.enqueue(body.subarray(i, i + 1024 * 1024));
      controller.close();
    },
  });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...options.headers },
    body: options.streamed ? stream : body,
    duplex: 'half',
  } as RequestInit);
  return { status: response.status, text: await response.text() };
}

describe('a flood of sessions', () => {
  it('is refused past --max-sessions with 503, Retry-After and a JSON-RPC error while every session is recent', async () => {
    const server = await start({ maxSessions: 3 });
    for (let i = 0; i < 3; i++) await rawSession(server.url);
    const refused = await post(`${server.url}/mcp`, INITIALIZE);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.json).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32000, message: expect.stringMatching(/limit of 3 MCP sessions \(--max-sessions\); try again in \d+ s/) },
    });
    const sse = await fetch(`${server.url}/sse`);
    expect(sse.status).toBe(503);
    await sse.body?.cancel();
    expect(server.sessionCount()).toBe(3);
  });

  it('makes room by ending the longest-idle session, and never one with a request or stream open', async () => {
    const server = await start({ maxSessions: 2, evictIdleAfterMs: 0 });
    // A legacy SSE session holds its stream open: busy, so never evicted.
    const streaming = await connect('sse', server.url, { user: 'alice' });
    const oldest = await rawSession(server.url);
    const newer = await rawSession(server.url);
    expect(server.sessionCount()).toBe(2);
    const gone = await post(`${server.url}/mcp`, rawToolCall(2, 'retrieve_memories', {}), { 'mcp-session-id': oldest, ...MCP_HEADERS });
    expect(gone.status).toBe(404);
    const kept = await post(`${server.url}/mcp`, rawToolCall(3, 'retrieve_memories', {}), { 'mcp-session-id': newer, ...MCP_HEADERS });
    expect(kept.status).toBe(200);
    expect((await streaming.ok('retrieve_memories', {})).total).toBeGreaterThanOrEqual(0);
    await streaming.close();
  });

  it('is refused with 503 when every session is busy', async () => {
    const server = await start({ maxSessions: 1, evictIdleAfterMs: 0 });
    const streaming = await connect('sse', server.url, { user: 'alice' });
    const refused = await post(`${server.url}/mcp`, INITIALIZE);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    await streaming.close();
  });
});

describe('a huge body sent as fast as possible', () => {
  const HUNDRED_MB = Buffer.alloc(100 * 1024 * 1024, 0x20);

  it('always gets its 413, with or without a declared length', async () => {
    const server = await start();
    // Before the fix, about one attempt in five lost its answer to a connection reset.
    for (let attempt = 0; attempt < 6; attempt++) {
      const answer = await blast(`${server.url}/mcp`, HUNDRED_MB, { streamed: attempt % 2 === 1 });
      expect(answer.status, `attempt ${attempt}`).toBe(413);
      expect(JSON.parse(answer.text).error.message).toMatch(/Payload Too Large: request bodies are limited to \d+ bytes/);
    }
    // Refused before its body is read (no session): the answer still arrives.
    const early = await blast(`${server.url}/mcp`, HUNDRED_MB, { headers: { origin: 'https://evil.example' } });
    expect(early.status).toBe(403);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});

describe('a body that trickles in', () => {
  it('is cut off with 408 after the body time limit', async () => {
    const server = await start({ bodyTimeoutMs: 500 });
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${server.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': '1000', accept: 'application/json, text/event-stream' },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      req.write('{"jsonrpc":"2.0",');
      // …and never the rest.
    });
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.text).error.message).toMatch(/request body did not arrive within 1 s/);
  });
});

describe('a message nested 100,000 levels deep, with content capture on', () => {
  const deep = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);

  it('gets a plain JSON-RPC error on every route, never engine internals or an empty 500', async () => {
    const server = await start();
    const session = await rawSession(server.url);
    const call = `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"store_memory","arguments":${deep(100_000)}}}`;
    const client = await connect('sse', server.url, { user: 'alice' });
    const sseId = (client.transport as unknown as { _endpoint: URL })._endpoint.searchParams.get('sessionId')!;
    for (const [route, headers] of [
      ['/mcp', { 'mcp-session-id': session, ...MCP_HEADERS }],
      ['/mcp', {}],
      [`/messages?sessionId=${sseId}`, {}],
    ] as const) {
      for (const body of [call, deep(100_000), `[${deep(50_000)}]`]) {
        const answer = await post(`${server.url}${route}`, body, headers);
        expect(answer.status, route).toBe(400);
        expect(answer.json?.error?.message, route).toMatch(/^Invalid Request: the message nests objects or arrays more than 64 levels deep\.$/);
        expect(answer.text).not.toMatch(/RangeError|call stack/);
      }
    }
    // A legitimate call right after still works.
    const fine = await post(`${server.url}/mcp`, rawToolCall(5, 'store_memory', { content: 'after the attack' }), { 'mcp-session-id': session, ...MCP_HEADERS });
    expect(fine.json.result.structuredContent).toMatchObject({ size: 16 });
    await client.close();
  });
});
