/*
 * MCP over stdin/stdout, for desktop MCP hosts and for the Memento client's own child server.
 * stdout carries nothing but MCP messages (logs go to stderr). A bad line gets its JSON-RPC
 * error and the session goes on (stdio-transport.ts); the session ends when stdin does, which
 * is how a host says goodbye, or when stdin or stdout fail, which is an error.
 */
import type { Readable, Writable } from 'node:stream';
import { instrumentServerTransport } from '../telemetry/mcp.ts';
import { telemetryOff } from './telemetry-off.ts';
import { LineTransport } from './stdio-transport.ts';
import type { Storage } from './storage/index.ts';
import { createMcpServer } from './tools.ts';

/** How a stdio session ended: at the end of its input, or because a stream failed. */
export interface StdioEnd {
  error?: Error | undefined;
}

export interface StdioSession {
  /** Resolves once the session has ended (stdin closed or failed, stdout failed, or close() called). */
  closed: Promise<StdioEnd>;
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
  const transport = new LineTransport(stdin, stdout, { maxLineBytes: options.maxMessageBytes });
  let end: StdioEnd = {};
  let resolveClosed!: (end: StdioEnd) => void;
  const closed = new Promise<StdioEnd>((resolve) => (resolveClosed = resolve));
  server.server.onclose = () => resolveClosed(end);
  const finish = (error?: Error) => {
    end = error ? { error } : end;
    void server.close().catch(() => resolveClosed(end));
  };
  const onEnd = () => finish();
  // A host that went away mid-answer (EPIPE) ends the session, not the process: with an error.
  const onError = (error: Error) => finish(error);
  stdin.once('end', onEnd);
  stdin.once('close', onEnd);
  stdin.on('error', onError);
  stdout.on('error', onError);
  // Undecorated when no telemetry is registered (telemetry-off.ts): the spans would be no-ops.
  await server.connect(telemetryOff() ? transport : instrumentServerTransport(transport, { transport: 'stdio' }));
  return {
    closed,
    close: async () => {
      stdin.off('end', onEnd);
      stdin.off('close', onEnd);
      stdin.off('error', onError);
      stdout.off('error', onError);
      await server.close();
      await closed;
    },
  };
}
