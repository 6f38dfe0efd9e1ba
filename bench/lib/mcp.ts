/*
 * MCP clients for the benchmarks: the SDK's own Client on each transport, exactly as a third
 * party (or the Memento client, minus its tracing) would connect, plus the command lines that
 * start each stdio server.
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { USER_META_KEY } from '../../src/protocol.ts';
import { PROCS, ROOT } from './child.ts';

export type TransportKind = 'http' | 'sse' | 'stdio';

export interface StdioCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
  /** The SDK client refuses a message larger than this (its default is 10 MiB). */
  maxBufferSize?: number;
  stderr?: 'inherit' | 'ignore';
}

export type Target = { kind: 'http' | 'sse'; url: string } | { kind: 'stdio'; server: StdioCommand };

export async function connect(target: Target, name = 'bench'): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' });
  if (target.kind === 'stdio') await client.connect(new StdioClientTransport({ stderr: 'inherit', ...target.server }));
  else if (target.kind === 'sse') await client.connect(new SSEClientTransport(new URL(`${target.url}/sse`)));
  else await client.connect(new StreamableHTTPClientTransport(new URL(`${target.url}/mcp`)));
  // The SDK validates structured results against the output schemas it learned from tools/list,
  // as every client that lists tools first does; list them so that cost is part of each call.
  await client.listTools();
  return client;
}

/** Calls a tool as the Memento client does: the user in `_meta`, outside the arguments. */
export async function callTool(client: Client, name: string, args: Record<string, unknown>, user = 'bench'): Promise<CallToolResult> {
  const result = (await client.callTool({ name, arguments: args, _meta: { [USER_META_KEY]: user } })) as CallToolResult;
  if (result.isError) {
    const text = result.content?.find((c) => c.type === 'text');
    throw new Error(`${name} failed: ${text && 'text' in text ? text.text : 'isError'}`);
  }
  return result;
}

function envRecord(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** `memento serve --stdio`, started as bin/memento starts it (telemetry preloaded). */
export function mementoStdio(dataDir: string, env: NodeJS.ProcessEnv): StdioCommand {
  return {
    command: process.execPath,
    args: ['--import', join(ROOT, 'src/telemetry/preload.ts'), join(ROOT, 'src/cli.ts'), 'serve', '--stdio', '--data-dir', dataDir],
    env: envRecord(env),
  };
}

export function floorStdio(env: NodeJS.ProcessEnv, flags: string[] = []): StdioCommand {
  return { command: process.execPath, args: [join(PROCS, 'floor-server.ts'), 'stdio', ...flags], env: envRecord(env) };
}

/** The official @modelcontextprotocol/server-memory, as its README runs it (MEMORY_FILE_PATH). */
export function serverMemoryStdio(file: string, env: NodeJS.ProcessEnv, maxBufferSize?: number): StdioCommand {
  return {
    command: process.execPath,
    args: [join(ROOT, 'node_modules/@modelcontextprotocol/server-memory/dist/index.js')],
    env: envRecord({ ...env, MEMORY_FILE_PATH: file }),
    // Its only stderr output is a start-up banner.
    stderr: 'ignore',
    ...(maxBufferSize ? { maxBufferSize } : {}),
  };
}
