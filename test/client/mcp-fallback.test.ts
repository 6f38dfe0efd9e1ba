/*
 * The MCP spec's backwards-compatibility procedure: a URL that answers the Streamable HTTP
 * initialize POST with a 4xx is an older HTTP+SSE server, and the client opens the event
 * stream on the same URL instead. The legacy server here is the SDK's own SSE transport in
 * front of Memento's tools, on a path that does not end in /sse.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { agentFetch, createAgent } from '../../src/client/http.ts';
import { McpConnection } from '../../src/client/mcp.ts';
import { EmbeddedStorage } from '../../src/server/index.ts';
import { createMcpServer } from '../../src/server/tools.ts';
import { tempDir } from '../helpers/memento.ts';

let http: Server;
let base = '';
let data: { path: string; cleanup: () => Promise<void> };
const seen: string[] = [];

beforeAll(async () => {
  data = await tempDir();
  const store = new EmbeddedStorage({ dataDir: data.path });
  await store.init();
  const transports = new Map<string, SSEServerTransport>();
  http = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push(`${req.method} ${url.pathname}`);
    if (url.pathname === '/legacy' && req.method === 'GET') {
      const transport = new SSEServerTransport('/messages', res);
      transports.set(transport.sessionId, transport);
      await createMcpServer({ store, defaultUser: 'ivy' }).connect(transport);
      return;
    }
    if (url.pathname === '/messages' && req.method === 'POST') {
      await transports.get(url.searchParams.get('sessionId') ?? '')?.handlePostMessage(req, res);
      return;
    }
    res.writeHead(405, { allow: 'GET' }).end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterAll(async () => {
  http.closeAllConnections();
  await new Promise<void>((r) => http.close(() => r()));
  await data.cleanup();
});

describe('the MCP connection', () => {
  it('falls back to legacy SSE on the same URL when Streamable HTTP is refused with a 4xx', async () => {
    const mcp = new McpConnection({ url: `${base}/legacy`, fetch: agentFetch(createAgent(), 'MCP_SERVER'), requestTimeoutMs: 5000 });
    try {
      const tools = await mcp.modelTools();
      expect(tools.map((t) => (t.type === 'function' ? t.function.name : ''))).toContain('store_memory');
      const stored = await mcp.call('store_memory', { content: 'legacy servers still work' }, 'ivy');
      expect(stored.isError).toBeFalsy();
      expect(seen.slice(0, 2)).toEqual(['POST /legacy', 'GET /legacy']);
      expect(seen).toContain('POST /messages');
    } finally {
      await mcp.close();
    }
  });
});
