/*
 * What the server suites share: an MCP SDK Client on each transport, with the current user in
 * `params._meta` the way the Memento client sends it, and small readers for tool results.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startHttpServer, type HttpServerOptions, type RunningHttpServer } from '../../src/server/index.ts';
import { USER_META_KEY } from '../../src/protocol.ts';
import { baseEnv, MEMENTO_BIN, ROOT, tempDir, type Running } from '../helpers/memento.ts';

export type Kind = 'http' | 'sse' | 'stdio';

export interface ConnectOptions {
  /** Sent as `_meta["memento/user"]` on every tool call. */
  user?: string;
  /** Sent as `Authorization: Bearer …`. */
  token?: string;
  /** For stdio: the data directory of the spawned `memento serve --stdio`. */
  dataDir?: string;
  env?: Record<string, string | undefined>;
}

export interface Connection {
  client: Client;
  transport: Transport;
  /** Calls a tool (with the connection's user in `_meta`) and returns the raw result. */
  call(name: string, args?: Record<string, unknown>, meta?: Record<string, unknown>): Promise<CallToolResult>;
  /** Calls a tool that must succeed and returns its structured content. */
  ok<T = any>(name: string, args?: Record<string, unknown>): Promise<T>;
  /** Calls a tool that must fail with isError and returns its message. */
  refused(name: string, args?: Record<string, unknown>, meta?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export function textOf(result: CallToolResult): string {
  return result.content
    .filter((c): c is { type: 'text'; text: string } => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

export async function connect(kind: Kind, baseUrl: string, options: ConnectOptions = {}): Promise<Connection> {
  const requestInit: RequestInit = options.token ? { headers: { Authorization: `Bearer ${options.token}` } } : {};
  let transport: Transport;
  if (kind === 'http') transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), { requestInit });
  else if (kind === 'sse') transport = new SSEClientTransport(new URL(`${baseUrl}/sse`), { requestInit });
  else {
    transport = new StdioClientTransport({
      command: MEMENTO_BIN,
      args: ['serve', '--stdio', ...(options.dataDir ? ['--data-dir', options.dataDir] : [])],
      cwd: ROOT,
      env: baseEnv(options.env) as Record<string, string>,
      stderr: 'pipe',
    });
  }
  const client = new Client({ name: 'memento-server-tests', version: '1.0.0' });
  await client.connect(transport);
  const call = async (name: string, args: Record<string, unknown> = {}, meta?: Record<string, unknown>) => {
    const _meta = meta ?? (options.user !== undefined ? { [USER_META_KEY]: options.user } : undefined);
    return (await client.callTool({ name, arguments: args, ...(_meta ? { _meta } : {}) })) as CallToolResult;
  };
  return {
    client,
    transport,
    call,
    ok: async (name, args) => {
      const result = await call(name, args);
      if (result.isError) throw new Error(`${name} failed: ${textOf(result)}`);
      return result.structuredContent as any;
    },
    refused: async (name, args, meta) => {
      const result = await call(name, args, meta);
      if (!result.isError) throw new Error(`${name} was expected to fail but returned ${JSON.stringify(result.structuredContent)}`);
      return textOf(result);
    },
    close: async () => {
      await client.close();
    },
  };
}

/** The embedded backend's index database in the data root (and its WAL files). */
export const INDEX_FILES = /^\.memento-index\.sqlite(-wal|-shm)?$/;

/** Every file below `dir`, as paths relative to it, without the index database. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !(e.parentPath === dir && INDEX_FILES.test(e.name)))
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

/** A raw JSON-RPC POST, for what an SDK client would never send. */
export async function post(
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

export const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

/** Opens a Streamable HTTP session by hand; returns its id. */
export async function rawSession(baseUrl: string, headers: Record<string, string> = {}): Promise<string> {
  const init = await post(`${baseUrl}/mcp`, INITIALIZE, headers);
  const id = init.headers.get('mcp-session-id');
  if (init.status !== 200 || !id) throw new Error(`initialize failed: ${init.status} ${init.text}`);
  const note = await post(
    `${baseUrl}/mcp`,
    JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    { ...headers, 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' },
  );
  if (note.status !== 202) throw new Error(`initialized notification failed: ${note.status} ${note.text}`);
  return id;
}

export function rawToolCall(id: number, name: string, args: unknown, meta?: Record<string, unknown>): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) } });
}

export const MCP_HEADERS = { 'mcp-protocol-version': '2025-06-18' };

/**
 * For a suite of in-process HTTP servers over one temp data directory (named `prefix…`):
 * registers the hooks that make the directory, close every server after each test and remove
 * the directory at the end, and returns `start`, which serves that directory on a free port.
 */
export function httpServers(prefix: string): (options?: Partial<HttpServerOptions>) => Promise<RunningHttpServer> {
  let data: Awaited<ReturnType<typeof tempDir>>;
  const servers: RunningHttpServer[] = [];
  beforeAll(async () => {
    data = await tempDir(prefix);
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await data.cleanup();
  });
  return async (options = {}) => {
    const server = await startHttpServer({ dataDir: data.path, port: 0, defaultUser: 'default', ...options });
    servers.push(server);
    return server;
  };
}

/**
 * Stores from five HTTP sessions at once until `count` stores are acknowledged, then SIGKILLs
 * the server in the middle of the writes still going, waits for it to end and closes the
 * sessions. Returns each acknowledged memory's id with the `i` its content is `body(i)` of.
 */
export async function storeUntilKilled(server: Running, body: (i: number) => string, count = 60): Promise<Map<string, number>> {
  const sessions = await Promise.all(Array.from({ length: 5 }, () => connect('http', server.url, { user: 'alice' })));
  const acknowledged = new Map<string, number>();
  let killed = false;
  await Promise.all(
    sessions.map(async (session, w) => {
      for (let i = w; !killed; i += sessions.length) {
        try {
          const stored = await session.ok('store_memory', { content: body(i), filename: `n${i}.txt` });
          acknowledged.set(stored.id, i);
        } catch {
          return;
        }
        if (acknowledged.size >= count && !killed) {
          killed = true;
          server.child.kill('SIGKILL');
        }
      }
    }),
  );
  await server.stop();
  await Promise.all(sessions.map((s) => s.close().catch(() => {})));
  return acknowledged;
}
