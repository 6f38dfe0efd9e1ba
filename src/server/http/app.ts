/*
 * The HTTP face of the server, on Node's own `http` server (so the HTTP server span,
 * telemetry/http-server.ts, sees every request): Streamable HTTP at /mcp, the legacy HTTP+SSE pair at /sse and /messages, and
 * /health, all on one port. This file routes and keeps the shutdown drain; the gates
 * (gates.ts), the body reader (body.ts), the sessions (sessions.ts) and the MCP routes
 * (routes.ts) each live in their own file.
 *
 * Every request passes the same gates in the same order: Host and Origin, then the bearer
 * token, after which the Authorization header is removed from the request, so the SDK, the span
 * decorators and the handlers never hold the token.
 */
import { context } from '@opentelemetry/api';
import { withPeer } from '../../telemetry/peer.ts';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { log } from '../../log.ts';
import { VERSION } from '../../version.ts';
import type { Storage } from '../storage/index.ts';
import { createMcpServer } from '../tools.ts';
import { discardUnreadBody } from './body.ts';
import { HttpError, JSONRPC, sendError, sendJson } from './errors.ts';
import { allowMethod, authenticate, checkHostAndOrigin, hostPolicy, scrubAuthorization, tokenPolicy, type HostPolicy, type TokenPolicy } from './gates.ts';
import { openSse, sseMessage, streamable, type RouteContext } from './routes.ts';
import { SessionRegistry } from './sessions.ts';
import { telemetryOff } from '../telemetry-off.ts';

/** Default longest time a request body may take to arrive. */
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;

export interface HttpAppOptions {
  store: Storage;
  defaultUser: string;
  /** Bearer token → user (`--tokens`): the token decides the user. */
  tokens?: ReadonlyMap<string, string> | undefined;
  /** One token every request must carry (MEMENTO_MCP_TOKEN); the client then names the user. */
  sharedToken?: string | undefined;
  /** Host names (no port) that Host and Origin may carry; "*" allows any. */
  allowedHosts: readonly string[];
  /** Close a session after this long with no request in progress. */
  sessionIdleTimeoutMs: number;
  /** Most live MCP sessions at once. */
  maxSessions: number;
  /** A session idle this long may be ended to make room for a new one past the cap. */
  evictIdleAfterMs: number;
  /** Largest request body read, in bytes. */
  maxBodyBytes: number;
  /** Longest a request body may take to arrive (default 30 s). */
  bodyTimeoutMs?: number | undefined;
  /** No sessions on /mcp (replicas behind a round-robin balancer); legacy SSE is refused. */
  stateless?: boolean | undefined;
}

export class McpHttpApp {
  private readonly options: HttpAppOptions;
  private readonly hosts: HostPolicy;
  private readonly tokens: TokenPolicy;
  private readonly sessions: SessionRegistry;
  private readonly routes: RouteContext;
  private readonly startedAt = performance.now();
  private closed = false;
  /** Requests in progress other than long-lived streams, for a graceful shutdown. */
  private inFlight = 0;
  private drained: (() => void) | undefined;

  constructor(options: HttpAppOptions) {
    this.options = options;
    this.hosts = hostPolicy(options.allowedHosts);
    this.tokens = tokenPolicy(options.tokens, options.sharedToken);
    this.sessions = new SessionRegistry({
      idleTimeoutMs: options.sessionIdleTimeoutMs,
      maxSessions: options.maxSessions,
      evictIdleAfterMs: options.evictIdleAfterMs,
    });
    this.routes = {
      sessions: this.sessions,
      newServer: () => createMcpServer({ store: options.store, defaultUser: options.defaultUser }),
      body: { maxBytes: options.maxBodyBytes, timeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS },
      stateless: options.stateless,
    };
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
    // Who called, for the MCP server spans of the messages this request carries (none without telemetry).
    const routed = telemetryOff() ? this.route(req, res) : context.with(withPeer(context.active(), req.socket), () => this.route(req, res));
    routed.catch((err: unknown) => {
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
      checkHostAndOrigin(req.headers, this.hosts);
      const method = req.method ?? 'GET';
      if (url.pathname === '/health') {
        allowMethod(method, ['GET', 'HEAD']);
        return await this.health(res, method === 'HEAD');
      }
      if (url.pathname !== '/mcp' && url.pathname !== '/sse' && url.pathname !== '/messages') {
        throw new HttpError(404, JSONRPC.invalidRequest, 'Not found: this server answers on /mcp, /sse, /messages and /health.');
      }
      const authorization = req.headers.authorization;
      scrubAuthorization(req);
      const auth = authenticate(authorization, this.tokens);
      if (this.closed) throw new HttpError(503, JSONRPC.serverError, 'The server is shutting down.');
      if (this.options.stateless && url.pathname !== '/mcp') {
        // A legacy SSE session lives in one process: behind a balancer its messages would go astray.
        throw new HttpError(404, JSONRPC.invalidRequest, 'Not found: this server is stateless (--stateless) and answers Streamable HTTP on /mcp only.');
      }
      switch (url.pathname) {
        case '/mcp':
          allowMethod(method, ['POST', 'GET', 'DELETE']);
          return await streamable(this.routes, req, res, auth);
        case '/sse':
          allowMethod(method, ['GET']);
          return await openSse(this.routes, req, res, auth);
        default:
          allowMethod(method, ['POST']);
          return await sseMessage(this.routes, req, res, url, auth);
      }
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      sendError(res, err.status, err.code, err.message, err.headers);
      // A refused request whose body was not read: the answer must still reach the client.
      discardUnreadBody(req);
    }
  }

  private async health(res: ServerResponse, headOnly: boolean): Promise<void> {
    const health = await this.options.store.health();
    const ok = health.status === 'ok';
    const body = {
      status: health.status,
      version: VERSION,
      uptimeSeconds: Math.round((performance.now() - this.startedAt) / 10) / 100,
      storage: health.backend,
      // Kept for monitors written against earlier versions.
      dataDirWritable: ok,
      ...(health.problem ? { problem: health.problem } : {}),
    };
    if (headOnly) {
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end();
      return;
    }
    sendJson(res, ok ? 200 : 503, body);
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
    await this.sessions.closeAll();
  }
}

/** An `http.Server` (whose `emit` telemetry/http-server.ts patches when traced) for the app. */
export function createHttpServer(app: McpHttpApp): http.Server {
  return http.createServer(app.listener);
}
