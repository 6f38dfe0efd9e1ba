/*
 * The live MCP sessions of the HTTP server (Streamable HTTP and legacy SSE), each its own
 * McpServer. A session ends on DELETE, when its transport closes, or when no request has been
 * in progress for the idle timeout (the sweeper), so a long-running server does not grow.
 *
 * Live sessions are capped (`--max-sessions`): a new one past the cap takes the place of the
 * session idle longest, if that one has been idle at least `evictIdleAfterMs` (so a flood of
 * new sessions cannot push out people mid-conversation); otherwise it is refused with 503 and
 * Retry-After, the time until a slot can be freed.
 */
import type { ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { log } from '../../log.ts';
import { HttpError, JSONRPC } from './errors.ts';
import { MemoryReleaser } from './memory.ts';

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

export interface SessionLimits {
  /** Close a session after this long with no request in progress. */
  idleTimeoutMs: number;
  /** Most live sessions at once. */
  maxSessions: number;
  /** A session idle at least this long may be ended to make room for a new one. */
  evictIdleAfterMs: number;
}

/** Retry-After when every session is busy (streams open, requests in progress). */
const BUSY_RETRY_S = 5;

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  private readonly idleTimeoutMs: number;
  private readonly maxSessions: number;
  private readonly evictIdleAfterMs: number;
  private readonly sweeper: NodeJS.Timeout;
  /** Sessions admitted but not yet registered (an initialize in progress). */
  private reserved = 0;
  private readonly memory = new MemoryReleaser();

  constructor(options: SessionLimits) {
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.maxSessions = options.maxSessions;
    this.evictIdleAfterMs = options.evictIdleAfterMs;
    const every = Math.max(50, Math.min(options.idleTimeoutMs / 2, 30_000));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Makes room for one new session, ending the longest-idle one if the cap is reached, or
   * throws 503 with Retry-After. The caller `release()`s the reservation once the session is
   * added or has failed to open.
   */
  reserve(): void {
    if (this.sessions.size + this.reserved >= this.maxSessions) this.evictOne();
    this.reserved++;
  }

  release(): void {
    if (this.reserved > 0) this.reserved--;
  }

  private evictOne(): void {
    const now = Date.now();
    let oldest: [string, Session] | undefined;
    // Map order is insertion order, not idleness: a full scan, bounded by the cap.
    for (const entry of this.sessions) {
      if (entry[1].active === 0 && (!oldest || entry[1].lastSeen < oldest[1].lastSeen)) oldest = entry;
    }
    if (oldest && now - oldest[1].lastSeen >= this.evictIdleAfterMs) {
      this.end(oldest[0], oldest[1], 'to make room for a new one (--max-sessions)');
      return;
    }
    const retryS = oldest ? Math.max(1, Math.ceil((oldest[1].lastSeen + this.evictIdleAfterMs - now) / 1000)) : BUSY_RETRY_S;
    throw new HttpError(
      503,
      JSONRPC.serverError,
      `Service Unavailable: this server already holds its limit of ${this.maxSessions} MCP sessions (--max-sessions); try again in ${retryS} s.`,
      { 'retry-after': String(retryS) },
    );
  }

  private end(id: string, session: Session, why: string): void {
    this.sessions.delete(id);
    log.debug(`closing an idle MCP session ${why}`, { transport: session.kind });
    session.server.close().catch(() => {});
  }

  /** Registers a session admitted by `reserve()`; it is forgotten when its server closes. */
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
    let ended = 0;
    for (const [id, session] of this.sessions) {
      if (session.active > 0 || session.lastSeen > cutoff) continue;
      this.end(id, session, 'past the idle timeout');
      ended++;
    }
    if (ended > 0) this.memory.sessionsEnded(ended, this.sessions.size);
  }

  /** Ends every session and stops the sweeper. */
  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    this.memory.dispose();
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(sessions.map((s) => s.server.close()));
  }
}
