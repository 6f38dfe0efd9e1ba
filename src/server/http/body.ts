/*
 * Request bodies: read with raw-body (the reader Express and the MCP SDK use) under a size and a
 * time limit, then parsed as one JSON message; and what to do with a body nobody will read.
 */
import type { IncomingMessage } from 'node:http';
import getRawBody from 'raw-body';
import { parseMessage } from '../message-limits.ts';
import { HttpError, JSONRPC } from './errors.ts';

export interface BodyLimits {
  /** Largest body read, in bytes (413 past it). */
  maxBytes: number;
  /** Longest a body may take to arrive once its headers have (408 past it). */
  timeoutMs: number;
}

/** The parsed JSON body, or an HttpError: 413 past the size, 408 past the time, -32700 when not JSON. */
export async function readJson(req: IncomingMessage, limits: BodyLimits): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  let timer: NodeJS.Timeout | undefined;
  const reading = getRawBody(req, { limit: limits.maxBytes, length: Number.isFinite(declared) ? declared : null });
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Stop taking bytes; the reader's own listeners go when the connection closes.
      req.pause();
      // A sender this slow is not owed a kept-alive connection.
      const seconds = Math.max(1, Math.round(limits.timeoutMs / 1000));
      reject(
        new HttpError(408, JSONRPC.invalidRequest, `Request Timeout: the request body did not arrive within ${seconds} s.`, {
          connection: 'close',
        }),
      );
    }, limits.timeoutMs);
    timer.unref();
  });
  reading.catch(() => {});
  let raw: Buffer;
  try {
    raw = await Promise.race([reading, timedOut]);
  } catch (err) {
    if (err instanceof HttpError) throw err;
    if ((err as { type?: unknown }).type === 'entity.too.large') {
      throw new HttpError(413, JSONRPC.invalidRequest, `Payload Too Large: request bodies are limited to ${limits.maxBytes} bytes.`);
    }
    // The client went away mid-body, or sent fewer bytes than it declared.
    throw new HttpError(400, JSONRPC.invalidRequest, 'Bad Request: the request body was cut short.');
  } finally {
    clearTimeout(timer);
  }
  const parsed = parseMessage(raw.toString('utf8'));
  if (parsed.ok) return parsed.value;
  throw new HttpError(400, parsed.kind === 'parse' ? JSONRPC.parseError : JSONRPC.invalidRequest, parsed.message);
}

/** How long a refused request's unread body is read and discarded before the connection is cut. */
const DISCARD_MS = 10_000;

/**
 * After answering a request whose body was not (fully) read: read and discard the rest, so the
 * answer is delivered. Closing a socket that still has unread bytes makes the kernel send a
 * reset, and a reset discards the answer on the client's side before it reads it; so the
 * connection is only cut if the body keeps coming past DISCARD_MS.
 */
export function discardUnreadBody(req: IncomingMessage): void {
  if (req.complete) return;
  const timer = setTimeout(() => req.socket.destroy(), DISCARD_MS);
  timer.unref();
  const done = () => clearTimeout(timer);
  req.once('end', done);
  req.once('close', done);
  req.resume();
}
