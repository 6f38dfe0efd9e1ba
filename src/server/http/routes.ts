/*
 * The MCP routes: Streamable HTTP at /mcp (one session per initialize, named by Mcp-Session-Id)
 * and the legacy HTTP+SSE pair, a GET /sse stream plus POST /messages?sessionId=…. Each new
 * session gets its own McpServer from the factory (the SDK's `getServer()` pattern).
 *
 * With `--stateless`, /mcp is answered by `stateless()` below instead: a server and transport
 * per POST and no session, so the registry (its cap and sweeper) is not involved.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest, JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { instrumentServerTransport, type McpTransportKind } from '../../telemetry/mcp.ts';
import { telemetryOff } from '../telemetry-off.ts';
import { releaseJsonResponseStreams } from '../sdk-fixes.ts';
import { readJson, type BodyLimits } from './body.ts';
import { HttpError, JSONRPC } from './errors.ts';
import type { SessionRegistry } from './sessions.ts';

export interface RouteContext {
  sessions: SessionRegistry;
  /** A fresh McpServer for a new session. */
  newServer: () => McpServer;
  body: BodyLimits;
  /** `--stateless`: no sessions; every POST is answered on its own, by whichever replica gets it. */
  stateless?: boolean | undefined;
}

type Authed = IncomingMessage & { auth?: AuthInfo | undefined };

/** The transport with MCP spans and metrics, or as it is when no telemetry is registered (telemetry-off.ts). */
function traced(transport: Transport, kind: McpTransportKind): Transport {
  return telemetryOff() ? transport : instrumentServerTransport(transport, { transport: kind });
}

/** Long-lived streams: let the OS notice a peer that vanished without closing. */
function keepAliveProbes(req: IncomingMessage): void {
  req.socket.setKeepAlive(true, 30_000);
}

function sessionIdOf(req: IncomingMessage): string | undefined {
  const header = req.headers['mcp-session-id'];
  return Array.isArray(header) ? header[0] : header;
}

/** /mcp: POST messages, GET the server's stream, DELETE to end a session. */
export async function streamable(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, auth: AuthInfo | undefined): Promise<void> {
  if (ctx.stateless) return stateless(ctx, req, res, auth);
  const sessionId = sessionIdOf(req);
  const withAuth: Authed = Object.assign(req, { auth });
  if (req.method !== 'POST') {
    if (!sessionId) throw new HttpError(400, JSONRPC.serverError, 'Bad Request: Mcp-Session-Id header is required.');
    const session = ctx.sessions.get(sessionId, 'http', auth);
    ctx.sessions.busy(session, res);
    if (req.method === 'GET') keepAliveProbes(req);
    await session.transport.handleRequest(withAuth, res);
    return;
  }
  const body = await readJson(req, ctx.body);
  if (sessionId) {
    const session = ctx.sessions.get(sessionId, 'http', auth);
    ctx.sessions.busy(session, res);
    await session.transport.handleRequest(withAuth, res, body);
    return;
  }
  const initializing = Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
  if (!initializing) {
    throw new HttpError(400, JSONRPC.serverError, 'Bad Request: no valid session id; start with an initialize request.');
  }
  ctx.sessions.reserve();
  try {
    await openStreamableSession(ctx, withAuth, res, body, auth);
  } finally {
    // Registered by now if the initialize succeeded; otherwise the slot is free again.
    ctx.sessions.release();
  }
}

async function openStreamableSession(ctx: RouteContext, req: Authed, res: ServerResponse, body: unknown, auth: AuthInfo | undefined): Promise<void> {
  const server = ctx.newServer();
  const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    // Plain JSON answers: the tools send no progress, so a stream per POST would only cost.
    enableJsonResponse: true,
    maxRequestBodySize: ctx.body.maxBytes,
    onsessioninitialized: (id) => {
      const session = { kind: 'http' as const, transport, server, user: auth?.clientId, active: 0, lastSeen: Date.now() };
      ctx.sessions.add(id, session);
      ctx.sessions.busy(session, res);
    },
  });
  releaseJsonResponseStreams(transport);
  await server.connect(traced(transport, 'http'));
  await transport.handleRequest(req, res, body);
  // An initialize that failed leaves a server no session points to.
  if (!transport.sessionId || !ctx.sessions.has(transport.sessionId)) await server.close();
}

/**
 * /mcp with `--stateless`: the SDK's stateless mode, a server and transport per POST and no
 * Mcp-Session-Id, so a plain round-robin balancer may send each request to any replica (the
 * memories live in the shared store). There is no server stream to GET and no session to
 * DELETE: 405, which clients take as "no stream offered".
 */
async function stateless(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, auth: AuthInfo | undefined): Promise<void> {
  if (req.method !== 'POST') {
    throw new HttpError(405, JSONRPC.serverError, 'Method Not Allowed: this server is stateless (--stateless); it answers POST only.', { allow: 'POST' });
  }
  const body = await readJson(req, ctx.body);
  const server = ctx.newServer();
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
    maxRequestBodySize: ctx.body.maxBytes,
  });
  releaseJsonResponseStreams(transport);
  res.once('close', () => void server.close().catch(() => {}));
  await server.connect(traced(transport, 'http'));
  await transport.handleRequest(Object.assign(req, { auth }), res, body);
}

/** GET /sse: opens a legacy session whose answers flow down this stream. */
export async function openSse(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, auth: AuthInfo | undefined): Promise<void> {
  ctx.sessions.reserve();
  const transport = new SSEServerTransport('/messages', res);
  const server = ctx.newServer();
  const session = { kind: 'sse' as const, transport, server, user: auth?.clientId, active: 0, lastSeen: Date.now() };
  ctx.sessions.add(transport.sessionId, session);
  ctx.sessions.release();
  ctx.sessions.busy(session, res);
  keepAliveProbes(req);
  await server.connect(traced(transport, 'sse'));
}

/** POST /messages?sessionId=…: one message for a legacy session. */
export async function sseMessage(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  auth: AuthInfo | undefined,
): Promise<void> {
  const sessionId = url.searchParams.get('sessionId');
  if (!sessionId) throw new HttpError(400, JSONRPC.serverError, 'Bad Request: the sessionId query parameter is required.');
  const session = ctx.sessions.get(sessionId, 'sse', auth);
  const body = await readJson(req, ctx.body);
  // The SDK's SSE transport answers an invalid message by echoing the whole body; refuse it here.
  if (!JSONRPCMessageSchema.safeParse(body).success) {
    throw new HttpError(400, JSONRPC.invalidRequest, 'Invalid Request: the body is not a JSON-RPC 2.0 message.');
  }
  ctx.sessions.busy(session, res);
  await session.transport.handlePostMessage(Object.assign(req, { auth }), res, body);
}
