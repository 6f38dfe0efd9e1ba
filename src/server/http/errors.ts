/*
 * How the HTTP layer says no: an HttpError carries the status, the JSON-RPC code and a plain
 * sentence; sendError turns it into a JSON-RPC error body. Nothing here touches sessions.
 */
import type { ServerResponse } from 'node:http';

/** JSON-RPC error codes used on the HTTP layer. */
export const JSONRPC = {
  parseError: -32700,
  invalidRequest: -32600,
  internalError: -32603,
  /** Implementation-defined server errors (the SDK's choices for the same situations). */
  serverError: -32000,
  sessionNotFound: -32001,
} as const;

export class HttpError extends Error {
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

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
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
export function sendError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null }, headers);
}
