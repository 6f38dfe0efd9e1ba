/*
 * What a failed MCP request says about itself, read from typed signals only — the SDK's error
 * classes and codes, the HTTP status, the socket error code — never from message text, whose
 * wording a library may change in any release. The client's retry decision rests on this:
 * only a request that provably never reached a server is sent again, so a store is never made
 * twice.
 */
import { SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';

export type McpFailure =
  /** The caller aborted (Ctrl-C). */
  | { kind: 'cancelled' }
  /** No connection was made (refused, unknown host): nothing was sent. */
  | { kind: 'unreachable'; code: string }
  /** The SDK had no transport when asked: nothing was sent. */
  | { kind: 'not-connected' }
  /** The server answered with an HTTP error status. */
  | { kind: 'status'; status: number }
  /** The connection broke with the request under way: it may have arrived. */
  | { kind: 'lost'; code: string }
  /** No answer within the request timeout: it may have arrived. */
  | { kind: 'timeout' }
  | { kind: 'other' };

/** An HTTP error answer to a legacy-SSE POST (the SDK reports those as a plain Error). */
export class HttpStatusError extends Error {
  readonly status: number;
  /** The status again, where StreamableHTTPError keeps it: spans record it as `error.type`. */
  readonly code: number;
  constructor(status: number, method: string) {
    super(`HTTP ${status} from ${method}`);
    this.name = 'HttpStatusError';
    this.status = status;
    this.code = status;
  }
}

/** Socket error codes (node:net, undici) for a connection that was never made. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
/** ... and for one that broke after the request may have been written. */
const LOST = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** The first string `code` along the `cause` chain (fetch's TypeError wraps undici's error). */
function socketCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * Classifies a failed request. `connected` is whether the SDK client still had a transport
 * when the request failed: the SDK reports a missing one only as `Error('Not connected')`.
 */
export function mcpFailure(err: unknown, connected = true, signal?: AbortSignal): McpFailure {
  if (signal?.aborted || (err as Error)?.name === 'AbortError') return { kind: 'cancelled' };
  if (err instanceof StreamableHTTPError && err.code !== undefined && err.code > 0) return { kind: 'status', status: err.code };
  if (err instanceof HttpStatusError) return { kind: 'status', status: err.status };
  if (err instanceof SseError) return err.code !== undefined && err.code > 0 ? { kind: 'status', status: err.code } : { kind: 'lost', code: 'sse_stream' };
  if (err instanceof McpError) {
    if (err.code === ErrorCode.RequestTimeout) return { kind: 'timeout' };
    if (err.code === ErrorCode.ConnectionClosed) return { kind: 'lost', code: 'connection_closed' };
    return { kind: 'other' };
  }
  const code = socketCode(err);
  if (code && UNREACHABLE.has(code)) return { kind: 'unreachable', code };
  if (code && LOST.has(code)) return { kind: 'lost', code };
  if (!connected) return { kind: 'not-connected' };
  return { kind: 'other' };
}

/**
 * True when the request cannot have reached a server that acted on it: no connection, no
 * transport, or a 404 for the session (a restarted server does not know it and runs nothing).
 */
export function neverArrived(failure: McpFailure): boolean {
  return failure.kind === 'unreachable' || failure.kind === 'not-connected' || (failure.kind === 'status' && failure.status === 404);
}

/** True when the connection is unusable afterwards and the next request should open a new one. */
export function connectionGone(failure: McpFailure): boolean {
  return failure.kind === 'lost' || failure.kind === 'status' || failure.kind === 'unreachable' || failure.kind === 'not-connected';
}
