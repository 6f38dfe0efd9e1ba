/*
 * The Memento MCP server for in-process use: `memento serve`, the client's built-in server,
 * tests and benchmarks all start it through these two functions.
 */
import type { AddressInfo } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { FLAG_DEFAULTS, SETTINGS, setting } from '../config.ts';
import { USER_ID_PATTERN } from '../protocol.ts';
import { createHttpServer, McpHttpApp } from './http/app.ts';
import { connectStdio, type StdioEnd } from './stdio.ts';
import { openStorage } from './storage/index.ts';

export { EmbeddedStorage, openStorage, type Storage } from './storage/index.ts';
export { createMcpServer } from './tools.ts';

export const DEFAULT_HOST = FLAG_DEFAULTS.host;
export const DEFAULT_PORT = FLAG_DEFAULTS.servePort;
export const DEFAULT_SESSION_IDLE_TIMEOUT_MS = FLAG_DEFAULTS.sessionTimeoutS * 1000;
/**
 * Live MCP sessions at once: a session costs ~20 KB of heap (~90 KB of RSS), so the cap keeps a
 * flood of sessions under ~100 MB, far beyond what one person's or a team's clients open.
 */
export const DEFAULT_MAX_SESSIONS = FLAG_DEFAULTS.maxSessions;
/** Past the cap, a session idle this long gives its place to a new one. */
export const DEFAULT_EVICT_IDLE_AFTER_MS = 60_000;
/** Host names every server answers to, whatever it is bound to. */
export const LOCAL_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1'];
/** How long a shutdown waits for requests in progress before cutting connections. */
const DRAIN_MS = 3000;

export interface ServerOptions {
  /** Storage root: one directory per user below it (the embedded backend). */
  dataDir: string;
  /** `postgres://…`: keep memories in PostgreSQL instead (replicated servers). */
  storeUrl?: string | undefined;
  /** Largest memory content accepted, in UTF-8 bytes (default 4 MiB). */
  maxContentBytes?: number | undefined;
  /** The user when a request names none (default: MEMENTO_USER, else "default"). */
  defaultUser?: string | undefined;
}

export interface HttpServerOptions extends ServerOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string | undefined;
  /** Port (default 8000; 0 picks a free one). */
  port?: number | undefined;
  /** Bearer token → user: the token decides the user. */
  tokens?: ReadonlyMap<string, string> | Record<string, string> | undefined;
  /** One bearer token every request must carry (ignored when `tokens` is given). */
  sharedToken?: string | undefined;
  /** Extra host names Host and Origin may carry besides localhost and the bound address; "*" allows any. */
  allowedHosts?: readonly string[] | undefined;
  /** Close an MCP session after this long with no request in progress (default 30 min). */
  sessionIdleTimeoutMs?: number | undefined;
  /** Most live MCP sessions at once (default 1000); past it the longest-idle gives way, or 503. */
  maxSessions?: number | undefined;
  /** Past the cap, a session idle at least this long is ended for a new one (default 60 s, or the idle timeout if shorter). */
  evictIdleAfterMs?: number | undefined;
  /** Longest a request body may take to arrive (default 30 s). */
  bodyTimeoutMs?: number | undefined;
  /** No MCP sessions: any replica can answer any request (use with a shared `storeUrl`). */
  stateless?: boolean | undefined;
  /**
   * How long an idle keep-alive connection stays open (default Node's 5 s). Benchmarks whose
   * client runs under valgrind raise it: a client ~50× slower notices the server's close too
   * late and sends its next request onto a closed socket (UND_ERR_SOCKET, a failed turn).
   */
  keepAliveTimeoutMs?: number | undefined;
}

export interface RunningHttpServer {
  /** Base URL, e.g. http://127.0.0.1:8000 (Streamable HTTP at `${url}/mcp`, legacy SSE at `${url}/sse`). */
  url: string;
  host: string;
  port: number;
  /** Open MCP sessions (Streamable HTTP and SSE). */
  sessionCount(): number;
  /** Resolves when the storage's start-up pass is over (it runs in the background; calls are answered meanwhile). */
  storageStarted(): Promise<void>;
  /** Stops accepting, lets requests in progress finish (briefly), ends every session and waits for pending writes. */
  close(): Promise<void>;
}

