/*
 * The failures people meet, each turned into one line that names the setting to check, and
 * a low-cardinality `error.type` for the spans. Messages never include keys or tokens: they
 * are built from status codes and setting names, never from request headers.
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { ConfigError, type ModelSettings } from '../config.ts';
import { mcpFailure, type McpFailure } from './mcp-failure.ts';

// Settings errors are raised where settings are parsed (config.ts); re-exported for the client.
export { ConfigError };

/** A turn that could not complete; `message` is for the person at the terminal. */
export class TurnError extends Error {
  readonly errorType: string;
  constructor(message: string, errorType: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TurnError';
    this.errorType = errorType;
  }
}

/** The user cancelled the turn (Ctrl-C): not an error, but the turn has no answer. */
export class TurnCancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'TurnCancelled';
  }
}

function names(settings: ModelSettings) {
  if (settings.provider === 'openai') {
    return { service: 'the model endpoint', key: 'OPENAI_API_KEY', where: 'OPENAI_BASE_URL', model: 'AZURE_OPENAI_DEPLOYMENT (the model name)' };
  }
  if (settings.provider === 'simulator') {
    return { service: 'the built-in simulator', key: 'the simulator key', where: 'the simulator', model: 'AZURE_OPENAI_DEPLOYMENT' };
  }
  return { service: 'Azure OpenAI', key: 'AZURE_OPENAI_API_KEY', where: 'AZURE_OPENAI_ENDPOINT', model: 'AZURE_OPENAI_DEPLOYMENT' };
}

/**
 * The model endpoint's answer ran past MEMENTO_MODEL_TIMEOUT_MS from the request, or was
 * silent between chunks for MEMENTO_MODEL_IDLE_TIMEOUT_MS. Not named AbortError on purpose:
 * the openai package would take that for a cancel and end the stream as if it were complete.
 */
export class ModelTimeoutError extends Error {
  /** The setting that bounds what ran out: MEMENTO_MODEL_TIMEOUT_MS or MEMENTO_MODEL_IDLE_TIMEOUT_MS. */
  readonly setting: string;
  constructor(message: string, setting: string) {
    super(message);
    this.name = 'ModelTimeoutError';
    this.setting = setting;
  }
}

/** The endpoint answered with something that is not a chat completion (HTML, an empty stream …). */
export class ModelResponseError extends Error {
  readonly errorType: string;
  constructor(message: string, errorType = 'invalid_response') {
    super(message);
    this.name = 'ModelResponseError';
    this.errorType = errorType;
  }
}

/** Explains a failed model call; `retries` is how many times the openai package retried. */
export function modelError(err: unknown, settings: ModelSettings, retries: number): TurnError | TurnCancelled {
  if (err instanceof TurnError || err instanceof TurnCancelled) return err;
  if (err instanceof APIUserAbortError || (err as Error)?.name === 'AbortError') return new TurnCancelled();
  if (err instanceof ConfigError) return new TurnError(err.message, 'config', { cause: err });
  const n = names(settings);
  const afterRetries = retries > 0 ? ` after ${retries} retries` : '';
  if (err instanceof ModelResponseError) return new TurnError(err.message, err.errorType, { cause: err });
  if (err instanceof ModelTimeoutError) {
    return new TurnError(`${n.service} did not finish its answer in time (${err.message}); check ${n.where} or raise ${err.setting}.`, 'timeout', { cause: err });
  }
  if (err instanceof APIConnectionTimeoutError) {
    return new TurnError(`${n.service} did not answer in time${afterRetries} (timeout); check ${n.where} or raise MEMENTO_MODEL_TIMEOUT_MS.`, 'timeout', { cause: err });
  }
  if (err instanceof APIConnectionError) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code ?? 'connection_error';
    return new TurnError(`cannot reach ${n.service} (${code}); check ${n.where}.`, code, { cause: err });
  }
  if (err instanceof APIError && typeof err.status === 'number') {
    const status = err.status;
    const type = String(status);
    if (status === 401 || status === 403) {
      return new TurnError(`${n.service} refused the credentials (${status}); check ${n.key}.`, type, { cause: err });
    }
    if (status === 404) {
      return new TurnError(`${n.service} has no deployment "${settings.deployment}" (404); check ${n.model} and ${n.where}.`, type, { cause: err });
    }
    if (status === 429) {
      return new TurnError(`${n.service} is rate-limiting requests (429)${afterRetries}; wait a little and try again.`, type, { cause: err });
    }
    if (status >= 500) {
      return new TurnError(`${n.service} failed (${status})${afterRetries}; try again shortly.`, type, { cause: err });
    }
    // The package's message starts with the status, which the line already gives.
    return new TurnError(`${n.service} rejected the request (${status}): ${safeMessage(err).replace(/^\d{3} /, '')}`, type, { cause: err });
  }
  const at = settings.endpoint ? ` at ${endpointOf(settings.endpoint)}` : '';
  if (err instanceof APIError) {
    // An error event inside a stream: no status, the endpoint's own words.
    return new TurnError(`${n.service}${at} reported an error in the middle of its answer: ${safeMessage(err)}`, 'stream_error', { cause: err });
  }
  if (err instanceof TypeError && err.message === 'terminated') {
    // undici: the connection closed while the answer was still arriving.
    return new TurnError(`${n.service}${at} closed the connection before its answer was complete; check ${n.where} and try again.`, 'connection_closed', { cause: err });
  }
  if (err instanceof SyntaxError) {
    return new TurnError(`${n.service}${at} sent a malformed answer (${safeMessage(err)}); check ${n.where}.`, 'invalid_response', { cause: err });
  }
  return new TurnError(`the model call failed: ${safeMessage(err)}`, errorName(err), { cause: err });
}

/** The endpoint as messages name it: no credentials, no query (which may carry a key). */
export function endpointOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'its address';
  }
}

/** Explains a failure to reach or use the MCP server. */
export function mcpError(err: unknown, url: string | undefined, failure: McpFailure = mcpFailure(err)): TurnError | TurnCancelled {
  if (err instanceof TurnError || err instanceof TurnCancelled) return err;
  if (failure.kind === 'cancelled') return new TurnCancelled();
  const where = url ? `the MCP server at ${url}` : 'the MCP server this client started';
  const hint = url ? 'check MEMENTO_MCP_URL (is `memento serve` running?)' : 'run with MEMENTO_LOG_LEVEL=debug to see why it stopped';
  if (failure.kind === 'status' && (failure.status === 401 || failure.status === 403)) {
    return new TurnError(`${where} refused the request (${failure.status}); check MEMENTO_MCP_TOKEN.`, String(failure.status), { cause: err });
  }
  const errorType =
    failure.kind === 'status' ? String(failure.status)
    : failure.kind === 'unreachable' || failure.kind === 'lost' ? failure.code
    : failure.kind === 'timeout' ? 'timeout'
    : 'mcp_unavailable';
  return new TurnError(`cannot use ${where} (${safeMessage(err)}); ${hint}.`, errorType, { cause: err });
}

function safeMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.slice(0, 300);
}

function errorName(err: unknown): string {
  return err instanceof Error && err.name && err.name !== 'Error' ? err.name : '_OTHER';
}
