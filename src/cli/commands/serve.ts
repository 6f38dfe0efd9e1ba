/*
 * `memento serve`: the MCP server over HTTP (default) or stdio, until SIGINT/SIGTERM or, on
 * stdio, the end of input. It closes everything before returning; cli.ts then flushes the
 * telemetry and exits.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { dataDir as defaultDataDir, mcpSettings, SETTINGS, storeUrl as configuredStoreUrl } from '../../config.ts';
import { log, registerSecret } from '../../log.ts';
import { USER_ID_PATTERN } from '../../protocol.ts';
import { StorageError } from '../../server/storage/types.ts';
import { serveStdio, serverDefaultUser, startHttpServer } from '../../server/index.ts';
import { legacyDataNote } from '../../server/legacy-data.ts';
import { CliError, EXIT } from '../errors.ts';

export interface ServeOptions {
  host: string;
  port: number;
  dataDir?: string;
  /** `postgres://…`: PostgreSQL storage instead of the data directory. */
  store?: string;
  stdio?: boolean;
  /** No sessions on /mcp: for replicas behind a load balancer. */
  stateless?: boolean;
  tokens?: string;
  /** Comma-separated extra host names for the Host/Origin allow-list; "*" allows any. */
  allowedHosts?: string;
  /** Seconds an MCP session may sit with no request in progress. */
  sessionTimeout: number;
  /** Most live MCP sessions at once. */
  maxSessions: number;
  /** Largest memory content, in bytes. */
  maxContentSize: number;
}

/** Tokens shorter than this are accepted but worth a warning: they can be guessed. */
const SHORT_TOKEN = 16;

/**
 * The tokens file: a JSON object `{ "<token>": "<user id>" }`. Its error messages name users
 * and entry numbers, never a token.
 */
export async function loadTokens(file: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the tokens file ${file}: ${(err as { code?: string }).code ?? 'unreadable'}`, EXIT.usage);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's own message quotes the text around the fault, which may be a token.
    throw new CliError(`the tokens file ${file} is not valid JSON; expected { "<token>": "<user id>", … }`, EXIT.usage);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CliError(`the tokens file ${file} must hold a JSON object { "<token>": "<user id>", … }`, EXIT.usage);
  }
  const tokens = new Map<string, string>();
  let n = 0;
  for (const [token, user] of Object.entries(parsed)) {
    n++;
    registerSecret(token);
    if (!token.trim() || /\s/.test(token)) {
      throw new CliError(`tokens file ${file}, entry ${n}: a token must be non-empty and contain no spaces`, EXIT.usage);
    }
    if (typeof user !== 'string' || !USER_ID_PATTERN.test(user)) {
      throw new CliError(
        `tokens file ${file}, entry ${n}: the user must be a user id (1 to 64 letters, digits, ".", "_" or "-")`,
        EXIT.usage,
      );
    }
    if (token.length < SHORT_TOKEN) log.warn('a token in the tokens file is short enough to guess', { user, entry: n });
    tokens.set(token, user);
  }
  if (tokens.size === 0) throw new CliError(`the tokens file ${file} maps no tokens`, EXIT.usage);
  await checkTokensFileMode(file);
  return tokens;
}

/**
 * The tokens file holds every user's credentials: anyone who can write it can make a token for
 * any user (refused), and anyone who can read it can act as any user (a warning, since a
 * deliberately shared, read-only deployment file is possible). POSIX modes only.
 */
async function checkTokensFileMode(file: string): Promise<void> {
  if (process.platform === 'win32') return;
  const mode = (await stat(file)).mode & 0o777;
  const octal = mode.toString(8).padStart(4, '0');
  if (mode & 0o002) {
    throw new CliError(
      `the tokens file ${file} can be changed by any user on this machine (mode ${octal}), who could then add a token for any user; run: chmod 600 ${file}`,
      EXIT.usage,
    );
  }
  if (mode & 0o044) {
    log.warn(`the tokens file can be read by other users on this machine, who could use any token in it; run: chmod 600 ${file}`, {
      mode: octal,
    });
  }
}

/** The PostgreSQL URL, checked; its password is registered as a secret so no log shows it. */
function storeUrlOf(raw: string | undefined): string | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError('--store (MEMENTO_STORE_URL) is not a URL; expected postgres://user:password@host:5432/database', EXIT.usage);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new CliError(`--store (MEMENTO_STORE_URL) must be a postgres:// URL; got a ${url.protocol}// URL`, EXIT.usage);
  }
  registerSecret(decodeURIComponent(url.password));
  registerSecret(value);
  return value;
}