export interface StdioServerOptions extends ServerOptions {
  stdin?: Readable | undefined;
  stdout?: Writable | undefined;
}

export interface RunningStdioServer {
  /** Resolves when the session ends: stdin closed (no error), stdin or stdout failed (error), or close(). */
  closed: Promise<StdioEnd>;
  close(): Promise<void>;
}

/** MEMENTO_USER, else "default": the server's user when a request names none. */
export function serverDefaultUser(env: NodeJS.ProcessEnv = process.env): string {
  // Not the client's $USER fallback: the server's account says nothing about who is asking.
  const user = env[SETTINGS.user.name]?.trim() ? setting(SETTINGS.user, env) : 'default';
  if (!USER_ID_PATTERN.test(user)) {
    throw new Error(`MEMENTO_USER "${user.slice(0, 64)}" is not a valid user id (1 to 64 letters, digits, ".", "_" or "-").`);
  }
  return user;
}

/** Room for the JSON around the largest content, escapes included. */
function bodyLimit(maxContentBytes: number): number {
  return 2 * maxContentBytes + 1024 * 1024;
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Starts the HTTP server (Streamable HTTP /mcp, legacy SSE /sse + /messages, /health). */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const store = await openStorage(options);
  const maxContentBytes = store.maxContentBytes;
  const host = options.host ?? DEFAULT_HOST;
  const tokens =
    options.tokens === undefined ? undefined
    : options.tokens instanceof Map ? options.tokens
    : new Map(Object.entries(options.tokens));
  const wildcard = host === '0.0.0.0' || host === '::';
  const idleTimeoutMs = options.sessionIdleTimeoutMs ?? DEFAULT_SESSION_IDLE_TIMEOUT_MS;
  const app = new McpHttpApp({
    store,
    defaultUser: options.defaultUser ?? serverDefaultUser(),
    tokens,
    sharedToken: options.sharedToken,
    allowedHosts: [...LOCAL_HOSTS, ...(wildcard ? [] : [host]), ...(options.allowedHosts ?? [])],
    sessionIdleTimeoutMs: idleTimeoutMs,
    maxSessions: options.maxSessions ?? DEFAULT_MAX_SESSIONS,
    // A session past its idle timeout is ended anyway: it never has to wait longer for room.
    evictIdleAfterMs: options.evictIdleAfterMs ?? Math.min(DEFAULT_EVICT_IDLE_AFTER_MS, idleTimeoutMs),
    maxBodyBytes: bodyLimit(maxContentBytes),
    bodyTimeoutMs: options.bodyTimeoutMs,
    stateless: options.stateless,
  });
  const server = createHttpServer(app);
  if (options.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = options.keepAliveTimeoutMs;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await app.close();
    await store.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost(host)}:${port}`,
    host,
    port,
    sessionCount: () => app.sessionCount,
    storageStarted: () => store.started ?? Promise.resolve(),
    close: () =>
      (closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await app.drain(DRAIN_MS);
        await app.close();
        server.closeAllConnections();
        await stopped;
        await store.close();
      })()),
  };
}

/** Serves MCP on stdin/stdout (or the given streams) until the input ends or close() is called. */
export async function serveStdio(options: StdioServerOptions): Promise<RunningStdioServer> {
  const store = await openStorage(options);
  const maxContentBytes = store.maxContentBytes;
  const session = await connectStdio({
    store,
    defaultUser: options.defaultUser ?? serverDefaultUser(),
    stdin: options.stdin ?? process.stdin,
    stdout: options.stdout ?? process.stdout,
    maxMessageBytes: bodyLimit(maxContentBytes),
  });
  const closed = session.closed.then(async (end) => {
    await store.close();
    return end;
  });
  return {
    closed,
    close: async () => {
      await session.close();
      await closed;
    },
  };
}
