/*
 * Memento's server with a peer nobody here wrote: the MCP TypeScript SDK v2 client
 * (`@modelcontextprotocol/client`, the 2026-07-28 spec line), in its default mode ('legacy':
 * the 2025 initialize handshake) and its auto-negotiating mode ('auto': probe with
 * server/discover, fall back to initialize), over Streamable HTTP and stdio: tools listed and
 * called, and the trace context the client puts in `_meta` joined by the server's span.
 *
 * Memento's server is built on SDK v1 (1.32.x), which does not serve the stateless 2026-07-28
 * era: 'auto' must settle on the legacy era with a version the server supports, and a client
 * pinned to 2026-07-28 must get a clear refusal rather than a half-working session.
 */
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport, type Transport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtlpReceiver, SPAN_KIND } from '../helpers/otlp-receiver.ts';
import { baseEnv, MEMENTO_BIN, startMemento, tempDir, type Running } from '../helpers/memento.ts';

const receiver = new OtlpReceiver();
let data: { path: string; cleanup: () => Promise<void> };
let http: Running;

beforeAll(async () => {
  await receiver.start();
  data = await tempDir('memento-sdk-v2-');
  http = await startMemento(['serve', '--port', '0', '--data-dir', join(data.path, 'http')], { env: receiver.env() });
});
afterAll(async () => {
  await http?.stop();
  await receiver.stop();
  await data.cleanup();
});

type Mode = 'legacy' | 'auto';
const transports: Record<string, () => Transport> = {
  'Streamable HTTP': () => new StreamableHTTPClientTransport(new URL(`${http.url}/mcp`)),
  stdio: () =>
    new StdioClientTransport({
      command: MEMENTO_BIN,
      args: ['serve', '--stdio', '--data-dir', join(data.path, 'stdio')],
      env: baseEnv(receiver.env()) as Record<string, string>,
    }),
};

const hex = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');

for (const [name, make] of Object.entries(transports)) {
  for (const mode of ['legacy', 'auto'] as Mode[]) {
    describe(`SDK v2 client, ${mode} mode, over ${name}`, () => {
      it('lists the tools, calls one, and the server span joins the trace context in _meta', async () => {
        const client = new Client({ name: 'sdk-v2-peer', version: '1.0.0' }, { versionNegotiation: { mode } });
        await client.connect(make());
        try {
          // Memento's SDK line answers in the 2025 era, with a version it supports.
          expect(client.getProtocolEra()).toBe('legacy');
          expect(client.getNegotiatedProtocolVersion()).toMatch(/^2025-\d{2}-\d{2}$/);
          expect(client.getServerVersion()?.name).toBe('memento');

          const { tools } = await client.listTools();
          expect(tools.map((t) => t.name).sort()).toEqual(['delete_memory', 'get_memory', 'retrieve_memories', 'search_memories', 'store_memory']);

          const traceId = hex(32);
          const parent = hex(16);
          const result = await client.callTool({
            name: 'store_memory',
            arguments: { content: `stored by the SDK v2 client (${mode}, ${name})` },
            _meta: { traceparent: `00-${traceId}-${parent}-01`, 'memento/user': 'peer' },
          });
          expect(result.isError).toBeFalsy();
          // The server names its span, in the caller's trace.
          expect(String(result._meta?.['memento/server-span'])).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));

          const spans = await receiver.waitFor((all) => all.some((s) => s.traceId === traceId && s.name === 'tools/call store_memory'), 30_000);
          const served = spans.find((s) => s.traceId === traceId && s.name === 'tools/call store_memory')!;
          expect(served).toMatchObject({ kind: SPAN_KIND.SERVER, parentSpanId: parent, service: 'memento-mcp-server' });
          expect(served.attributes['network.transport']).toBe(name === 'stdio' ? 'pipe' : 'tcp');
          expect(served.attributes['mcp.protocol.version']).toBe(client.getNegotiatedProtocolVersion());
        } finally {
          await client.close();
        }
      });
    });
  }
}

describe('SDK v2 client pinned to the 2026-07-28 era', () => {
  it('is refused clearly: Memento’s SDK line does not serve the stateless era', async () => {
    const client = new Client({ name: 'sdk-v2-peer', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    const err = await client.connect(transports['Streamable HTTP']!()).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/did not offer pinned protocol version 2026-07-28 via server\/discover/);
    await client.close().catch(() => {});
  });
});