/** Resolves on the first SIGINT or SIGTERM. */
function stopSignal(): { promise: Promise<NodeJS.Signals>; dispose(): void } {
  let dispose = () => {};
  const promise = new Promise<NodeJS.Signals>((resolvePromise) => {
    const on = (signal: NodeJS.Signals) => () => resolvePromise(signal);
    const onInt = on('SIGINT');
    const onTerm = on('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    dispose = () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    };
  });
  return { promise, dispose: () => dispose() };
}

export async function serve(opts: ServeOptions): Promise<number> {
  const dataDir = opts.dataDir ? resolve(opts.dataDir) : defaultDataDir();
  let defaultUser: string;
  try {
    defaultUser = serverDefaultUser();
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.usage);
  }
  const storeUrl = storeUrlOf(opts.store ?? configuredStoreUrl());
  // At warn: the chat's own stdio server passes warnings on to the terminal.
  const moved = storeUrl || opts.dataDir || process.env[SETTINGS.dataDir.name]?.trim() ? undefined : legacyDataNote(dataDir);
  if (moved) log.warn(moved);
  const common = { dataDir, storeUrl, defaultUser, maxContentBytes: opts.maxContentSize };
  const signal = stopSignal();
  try {
    if (opts.stdio) {
      if (opts.stateless) log.warn('--stateless applies to HTTP only');
      if (opts.tokens) log.warn('--tokens applies to HTTP only; over stdio the host that started the server is trusted');
      const running = await serveStdio(common).catch((err: unknown) => {
        if (err instanceof StorageError) throw new CliError(err.message);
        throw new CliError(`cannot use the data directory ${dataDir}: ${(err as { code?: string }).code ?? String(err)}`);
      });
      log.info('memento MCP server on stdio', storeUrl ? { store: 'postgres' } : { dataDir });
      const ended = await Promise.race([running.closed, signal.promise]);
      const failure = typeof ended === 'object' ? ended.error : undefined;
      if (failure) {
        // stdin or stdout failed: the host can no longer talk to us, and the exit status says so.
        log.error('shutting down: the stdio connection failed', { error: (failure as { code?: string }).code ?? failure.message });
      } else {
        log.info('shutting down', { reason: typeof ended === 'object' ? 'end of input' : ended });
      }
      await running.close();
      return failure ? EXIT.failed : EXIT.ok;
    }

    const tokens = opts.tokens ? await loadTokens(opts.tokens) : undefined;
    const sharedToken = mcpSettings().token;
    registerSecret(sharedToken);
    if (tokens && sharedToken) log.warn('--tokens is given, so MEMENTO_MCP_TOKEN is ignored: each token decides its user');
    const allowedHosts = (opts.allowedHosts ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean);
    const running = await startHttpServer({
      ...common,
      host: opts.host,
      port: opts.port,
      tokens,
      sharedToken: tokens ? undefined : sharedToken,
      allowedHosts,
      sessionIdleTimeoutMs: opts.sessionTimeout * 1000,
      maxSessions: opts.maxSessions,
      stateless: opts.stateless,
    }).catch((err: unknown) => {
      if (err instanceof StorageError) throw new CliError(err.message);
      const code = (err as { code?: string }).code;
      if (code === 'EADDRINUSE') throw new CliError(`port ${opts.port} on ${opts.host} is already in use; choose another with --port`);
      if (code === 'EADDRNOTAVAIL') throw new CliError(`cannot bind ${opts.host}: no such local address`);
      if (code === 'EACCES' && typeof (err as { port?: unknown }).port === 'number') {
        throw new CliError(`not allowed to bind port ${opts.port}; choose one above 1023`);
      }
      throw new CliError(`cannot start the server: ${code ?? (err as Error).message}`);
    });
    log.info(`memento MCP server listening on ${running.url}`, {
      mcp: `${running.url}/mcp`,
      sse: `${running.url}/sse`,
      ...(storeUrl ? { store: 'postgres' } : { dataDir }),
      auth: tokens ? 'tokens file' : sharedToken ? 'shared token' : 'none',
      ...(opts.stateless ? { mode: 'stateless' } : {}),
    });
    if ((opts.host === '0.0.0.0' || opts.host === '::') && allowedHosts.length === 0) {
      log.warn('bound to all interfaces, but only localhost names pass the Host check; add --allowed-hosts');
    }
    const received = await signal.promise;
    log.info('shutting down', { signal: received });
    await running.close();
    return EXIT.ok;
  } finally {
    signal.dispose();
  }
}
