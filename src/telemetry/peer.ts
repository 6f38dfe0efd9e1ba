/*
 * The HTTP peer of the request that carried an MCP message, on the context, so that the MCP
 * SERVER span can say who called (client.address / client.port, semantic-conventions-genai
 * mcp.server span). The MCP SDK hands the transport only the request's headers; the socket is
 * known where the request arrives (src/server/http.ts), which sets it around its handling.
 */
import { context, createContextKey, type Context } from '@opentelemetry/api';

const PEER_KEY = createContextKey('memento.mcp.http.peer');

export interface Peer {
  address: string;
  port?: number;
}

export function withPeer(ctx: Context, socket: { remoteAddress?: string; remotePort?: number }): Context {
  if (!socket.remoteAddress) return ctx;
  // IPv4 clients of a dual-stack listener arrive as ::ffff:a.b.c.d.
  const address = socket.remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  return ctx.setValue(PEER_KEY, { address, ...(socket.remotePort ? { port: socket.remotePort } : {}) } satisfies Peer);
}

export function activePeer(ctx: Context = context.active()): Peer | undefined {
  return ctx.getValue(PEER_KEY) as Peer | undefined;
}
