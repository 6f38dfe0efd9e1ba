/*
 * How the client decides what a failed MCP request means — resend it, reconnect, or report it
 * — from typed signals (the SDK's error classes and codes, the HTTP status, the socket error
 * code), one class at a time, each produced for real: a real Memento server on a real port,
 * a TCP proxy that holds or resets the connection at an exact point. Whatever happens, a
 * store is never made twice.
 */
import { createServer } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { TurnCancelled, TurnError } from '../../src/client/errors.ts';
import { agentFetch, createAgent } from '../../src/client/http.ts';
import { McpConnection } from '../../src/client/mcp.ts';
import { mcpFailure } from '../../src/client/mcp-failure.ts';
import { EmbeddedStorage, startHttpServer, type RunningHttpServer } from '../../src/server/index.ts';
import { createMcpServer } from '../../src/server/tools.ts';
import { freePort, tempDir } from '../helpers/memento.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

const USER = 'erin';
const TOKEN = 'a-shared-token-long-enough-0001';

let data: Awaited<ReturnType<typeof tempDir>>;
let port: number;
let server: RunningHttpServer;
let proxy: TcpProxy | undefined;
const open: McpConnection[] = [];

const serve = (options: { sharedToken?: string } = {}) => startHttpServer({ dataDir: data.path, port, ...options });

function connection(url: string, options: { token?: string; timeoutMs?: number } = {}): McpConnection {
  const mcp = new McpConnection({
    url,
    token: options.token,
    fetch: agentFetch(createAgent(), 'MCP_SERVER'),
    requestTimeoutMs: options.timeoutMs ?? 10_000,
  });
  open.push(mcp);
  return mcp;
}

/** The user's memories as the server lists them (through a connection of its own). */
async function stored(): Promise<string[]> {
  const reader = connection(`${server.url}/mcp`);
  const result = await reader.call('retrieve_memories', {}, USER);
  return (result.structuredContent as { memories: { preview: string }[] }).memories.map((m) => m.preview);
}

/** The failure a call ends with (it must fail). */
async function failure(call: Promise<unknown>): Promise<TurnError | TurnCancelled> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call should have failed').toBeDefined();
  expect(err instanceof TurnError || err instanceof TurnCancelled).toBe(true);
  return err as TurnError | TurnCancelled;
}

/** Counts the tools/call requests that went through the proxy. */
function countToolCalls(p: TcpProxy): () => number {
  let n = 0;
  const previous = p.onClientData;
  p.onClientData = (chunk, c) => {
    if (chunk.toString('utf8').includes('"method":"tools/call"')) n++;
    previous?.(chunk, c);
  };
  return () => n;
}

beforeEach(async () => {
  data = await tempDir('memento-mcp-failures-');
  port = await freePort();
  server = await serve();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((m) => m.close()));
  await proxy?.close();
  proxy = undefined;
  await server.close();
  await data.cleanup();
});

