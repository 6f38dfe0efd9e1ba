/*
 * The HTTP face of the server, on Node's own `http` server (so instrumentation-http sees every
 * request): Streamable HTTP at /mcp, the legacy HTTP+SSE pair at /sse and /messages, and
 * /health, all on one port.
 *
 * Every request passes the same gates in the same order: a Host and Origin from the
 * allow-list (DNS-rebinding protection: a web page must not reach a server on localhost), then
 * the bearer token. After the token check the Authorization header is removed from the
 * request, so the SDK, the span decorators and the handlers never hold the token.
 *
 * Each MCP session is its own McpServer from `createMcpServer` (the SDK's `getServer()`
 * pattern). Sessions end on DELETE, when their transport closes, or when no request has been
 * in progress for the idle timeout, so a long-running server does not grow.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { releaseJsonResponseStreams } from './sdk-fixes.ts';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { isInitializeRequest, JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { log } from '../log.ts';
import { context } from '@opentelemetry/api';
import { instrumentServerTransport } from '../telemetry/mcp.ts';
import { withPeer } from '../telemetry/peer.ts';
import { VERSION } from '../version.ts';
import { authInfoFor } from './identity.ts';
import type { MemoryStore } from './store.ts';
import { createMcpServer } from './tools.ts';

/** JSON-RPC error codes used on the HTTP layer. */
export const JSONRPC = {
  parseError: -32700,
  invalidRequest: -32600,
  internalError: -32603,
  /** Implementation-defined server errors (the SDK's choices for the same situations). */
  serverError: -32000,
  sessionNotFound: -32001,
} as const;

export interface HttpAppOptions {
  store: MemoryStore;
  defaultUser: string;
  /** Bearer token → user (`--tokens`): the token decides the user. */
  tokens?: ReadonlyMap<string, string> | undefined;
  /** One token every request must carry (MEMENTO_MCP_TOKEN); the client then names the user. */
  sharedToken?: string | undefined;
  /** Host names (no port) that Host and Origin may carry; "*" allows any. */
  allowedHosts: readonly string[];
  /** Close a session after this long with no request in progress. */
  sessionIdleTimeoutMs: number;
  /** Largest request body read, in bytes. */
  maxBodyBytes: number;
}

type Session =
  | { kind: 'http'; transport: StreamableHTTPServerTransport; server: McpServer; user: string | undefined; active: number; lastSeen: number }
  | { kind: 'sse'; transport: SSEServerTransport; server: McpServer; user: string | undefined; active: number; lastSeen: number };

class HttpError extends Error {
  readonly status: number;
  readonly code: number;
  readonly headers: Record<string, string>;

  constructor(status: number, code: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Answers with a JSON-RPC error, unless an answer has already begun (then only ends it). */
function sendError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null }, headers);
}

/** The host name of a Host header (`[::1]:8000` → `::1`, `Example.com:80` → `example.com`). */
export function hostnameOf(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  const colon = h.indexOf(':');
  // More than one colon is a bare IPv6 address, which a Host header may not carry unbracketed.
  return colon >= 0 && h.indexOf(':', colon + 1) < 0 ? h.slice(0, colon) : h;
}

export class McpHttpApp {
  private readonly options: HttpAppOptions;
  private readonly sessions = new Map<string, Session>();
  private readonly allowed: ReadonlySet<string>;
  private readonly anyHost: boolean;
  /** Tokens are compared by hash so that a lookup's timing says nothing about a near miss. */
  private readonly tokenUsers: ReadonlyMap<string, string> | undefined;
  private readonly sharedTokenHash: Buffer | undefined;
  private readonly startedAt = performance.now();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  /** Requests in progress other than long-lived streams, for a graceful shutdown. */
  private inFlight = 0;
  private drained: (() => void) | undefined;

