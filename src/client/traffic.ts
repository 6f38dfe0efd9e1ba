/*
 * `--traffic` for the one exchange that is not HTTP: JSON-RPC over the pipe to the MCP
 * server the client started itself. Pairs each request with its response by id and reports
 * it like an HTTP exchange (method `stdio`, the JSON-RPC method as the target).
 */
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import type { Exchange } from './http.ts';

type Message = { id?: string | number; method?: string; params?: { name?: unknown }; error?: unknown; result?: { isError?: unknown } };

export function observeStdio(inner: Transport, observe: (exchange: Exchange) => void): Transport {
  const pending = new Map<string | number, { started: number; target: string; bytesSent: number }>();
  const outer: Transport = {
    start: () => inner.start(),
    close: () => inner.close(),
    send(message: JSONRPCMessage, options?: TransportSendOptions) {
      const m = message as Message;
      if (m.method !== undefined && m.id !== undefined) {
        const target = typeof m.params?.name === 'string' ? `${m.method} ${m.params.name}` : m.method;
        pending.set(m.id, { started: performance.now(), target, bytesSent: Buffer.byteLength(JSON.stringify(message)) });
      }
      return inner.send(message, options);
    },
  };
  inner.onclose = () => outer.onclose?.();
  inner.onerror = (error) => outer.onerror?.(error);
  inner.onmessage = (message: JSONRPCMessage, extra?: MessageExtraInfo) => {
    const m = message as Message;
    const entry = m.method === undefined && m.id !== undefined ? pending.get(m.id) : undefined;
    if (entry) {
      pending.delete(m.id!);
      try {
        observe({
          service: 'MCP_SERVER',
          method: 'stdio',
          target: entry.target,
          status: m.error || m.result?.isError ? 'error' : 'ok',
          durationMs: performance.now() - entry.started,
          bytesSent: entry.bytesSent,
          bytesReceived: Buffer.byteLength(JSON.stringify(message)),
        });
      } catch {
        // A display hook must never break a request.
      }
    }
    outer.onmessage?.(message, extra);
  };
  return outer;
}
