/*
 * The floor: the MCP SDK's own McpServer with one no-op tool, served the way Memento serves
 * (node:http, one McpServer and transport per session, Streamable HTTP at /mcp, legacy SSE at
 * /sse + /messages), or on stdio. Whatever Memento takes beyond this on the same transport is
 * Memento's own cost: tools, schemas, storage, identity and tracing.
 *
 * argv: http | stdio [json]: with `json`, Streamable HTTP answers POSTs with plain JSON
 * (enableJsonResponse), the mode Memento's server uses, instead of an SSE stream per POST.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

function newServer(): McpServer {
  const server = new McpServer({ name: 'floor', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.registerTool('noop', { description: 'Does nothing.', inputSchema: {} }, async () => ({
    content: [{ type: 'text', text: 'ok' }],
  }));
  return server;
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) parts.push(c);
  return parts.length ? JSON.parse(Buffer.concat(parts).toString('utf8')) : undefined;
}

if (process.argv[2] === 'stdio') {
  await newServer().connect(new StdioServerTransport());
} else {
  const { serveParent, processHandlers } = await import('../lib/child.ts');
  const streamable = new Map<string, StreamableHTTPServerTransport>();
  const sse = new Map<string, SSEServerTransport>();
  const app = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/mcp') {
        const id = req.headers['mcp-session-id'];
        if (req.method === 'POST') {
          const body = await readJson(req);
          let transport = typeof id === 'string' ? streamable.get(id) : undefined;
          if (!transport && isInitializeRequest(body)) {
            const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
              sessionIdGenerator: () => randomUUID(),
              enableJsonResponse: process.argv[3] === 'json',
              onsessioninitialized: (sid) => void streamable.set(sid, t),
            });
            t.onclose = () => t.sessionId && streamable.delete(t.sessionId);
            await newServer().connect(t);
            transport = t;
          }
          if (!transport) return void res.writeHead(404).end();
          return void (await transport.handleRequest(req, res, body));
        }
        const transport = typeof id === 'string' ? streamable.get(id) : undefined;
        if (!transport) return void res.writeHead(404).end();
        return void (await transport.handleRequest(req, res));
      }
      if (url.pathname === '/sse' && req.method === 'GET') {
        const t = new SSEServerTransport('/messages', res);
        sse.set(t.sessionId, t);
        res.on('close', () => sse.delete(t.sessionId));
        await newServer().connect(t);
        return;
      }
      if (url.pathname === '/messages' && req.method === 'POST') {
        const t = sse.get(url.searchParams.get('sessionId') ?? '');
        if (!t) return void res.writeHead(404).end();
        return void (await t.handlePostMessage(req, res, await readJson(req)));
      }
      res.writeHead(404).end();
    } catch (err) {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    }
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  serveParent(processHandlers(), { url: `http://127.0.0.1:${(app.address() as AddressInfo).port}` });
}