  constructor(options: HttpAppOptions) {
    this.options = options;
    this.anyHost = options.allowedHosts.includes('*');
    this.allowed = new Set(options.allowedHosts.map((h) => hostnameOf(h)));
    if (options.tokens) {
      this.tokenUsers = new Map([...options.tokens].map(([token, user]) => [sha256(token).toString('hex'), user]));
    }
    if (options.sharedToken && !options.tokens) this.sharedTokenHash = sha256(options.sharedToken);
    const every = Math.max(50, Math.min(options.sessionIdleTimeoutMs / 2, 30_000));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The request listener for `http.createServer`. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'GET') {
      this.inFlight++;
      res.once('close', () => {
        if (--this.inFlight === 0) this.drained?.();
      });
    }
    // Who called, for the MCP server spans of the messages this request carries.
    context.with(withPeer(context.active(), req.socket), () => this.route(req, res)).catch((err: unknown) => {
      log.error('HTTP request failed', { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      if (!res.headersSent) sendError(res, 500, JSONRPC.internalError, 'Internal error');
      else res.end();
    });
  };

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://memento.invalid');
      } catch {
        throw new HttpError(400, JSONRPC.invalidRequest, 'Bad Request: the request URL is not valid.');
      }
      this.checkOrigin(req);
      const method = req.method ?? 'GET';
      if (url.pathname === '/health') {
        allow(method, ['GET', 'HEAD']);
        return await this.health(res, method === 'HEAD');
      }
      if (url.pathname !== '/mcp' && url.pathname !== '/sse' && url.pathname !== '/messages') {
        throw new HttpError(404, JSONRPC.invalidRequest, 'Not found: this server answers on /mcp, /sse, /messages and /health.');
      }
      const auth = this.authenticate(req);
      if (this.closed) throw new HttpError(503, JSONRPC.serverError, 'The server is shutting down.');
      switch (url.pathname) {
        case '/mcp':
          allow(method, ['POST', 'GET', 'DELETE']);
          return await this.streamable(req, res, method, auth);
        case '/sse':
          allow(method, ['GET']);
          return await this.openSse(req, res, auth);
        default:
          allow(method, ['POST']);
          return await this.sseMessage(req, res, url, auth);
      }
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (req.complete) {
        sendError(res, err.status, err.code, err.message, err.headers);
        return;
      }
      // A refused request whose body was not read: close the connection after the answer, and
      // read (discarding) the rest meanwhile, since closing on unread data resets the
      // connection and the client would never see the answer.
      sendError(res, err.status, err.code, err.message, { ...err.headers, connection: 'close' });
      req.resume();
      const timer = setTimeout(() => req.destroy(), 10_000);
      timer.unref();
      req.once('end', () => clearTimeout(timer));
    }
  }

  /** Host and Origin must name this server: the DNS-rebinding defence. */
  private checkOrigin(req: IncomingMessage): void {
    if (this.anyHost) return;
    const host = req.headers.host;
    if (!host || !this.allowed.has(hostnameOf(host))) {
      throw new HttpError(403, JSONRPC.serverError, 'Forbidden: the Host header is not one this server answers to (see --allowed-hosts).');
    }
    const origin = req.headers.origin;
    if (origin === undefined) return;
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).hostname.replace(/^\[|\]$/g, '').toLowerCase();
    } catch {
      originHost = undefined;
    }
    if (!originHost || !this.allowed.has(originHost)) {
      throw new HttpError(403, JSONRPC.serverError, 'Forbidden: requests from this Origin are not allowed (see --allowed-hosts).');
    }
  }

  /**
   * The auth info naming the token's user (tokens file); undefined for a valid shared token or
   * when no token is needed; a 401 HttpError otherwise. Removes the Authorization header.
   */
  private authenticate(req: IncomingMessage): AuthInfo | undefined {
    const header = req.headers.authorization;
    scrubAuthorization(req);
    if (!this.tokenUsers && !this.sharedTokenHash) return undefined;
    const challenge = { 'www-authenticate': 'Bearer realm="memento"' };
    const match = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) {
      throw new HttpError(401, JSONRPC.serverError, 'Unauthorized: this server requires an "Authorization: Bearer <token>" header.', challenge);
    }
    const presented = sha256(match[1]!);
    if (this.tokenUsers) {
      const user = this.tokenUsers.get(presented.toString('hex'));
      if (user !== undefined) return authInfoFor(user);
    } else if (this.sharedTokenHash && timingSafeEqual(presented, this.sharedTokenHash)) {
      return undefined;
    }
    throw new HttpError(401, JSONRPC.serverError, 'Unauthorized: the bearer token is not valid.', {
      'www-authenticate': 'Bearer realm="memento", error="invalid_token"',
    });
  }

  private async health(res: ServerResponse, headOnly: boolean): Promise<void> {
    const writable = await this.options.store.writable();
    const body = {
      status: writable ? 'ok' : 'degraded',
      version: VERSION,
      uptimeSeconds: Math.round((performance.now() - this.startedAt) / 10) / 100,
      dataDirWritable: writable,
    };
    if (headOnly) {
      res.writeHead(writable ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end();
      return;
    }
    sendJson(res, writable ? 200 : 503, body);
  }

  /** The session a request names, checked against the request's token user. */
  private session(id: string, kind: Session['kind'], auth: AuthInfo | undefined): Session {
    const session = this.sessions.get(id);
    if (!session || session.kind !== kind) {
      // The spec's answer to an unknown or expired session: the client starts a new one.
      throw new HttpError(404, JSONRPC.sessionNotFound, 'Session not found');
    }
    const user = auth?.clientId;
    if (session.user !== user) {
      throw new HttpError(403, JSONRPC.serverError, "Forbidden: this session was opened with another user's token.");
    }
    return session;
  }

  /** Counts a request as activity on `session` until its response is finished. */
  private busy(session: Session, res: ServerResponse): void {
    session.active++;
    session.lastSeen = Date.now();
    res.once('close', () => {
      session.active--;
      session.lastSeen = Date.now();
    });
  }

  private async streamable(req: IncomingMessage, res: ServerResponse, method: string, auth: AuthInfo | undefined): Promise<void> {
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    const withAuth = Object.assign(req, { auth });
    if (method !== 'POST') {
      if (!sessionId) throw new HttpError(400, JSONRPC.serverError, 'Bad Request: Mcp-Session-Id header is required.');
      const session = this.session(sessionId, 'http', auth);
      this.busy(session, res);
      if (method === 'GET') keepAliveProbes(req);
      await (session.transport as StreamableHTTPServerTransport).handleRequest(withAuth, res);
      return;
    }
    const body = await readJson(req, this.options.maxBodyBytes);
    if (sessionId) {
      const session = this.session(sessionId, 'http', auth);
      this.busy(session, res);
      await (session.transport as StreamableHTTPServerTransport).handleRequest(withAuth, res, body);
      return;
    }
    const initializing = Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
    if (!initializing) {
      throw new HttpError(400, JSONRPC.serverError, 'Bad Request: no valid session id; start with an initialize request.');
    }
    const server = createMcpServer({ store: this.options.store, defaultUser: this.options.defaultUser });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      // Plain JSON answers: the tools send no progress, so a stream per POST would only cost.
      enableJsonResponse: true,
      maxRequestBodySize: this.options.maxBodyBytes,
      onsessioninitialized: (id) => {
        const session: Session = { kind: 'http', transport, server, user: auth?.clientId, active: 0, lastSeen: Date.now() };
        this.sessions.set(id, session);
        this.busy(session, res);
      },
    });
    releaseJsonResponseStreams(transport);
    server.server.onclose = () => {
      if (transport.sessionId && this.sessions.get(transport.sessionId)?.server === server) {
        this.sessions.delete(transport.sessionId);
      }
    };
    await server.connect(instrumentServerTransport(transport, { transport: 'http' }));
    await transport.handleRequest(withAuth, res, body);
    // An initialize that failed leaves a server no session points to.
    if (!transport.sessionId || !this.sessions.has(transport.sessionId)) await server.close();
  }

  private async openSse(req: IncomingMessage, res: ServerResponse, auth: AuthInfo | undefined): Promise<void> {
    const transport = new SSEServerTransport('/messages', res);
    const server = createMcpServer({ store: this.options.store, defaultUser: this.options.defaultUser });
    const session: Session = { kind: 'sse', transport, server, user: auth?.clientId, active: 0, lastSeen: Date.now() };
    this.sessions.set(transport.sessionId, session);
    this.busy(session, res);
    server.server.onclose = () => {
      if (this.sessions.get(transport.sessionId)?.server === server) this.sessions.delete(transport.sessionId);
    };
    keepAliveProbes(req);
    await server.connect(instrumentServerTransport(transport, { transport: 'sse' }));
  }

  private async sseMessage(req: IncomingMessage, res: ServerResponse, url: URL, auth: AuthInfo | undefined): Promise<void> {
    const sessionId = url.searchParams.get('sessionId');
    if (!sessionId) throw new HttpError(400, JSONRPC.serverError, 'Bad Request: the sessionId query parameter is required.');
    const session = this.session(sessionId, 'sse', auth);
    const body = await readJson(req, this.options.maxBodyBytes);
    // The SDK's SSE transport answers an invalid message by echoing the whole body; refuse it here.
    if (!JSONRPCMessageSchema.safeParse(body).success) {
      throw new HttpError(400, JSONRPC.invalidRequest, 'Invalid Request: the body is not a JSON-RPC 2.0 message.');
    }
    this.busy(session, res);
    await (session.transport as SSEServerTransport).handlePostMessage(Object.assign(req, { auth }), res, body);
  }

  private sweep(): void {
    const cutoff = Date.now() - this.options.sessionIdleTimeoutMs;
    for (const [id, session] of this.sessions) {
      if (session.active > 0 || session.lastSeen > cutoff) continue;
      this.sessions.delete(id);
      log.debug('closing an idle MCP session', { transport: session.kind });
      session.server.close().catch(() => {});
    }
  }

  /** Resolves when no request (other than a stream) is in progress, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Ends every session and refuses new requests. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(sessions.map((s) => s.server.close()));
  }
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) {
    throw new HttpError(405, JSONRPC.serverError, `Method Not Allowed: use ${methods.join(', ')}.`, { allow: methods.join(', ') });
  }
}

/** Removes the bearer token from the request before anything else can read it. */
function scrubAuthorization(req: IncomingMessage): void {
  if (req.headers.authorization === undefined) return;
  delete req.headers.authorization;
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    if (raw[i]!.toLowerCase() === 'authorization') raw.splice(i, 2);
  }
}

