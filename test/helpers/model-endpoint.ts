/*
 * An OpenAI-compatible model endpoint written in the test: a real HTTP server on a loopback
 * port whose every answer is scripted, including the hostile ones (endless streams, HTML,
 * gigantic answers). Point `memento` at it with OPENAI_BASE_URL=`endpoint.baseURL`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ModelRequest {
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
}

export type Handler = (req: ModelRequest, res: ServerResponse) => unknown;

export interface Reply {
  content?: string;
  toolCalls?: { id: string; name: string; arguments: string }[];
}

export class ModelEndpoint {
  readonly requests: ModelRequest[] = [];
  private readonly queue: Handler[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  baseURL = '';
  /** Answers when the script has run out. */
  fallback: Handler = (req, res) => reply(req, res, { content: 'nothing more scripted' });

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = undefined;
        }
        const request = { path: req.url ?? '', headers: req.headers, body };
        this.requests.push(request);
        const handler = this.queue.shift() ?? this.fallback;
        void Promise.resolve(handler(request, res)).catch(() => res.destroy());
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.baseURL = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
    return this;
  }

  /** Queues handlers for the next requests, in order. */
  next(...handlers: Handler[]): void {
    this.queue.push(...handlers);
  }

  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

export function chunk(delta: Record<string, unknown>, finish: string | null = null): Record<string, unknown> {
  return { id: 'chatcmpl-h', object: 'chat.completion.chunk', created: 1, model: 'hostile', choices: [{ index: 0, delta, finish_reason: finish }] };
}

export function completion(r: Reply): Record<string, unknown> {
  return {
    id: 'chatcmpl-h',
    object: 'chat.completion',
    created: 1,
    model: 'hostile',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: r.content ?? null,
          ...(r.toolCalls ? { tool_calls: r.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } })) } : {}),
        },
        finish_reason: r.toolCalls ? 'tool_calls' : 'stop',
      },
    ],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
}

/** A well-formed answer, streamed when the request asked for a stream. */
export function reply(req: ModelRequest, res: ServerResponse, r: Reply): void {
  if (!req.body?.stream) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion(r)));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  if (r.content) res.write(`data: ${JSON.stringify(chunk({ role: 'assistant', content: r.content }))}\n\n`);
  r.toolCalls?.forEach((t, index) =>
    res.write(`data: ${JSON.stringify(chunk({ tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }] }))}\n\n`),
  );
  res.write(`data: ${JSON.stringify(chunk({}, r.toolCalls ? 'tool_calls' : 'stop'))}\n\n`);
  res.end('data: [DONE]\n\n');
}

/** The tool messages the client sent back in a request. */
export function toolMessages(req: ModelRequest): { tool_call_id: string; content: string }[] {
  return (req.body?.messages ?? []).filter((m: { role: string }) => m.role === 'tool');
}

/**
 * Splits `memento chat` output into turns: each ends with its footer's call counts (at the end
 * of the split line, or on a line of their own when the footer wraps at 80 columns).
 */
export function turnsOf(stdout: string): string[] {
  const turns: string[] = [];
  let current = '';
  for (const line of stdout.split('\n')) {
    if (/(?:^|· )\d+ model calls?, \d+ tool calls?$/.test(line)) {
      turns.push(`${current}${line}`);
      current = '';
    } else {
      current += `${line}\n`;
    }
  }
  return turns;
}

/** The turn's duration in ms, or its time at the model (`Azure`, `model` or `simulator` in the footer). */
export function footerMs(turn: string, part: 'total' | 'Azure' = 'total'): number {
  const m = part === 'total' ? /^(\S+) (m?s): (?:Azure|model|simulator) /m.exec(turn) : /: (?:Azure|model|simulator) (\S+) (m?s) ·/m.exec(turn);
  if (!m) throw new Error(`no footer in ${turn}`);
  return m[2] === 's' ? Number(m[1]) * 1000 : Number(m[1]);
}
