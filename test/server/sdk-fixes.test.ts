/*
 * The SDK work-arounds in src/server/sdk-fixes.ts, checked against the SDK itself: a bare
 * McpServer on the SDK's Streamable HTTP transport in JSON mode, called through the SDK
 * client over real HTTP, with and without the fix.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { openJsonStreamCount, releaseJsonResponseStreams } from '../../src/server/sdk-fixes.ts';

let http: Server | undefined;
afterEach(async () => {
  http?.closeAllConnections();
  await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
});

async function callsOnOneSession(fix: boolean, calls: number): Promise<number | undefined> {
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => 'one-session', enableJsonResponse: true });
  if (fix) releaseJsonResponseStreams(transport);
  const server = new McpServer({ name: 'bare', version: '1' });
  server.registerTool('noop', { description: 'does nothing' }, async () => ({ content: [{ type: 'text', text: 'ok' }] }));
  await server.connect(transport);
  http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void transport.handleRequest(req, res, chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined));
  });
  await new Promise<void>((r) => http!.listen(0, '127.0.0.1', r));
  const client = new Client({ name: 'c', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`)));
  for (let i = 0; i < calls; i++) await client.callTool({ name: 'noop', arguments: {} });
  const open = openJsonStreamCount(transport);
  await client.close();
  await server.close();
  return open;
}

describe('releaseJsonResponseStreams', () => {
  it('leaves no stream behind once each JSON answer is sent', async () => {
    expect(await callsOnOneSession(true, 200)).toBe(0);
  });

  it('is still needed: the SDK alone keeps one stream per POST (remove the fix when this fails)', async () => {
    expect(await callsOnOneSession(false, 200)).toBeGreaterThanOrEqual(200);
  });
});
