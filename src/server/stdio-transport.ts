/*
 * MCP over stdin/stdout, one JSON-RPC message per line, replacing the SDK's
 * StdioServerTransport, which closes the whole session when one line is too long and drops
 * garbage and batch lines without a word. Here every line gets its due: a message goes to the
 * server; a line over the size limit, one that is not JSON, nests too deep, is a batch or is
 * not JSON-RPC gets a JSON-RPC error reply; and the session goes on. An over-long line is
 * never held in memory past the limit: the rest of it is skipped up to its newline.
 */
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { JSONRPC } from './http/errors.ts';
import { parseMessage } from './message-limits.ts';

const NEWLINE = 0x0a;

export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private readonly stdin: Readable;
  private readonly stdout: Writable;
  private readonly maxLineBytes: number;
  /** The current line's bytes so far (none while skipping an over-long line). */
  private chunks: Buffer[] = [];
  private size = 0;
  private skipping = false;
  private closed = false;

  constructor(stdin: Readable, stdout: Writable, options: { maxLineBytes: number }) {
    this.stdin = stdin;
    this.stdout = stdout;
    this.maxLineBytes = options.maxLineBytes;
  }

  async start(): Promise<void> {
    this.stdin.on('data', this.onData);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stdin.off('data', this.onData);
    this.chunks = [];
    this.onclose?.();
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || this.stdout.destroyed || !this.stdout.writable) return resolve();
      if (this.stdout.write(`${JSON.stringify(message)}\n`)) resolve();
      else this.stdout.once('drain', resolve);
    });
  }

  private readonly onData = (data: Buffer | string): void => {
    let chunk = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE);
      const part = newline < 0 ? chunk : chunk.subarray(0, newline);
      if (!this.skipping) {
        if (this.size + part.length > this.maxLineBytes) {
          this.skipping = true;
          this.chunks = [];
          this.size = 0;
          this.reply(null, JSONRPC.invalidRequest, `Invalid Request: the message is longer than ${this.maxLineBytes} bytes; it was skipped.`);
        } else if (part.length > 0) {
          this.chunks.push(part);
          this.size += part.length;
        }
      }
      if (newline < 0) return;
      if (!this.skipping) this.line(Buffer.concat(this.chunks, this.size).toString('utf8'));
      this.chunks = [];
      this.size = 0;
      this.skipping = false;
      chunk = chunk.subarray(newline + 1);
    }
  };

  private line(text: string): void {
    if (text.trim() === '') return;
    const parsed = parseMessage(text);
    if (!parsed.ok) return this.reply(null, parsed.kind === 'parse' ? JSONRPC.parseError : JSONRPC.invalidRequest, parsed.message);
    const value = parsed.value;
    if (Array.isArray(value)) {
      return this.reply(null, JSONRPC.invalidRequest, 'Invalid Request: batches are not supported; send one message per line.');
    }
    const message = JSONRPCMessageSchema.safeParse(value);
    if (!message.success) {
      const id = (value as { id?: unknown } | null)?.id;
      return this.reply(
        typeof id === 'string' || typeof id === 'number' ? id : null,
        JSONRPC.invalidRequest,
        'Invalid Request: the line is not a JSON-RPC 2.0 message.',
      );
    }
    this.onmessage?.(message.data);
  }

  private reply(id: string | number | null, code: number, message: string): void {
    void this.send({ jsonrpc: '2.0', id, error: { code, message } } as unknown as JSONRPCMessage);
  }
}
