/*
 * MCP over stdin/stdout, for desktop MCP hosts and for the Memento client's own child server.
 * stdout carries nothing but MCP messages (logs go to stderr); the server ends when stdin
 * does, which is how a host says goodbye.
 */
import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { instrumentServerTransport } from '../telemetry/mcp.ts';
import type { Storage } from './storage/index.ts';
import { createMcpServer } from './tools.ts';

export interface StdioSession {
  /** Resolves once the session has ended (stdin closed, or close() called). */
  closed: Promise<void>;
  close(): Promise<void>;
}

export async function connectStdio(options: {
  store: Storage;
  defaultUser: string;
  stdin: Readable;
  stdout: Writable;
  /** Largest message read, in bytes. */
  maxMessageBytes: number;
}): Promise<StdioSession> {
  const { stdin, stdout } = options;
  const server = createMcpServer({ store: options.store, defaultUser: options.defaultUser });
  const transport = new StdioServerTransport(stdin, stdout, { maxBufferSize: options.maxMessageBytes });
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  server.server.onclose = () => resolveClosed();
  // The SDK's transport listens for data only; the end of input is ours to notice.
  const onEnd = () => void server.close().catch(() => resolveClosed());
  stdin.once('end', onEnd);
  stdin.once('close', onEnd);
  // A host that went away mid-answer (EPIPE) ends the session instead of the process.
  stdout.on('error', onEnd);
  await server.connect(instrumentServerTransport(transport, { transport: 'stdio' }));
  return {
    closed,
    close: async () => {
      stdin.off('end', onEnd);
      stdin.off('close', onEnd);
      stdout.off('error', onEnd);
      await server.close();
      await closed;
    },
  };
}