/** Long-lived streams: let the OS notice a peer that vanished without closing. */
function keepAliveProbes(req: IncomingMessage): void {
  req.socket.setKeepAlive(true, 30_000);
}

/** The parsed JSON body, or an HttpError: 413 past `limit`, -32700 when it is not JSON. */
function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const tooLarge = () =>
    new HttpError(413, JSONRPC.invalidRequest, `Payload Too Large: request bodies are limited to ${limit} bytes.`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      // Stop reading but keep the socket: the 413 still has to reach the client.
      cleanup();
      req.pause();
      reject(tooLarge());
    };
    const onEnd = () => {
      cleanup();
      try {
        resolve(JSON.parse(Buffer.concat(chunks, size).toString('utf8')));
      } catch {
        reject(new HttpError(400, JSONRPC.parseError, 'Parse error: the request body is not valid JSON.'));
      }
    };
    // The client went away mid-body: nobody is left to answer.
    const onAbort = () => {
      cleanup();
      reject(new HttpError(400, JSONRPC.invalidRequest, 'Bad Request: the request body was cut short.'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onAbort);
  });
}

/** An `http.Server` (created through `http.createServer`, which instrumentation-http patches) for the app. */
export function createHttpServer(app: McpHttpApp): http.Server {
  return http.createServer(app.listener);
}