describe('a failed MCP request, by what it says about itself', () => {
  it('unreachable (cause.code ECONNREFUSED): nothing was sent; the same connection works once a server is there', async () => {
    await server.close();
    const mcp = connection(`${server.url}/mcp`);
    const err = await failure(mcp.call('store_memory', { content: 'while the server was down' }, USER));
    expect(err).toBeInstanceOf(TurnError);
    expect((err as TurnError).errorType).toBe('ECONNREFUSED');
    expect(mcpFailure((err as TurnError).cause)).toEqual({ kind: 'unreachable', code: 'ECONNREFUSED' });
    expect(err.message).toMatch(/^cannot use the MCP server at http:\/\/127\.0\.0\.1:\d+\/mcp \(.+\); check MEMENTO_MCP_URL/);

    server = await serve();
    expect((await mcp.call('store_memory', { content: 'after the server came back' }, USER)).isError).toBeFalsy();
    expect(await stored()).toEqual(['after the server came back']);
  });

  it('HTTP 404 for the session (StreamableHTTPError.code): a restarted server ran nothing, so it is sent once more', async () => {
    const mcp = connection(`${server.url}/mcp`);
    await mcp.modelTools();
    await server.close();
    server = await serve(); // same port and data, but it knows no session
    const result = await mcp.call('store_memory', { content: 'stored across a restart' }, USER);
    expect(result.isError).toBeFalsy();
    expect(await stored()).toEqual(['stored across a restart']);
  });

  it('connection lost after the server acted (cause.code ECONNRESET / UND_ERR_SOCKET): never sent again', async () => {
    proxy = await startTcpProxy(port);
    const p = proxy;
    p.onClientData = (chunk, c) => {
      if (chunk.toString('utf8').includes('"method":"tools/call"')) c.hold();
    };
    // The server's answer exists: it has stored the memory. The client never sees it.
    p.onServerData = (_chunk, c) => {
      if (c.holding) c.client.resetAndDestroy();
    };
    const toolCalls = countToolCalls(p);
    const mcp = connection(`${p.url}/mcp`);
    await mcp.modelTools();
    const err = await failure(mcp.call('store_memory', { content: 'stored once, answer lost' }, USER));
    const kind = mcpFailure((err as TurnError).cause);
    expect(kind.kind).toBe('lost');
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain((err as TurnError).errorType);
    expect(toolCalls()).toBe(1);
    expect(await stored()).toEqual(['stored once, answer lost']);

    // The broken connection was dropped: the next call opens a new one and works.
    p.onClientData = undefined;
    p.onServerData = undefined;
    expect((await mcp.call('retrieve_memories', {}, USER)).isError).toBeFalsy();
  });

  it('no answer in time (McpError RequestTimeout): reported as a timeout, never sent again', async () => {
    proxy = await startTcpProxy(port);
    const p = proxy;
    p.onClientData = (chunk, c) => {
      if (chunk.toString('utf8').includes('"method":"tools/call"')) c.hold();
    };
    const toolCalls = countToolCalls(p);
    const mcp = connection(`${p.url}/mcp`, { timeoutMs: 1500 });
    await mcp.modelTools();
    const err = await failure(mcp.call('store_memory', { content: 'slow answer' }, USER));
    expect((err as TurnError).errorType).toBe('timeout');
    expect(toolCalls()).toBe(1);
    expect(await stored()).toEqual(['slow answer']);
  });

  it('the caller aborted (signal): a cancelled turn, not an error, and not sent again', async () => {
    proxy = await startTcpProxy(port);
    const p = proxy;
    const abort = new AbortController();
    p.onClientData = (chunk, c) => {
      if (chunk.toString('utf8').includes('"method":"tools/call"')) {
        c.hold();
        abort.abort();
      }
    };
    const toolCalls = countToolCalls(p);
    const mcp = connection(`${p.url}/mcp`);
    await mcp.modelTools();
    const err = await failure(mcp.call('store_memory', { content: 'cancelled' }, USER, abort.signal));
    expect(err).toBeInstanceOf(TurnCancelled);
    expect(toolCalls()).toBe(1);
  });

  it.each(['mcp', 'sse'] as const)('HTTP 401 over /%s (StreamableHTTPError / SseError code): names the token to check', async (path) => {
    await server.close();
    server = await serve({ sharedToken: TOKEN });
    const err = await failure(connection(`${server.url}/${path}`, { token: 'not-the-right-token-000000' }).modelTools());
    expect(err.message).toBe(`the MCP server at ${server.url}/${path} refused the request (401); check MEMENTO_MCP_TOKEN.`);
    expect((err as TurnError).errorType).toBe('401');
    // With the right token the same server answers.
    expect((await connection(`${server.url}/${path}`, { token: TOKEN }).modelTools()).length).toBeGreaterThan(0);
  });

  it('not connected (the SDK client has no transport): nothing was sent', async () => {
    const client = new Client({ name: 'probe', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`)));
    await client.close();
    const err = await client.listTools().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(mcpFailure(err, client.transport !== undefined)).toEqual({ kind: 'not-connected' });
  });
});

describe('over legacy SSE', () => {
  it('HTTP 404 for a POST (HttpStatusError.status): the session is gone, so it is sent once more on a new one', async () => {
    const store = new EmbeddedStorage({ dataDir: data.path });
    await store.init();
    // The SDK's own legacy SSE server in front of Memento's tools, whose sessions the test can forget.
    const sessions = new Map<string, SSEServerTransport>();
    const posts: number[] = [];
    const http = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/sse' && req.method === 'GET') {
        const transport = new SSEServerTransport('/messages', res);
        sessions.set(transport.sessionId, transport);
        await createMcpServer({ store, defaultUser: USER }).connect(transport);
        return;
      }
      const transport = sessions.get(url.searchParams.get('sessionId') ?? '');
      if (!transport) {
        posts.push(404);
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Session not found');
        return;
      }
      posts.push(202);
      await transport.handlePostMessage(req, res);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    try {
      const mcp = connection(`http://127.0.0.1:${(http.address() as { port: number }).port}/sse`);
      await mcp.modelTools();
      sessions.clear(); // the server forgot the session; its event stream is still open
      const result = await mcp.call('store_memory', { content: 'stored on the second session' }, USER);
      expect(result.isError).toBeFalsy();
      expect(posts.filter((s) => s === 404)).toHaveLength(1);
      const listed = await mcp.call('retrieve_memories', {}, USER);
      expect((listed.structuredContent as { memories: { preview: string }[] }).memories.map((m) => m.preview)).toEqual([
        'stored on the second session',
      ]);
    } finally {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      await store.close();
    }
  });
});
