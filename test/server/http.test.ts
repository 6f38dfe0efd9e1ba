/*
 * The HTTP layer: /health, Host and Origin checks, bearer tokens, session lifetimes, and
 * JSON-RPC answers to malformed requests, against a real server on a real port (in-process,
 * so session timeouts can be short).
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { connect, httpServers, INITIALIZE, MCP_HEADERS, post, rawSession, rawToolCall } from './support.ts';

/** A request with headers fetch would not let us forge (Host). */
function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const start = httpServers('memento-http-');

describe('/health', () => {
  it('reports status, version, uptime and whether the data directory is writable, without a token', async () => {
    const server = await start({ sharedToken: 'health-check-secret-token' });
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      status: 'ok',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      uptimeSeconds: expect.any(Number),
      storage: 'embedded',
      dataDirWritable: true,
    });
    expect(text).not.toContain('health-check-secret-token');
    expect((await fetch(`${server.url}/health`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${server.url}/health`, { method: 'POST' })).status).toBe(405);
  });
});

describe('Host and Origin (DNS-rebinding protection)', () => {
  it('refuses a foreign Host with 403, on every route', async () => {
    const server = await start();
    for (const path of ['/mcp', '/sse', '/health']) {
      const res = await request(`${server.url}${path}`, {
        method: path === '/mcp' ? 'POST' : 'GET',
        headers: { host: 'evil.example:8000', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: path === '/mcp' ? INITIALIZE : undefined,
      });
      expect(res.status, path).toBe(403);
      expect(JSON.parse(res.text).error.message).toMatch(/Host header/);
    }
    expect(server.sessionCount()).toBe(0);
  });

  it('refuses a foreign or opaque Origin with 403 and accepts local ones', async () => {
    const server = await start();
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1.evil.example']) {
      const res = await post(`${server.url}/mcp`, INITIALIZE, { origin });
      expect(res.status, origin).toBe(403);
      expect(res.json.error.message).toMatch(/Origin/);
    }
    // MCP Inspector's proxy page, and a page on the server's own address.
    for (const origin of ['http://localhost:6274', `${server.url}`, 'http://[::1]:3000']) {
      const res = await post(`${server.url}/mcp`, INITIALIZE, { origin });
      expect(res.status, origin).toBe(200);
    }
  });

  it('accepts the host names given with allowedHosts, and any with "*"', async () => {
    const named = await start({ allowedHosts: ['memento.internal'] });
    const ok = await request(`${named.url}/health`, { headers: { host: 'memento.internal:8000' } });
    expect(ok.status).toBe(200);
    const other = await request(`${named.url}/health`, { headers: { host: 'other.internal' } });
    expect(other.status).toBe(403);
    const any = await start({ allowedHosts: ['*'] });
    expect((await request(`${any.url}/health`, { headers: { host: 'whatever.example' } })).status).toBe(200);
  });
});

describe('bearer tokens', () => {
  const TOKENS = { 'tok-alice-7f3a9c1e5b2d4f6a': 'alice', 'tok-bob-0c9e8d7f6a5b4c3d': 'bob' };

  it('with a tokens file: 401 without a valid token, and the token decides the user', async () => {
    const server = await start({ tokens: TOKENS });
    const missing = await post(`${server.url}/mcp`, INITIALIZE);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(missing.json.error.message).toMatch(/requires an "Authorization: Bearer <token>" header/);
    const wrong = await post(`${server.url}/mcp`, INITIALIZE, { authorization: 'Bearer tok-alice-7f3a9c1e5b2d4f6b' });
    expect(wrong.status).toBe(401);
    expect(wrong.text).not.toContain('tok-alice');
    expect((await post(`${server.url}/mcp`, INITIALIZE, { authorization: 'Basic dG9rOng=' })).status).toBe(401);
    const sse = await fetch(`${server.url}/sse`);
    expect(sse.status).toBe(401);
    await sse.body?.cancel();

    const alice = await connect('http', server.url, { token: 'tok-alice-7f3a9c1e5b2d4f6a' });
    const stored = await alice.ok('store_memory', { content: 'alice only' });
    expect(await alice.refused('get_memory', { id: stored.id, user_id: 'bob' })).toMatch(
      /user_id names "bob", but this session is authenticated as "alice"/,
    );
    expect(await alice.refused('retrieve_memories', {}, { 'memento/user': 'bob' })).toMatch(/bearer token belongs to "alice"/);
    expect((await alice.ok('get_memory', { id: stored.id, user_id: 'alice' })).content).toBe('alice only');

    const bob = await connect('sse', server.url, { token: 'tok-bob-0c9e8d7f6a5b4c3d' });
    expect((await bob.ok('retrieve_memories', {})).total).toBe(0);
    expect(await bob.refused('get_memory', { id: stored.id })).toMatch(/No memory with id/);
    await Promise.all([alice.close(), bob.close()]);
  });

  it("refuses a session opened with one user's token when another user's token uses it", async () => {
    const server = await start({ tokens: TOKENS });
    const auth = { authorization: 'Bearer tok-alice-7f3a9c1e5b2d4f6a' };
    const session = await rawSession(server.url, auth);
    const hijack = await post(`${server.url}/mcp`, rawToolCall(2, 'retrieve_memories', {}), {
      authorization: 'Bearer tok-bob-0c9e8d7f6a5b4c3d',
      'mcp-session-id': session,
      ...MCP_HEADERS,
    });
    expect(hijack.status).toBe(403);
    const owner = await post(`${server.url}/mcp`, rawToolCall(3, 'retrieve_memories', {}), {
      ...auth,
      'mcp-session-id': session,
      ...MCP_HEADERS,
    });
    expect(owner.status).toBe(200);
    expect(owner.json.result.isError).toBeFalsy();
  });

  it('with a shared token: 401 without it, and the client names the user in _meta', async () => {
    const server = await start({ sharedToken: 'shared-secret-4b8e2c6a9d1f' });
    expect((await post(`${server.url}/mcp`, INITIALIZE)).status).toBe(401);
    expect((await post(`${server.url}/mcp`, INITIALIZE, { authorization: 'Bearer shared-secret-4b8e2c6a9d1e' })).status).toBe(401);
    const alice = await connect('http', server.url, { token: 'shared-secret-4b8e2c6a9d1f', user: 'alice' });
    const bob = await connect('http', server.url, { token: 'shared-secret-4b8e2c6a9d1f', user: 'bob' });
    const stored = await alice.ok('store_memory', { content: 'shared-token note' });
    expect(await bob.refused('get_memory', { id: stored.id })).toMatch(/No memory with id/);
    expect((await alice.ok('get_memory', { id: stored.id })).content).toBe('shared-token note');
    await Promise.all([alice.close(), bob.close()]);
  });

  it('keeps the token from the SDK and the tool handlers (the Authorization header is removed)', async () => {
    const server = await start({ sharedToken: 'scrubbed-secret-1a2b3c4d' });
    const session = await rawSession(server.url, { authorization: 'Bearer scrubbed-secret-1a2b3c4d' });
    // A tool error quotes the request's user from _meta; nothing anywhere quotes headers. The
    // strongest check from outside is that no answer ever contains the token.
    const answer = await post(
      `${server.url}/mcp`,
      rawToolCall(5, 'get_memory', { id: 'nope' }, { 'memento/user': 'alice' }),
      { authorization: 'Bearer scrubbed-secret-1a2b3c4d', 'mcp-session-id': session, ...MCP_HEADERS },
    );
    expect(answer.status).toBe(200);
    expect(answer.text).not.toContain('scrubbed-secret');
  });
});

describe('sessions', () => {
  it('answers a request for an unknown session with 404 and a JSON-RPC error', async () => {
    const server = await start();
    const res = await post(`${server.url}/mcp`, rawToolCall(1, 'retrieve_memories', {}), {
      'mcp-session-id': '00000000-0000-4000-8000-000000000000',
      ...MCP_HEADERS,
    });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
    const sse = await post(`${server.url}/messages?sessionId=nope`, rawToolCall(1, 'retrieve_memories', {}));
    expect(sse.status).toBe(404);
  });

  it('refuses a request without a session that is not an initialize', async () => {
    const server = await start();
    const res = await post(`${server.url}/mcp`, rawToolCall(1, 'retrieve_memories', {}));
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/start with an initialize request/);
    const get = await fetch(`${server.url}/mcp`, { headers: { accept: 'text/event-stream' } });
    expect(get.status).toBe(400);
  });

  it('ends a session on DELETE: later use gets 404', async () => {
    const server = await start();
    const session = await rawSession(server.url);
    expect(server.sessionCount()).toBe(1);
    const del = await fetch(`${server.url}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': session, ...MCP_HEADERS } });
    expect(del.status).toBe(200);
    expect(server.sessionCount()).toBe(0);
    const after = await post(`${server.url}/mcp`, rawToolCall(2, 'retrieve_memories', {}), {
      'mcp-session-id': session,
      ...MCP_HEADERS,
    });
    expect(after.status).toBe(404);
  });

  it('ends sessions that sit idle past the timeout, but not while a request is in progress', async () => {
    const server = await start({ sessionIdleTimeoutMs: 300 });
    const idle = await rawSession(server.url);
    // An SDK client keeps its GET stream open: that session is in use, however quiet.
    const busy = await connect('http', server.url, { user: 'idle-test' });
    await waitFor('one session left', () => (server.sessionCount() === 1 ? true : undefined), { intervalMs: 50 });
    const res = await post(`${server.url}/mcp`, rawToolCall(2, 'retrieve_memories', {}), {
      'mcp-session-id': idle,
      ...MCP_HEADERS,
    });
    expect(res.status).toBe(404);
    expect((await busy.ok('retrieve_memories', {})).total).toBe(0);
    // Closing the client drops its stream without a DELETE; the timeout then ends its session.
    await busy.close();
    await waitFor('no session left', () => (server.sessionCount() === 0 ? true : undefined), { intervalMs: 50 });
  });

  it('ends a legacy SSE session when its stream closes', async () => {
    const server = await start();
    const client = await connect('sse', server.url, { user: 'alice' });
    expect(server.sessionCount()).toBe(1);
    await client.close();
    await waitFor('no session left', () => (server.sessionCount() === 0 ? true : undefined), { intervalMs: 50 });
  });
});

describe('malformed requests', () => {
  it('answers JSON-RPC errors and keeps serving', async () => {
    const server = await start({ maxContentBytes: 64 * 1024 });
    const session = await rawSession(server.url);
    const headers = { 'mcp-session-id': session, ...MCP_HEADERS };

    const parse = await post(`${server.url}/mcp`, '{"jsonrpc": "2.0", "id": 1, "method": ', headers);
    expect(parse.status).toBe(400);
    expect(parse.json.error.code).toBe(-32700);

    const notRpc = await post(`${server.url}/mcp`, '{"hello": "world"}', headers);
    expect(notRpc.status).toBe(400);
    expect(notRpc.json.error.code).toBe(-32700);

    const unknownMethod = await post(`${server.url}/mcp`, JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'memories/steal' }), headers);
    expect(unknownMethod.json).toMatchObject({ id: 7, error: { code: -32601 } });

    const unknownTool = await post(`${server.url}/mcp`, rawToolCall(8, 'format_disk', {}), headers);
    expect(unknownTool.json.result).toMatchObject({ isError: true, content: [{ text: expect.stringMatching(/format_disk not found/) }] });

    const tooLarge = await post(`${server.url}/mcp`, rawToolCall(9, 'store_memory', { content: 'x'.repeat(1024 * 1024 + 200 * 1024) }), headers);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.json.error.message).toMatch(/limited to \d+ bytes/);

    const sseParse = await post(`${server.url}/messages?sessionId=x`, 'not json');
    expect(sseParse.status).toBe(404);

    expect((await fetch(`${server.url}/nowhere`)).status).toBe(404);
    expect((await fetch(`${server.url}/mcp`, { method: 'PUT' })).status).toBe(405);

    const fine = await post(`${server.url}/mcp`, rawToolCall(10, 'store_memory', { content: 'still serving', user_id: 'carol' }), headers);
    expect(fine.json.result.structuredContent).toMatchObject({ size: 13 });
  });

  it('refuses a legacy SSE message that is not JSON-RPC without echoing it', async () => {
    const server = await start();
    const client = await connect('sse', server.url, { user: 'alice' });
    const sessionId = (client.transport as unknown as { _endpoint: URL })._endpoint.searchParams.get('sessionId')!;
    const garbage = await post(`${server.url}/messages?sessionId=${sessionId}`, '{"secret-looking": "payload"}');
    expect(garbage.status).toBe(400);
    expect(garbage.json.error.code).toBe(-32600);
    expect(garbage.text).not.toContain('payload');
    const parse = await post(`${server.url}/messages?sessionId=${sessionId}`, '{');
    expect(parse.json.error.code).toBe(-32700);
    expect((await client.ok('retrieve_memories', {})).total).toBeGreaterThanOrEqual(0);
    await client.close();
  });
});
