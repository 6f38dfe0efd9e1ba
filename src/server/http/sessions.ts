/*
 * The live MCP sessions of the HTTP server (Streamable HTTP and legacy SSE), each its own
 * McpServer. A session ends on DELETE, when its transport closes, or when no request has been
 * in progress for the idle timeout (the sweeper), so a long-running server does not grow.
 */
import type { ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { log } from '../../log.ts';
import { HttpError, JSONRPC } from './errors.ts';

interface SessionState {
  server: McpServer;
  /** The token's user the session was opened with (undefined without a tokens file). */
  user: string | undefined;
  /** Requests (and streams) of this session in progress. */
  active: number;
  lastSeen: number;
}

export type Session =
  | (SessionState & { kind: 'http'; transport: StreamableHTTPServerTransport })
  | (SessionState & { kind: 'sse'; transport: SSEServerTransport });

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  private readonly idleTimeoutMs: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: { idleTimeoutMs: number }) {
    this.idleTimeoutMs = options.idleTimeoutMs;
    const every = Math.max(50, Math.min(options.idleTimeoutMs / 2, 30_000));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Registers a session; it is forgotten when its server closes. */
  add(id: string, session: Session): void {
    this.sessions.set(id, session);
    const previous = session.server.server.onclose;
    session.server.server.onclose = () => {
      if (this.sessions.get(id)?.server === session.server) this.sessions.delete(id);
      previous?.();
    };
  }

  has(id: string): boolean {
    return this.sessions.has(id);
  }

  /** The session a request names, checked against the request's token user. */
  get<K extends Session['kind']>(id: string, kind: K, auth: AuthInfo | undefined): Extract<Session, { kind: K }> {
    const session = this.sessions.get(id);
    if (!session || session.kind !== kind) {
      // The spec's answer to an unknown or expired session: the client starts a new one.
      throw new HttpError(404, JSONRPC.sessionNotFound, 'Session not found');
    }
    if (session.user !== auth?.clientId) {
      throw new HttpError(403, JSONRPC.serverError, "Forbidden: this session was opened with another user's token.");
    }
    return session as Extract<Session, { kind: K }>;
  }

  /** Counts a request as activity on `session` until its response is finished. */
  busy(session: Session, res: ServerResponse): void {
    session.active++;
    session.lastSeen = Date.now();
    res.once('close', () => {
      session.active--;
      session.lastSeen = Date.now();
    });
  }

  private sweep(): void {
    const cutoff = Date.now() - this.idleTimeoutMs;
    for (const [id, session] of this.sessions) {
      if (session.active > 0 || session.lastSeen > cutoff) continue;
      this.sessions.delete(id);
      log.debug('closing an idle MCP session', { transport: session.kind });
      session.server.close().catch(() => {});
    }
  }

  /** Ends every session and stops the sweeper. */
  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(sessions.map((s) => s.server.close()));
  }
}
