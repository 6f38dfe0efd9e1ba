/*
 * The model endpoint is not trusted to behave: this fetch wrapper sits between the openai
 * package and the wire and bounds what one response may cost.
 *
 * - Time: an attempt must finish (last byte, not just the headers) within
 *   MEMENTO_MODEL_TIMEOUT_MS of its request, and may stay silent between chunks for at most
 *   MEMENTO_MODEL_IDLE_TIMEOUT_MS. The openai package bounds only the wait for the headers of
 *   a stream, so keep-alive comments or endless content would otherwise run forever.
 * - Shape: a `stream: true` request answered 200 with a whole JSON completion (some
 *   OpenAI-compatible servers do) is handed on as the one-chunk stream it stands for; HTML or
 *   anything else that is not a completion becomes an error naming the endpoint, never an
 *   empty answer.
 * - Size: no event of the stream (and no whole body) longer than twice the answer bound, so
 *   one endless line or event cannot fill memory before the answer-size check sees it.
 *
 * Errors are delivered by failing the response body, not by throwing from fetch: a thrown
 * fetch error would be retried by the openai package as a connection error.
 */
import { endpointOf, ModelResponseError, ModelTimeoutError } from './errors.ts';
import type { FetchLike } from './http.ts';

export interface GuardOptions {
  /** Whole attempt, from the request to the last byte. */
  timeoutMs: number;
  /** Longest silence while the body is arriving. */
  idleMs: number;
  /** The answer bound (MEMENTO_MODEL_MAX_ANSWER_BYTES); events and bodies get twice it plus 1 MiB. */
  maxAnswerBytes: number;
  /** Whether requests ask for a stream. */
  stream: boolean;
  /** What to check, for messages: e.g. "check OPENAI_BASE_URL". */
  hint: string;
}

/** Error bodies are read for their message only. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;


export function guardModelFetch(base: FetchLike, options: GuardOptions): FetchLike {
  const maxBody = 2 * options.maxAnswerBytes + 1024 * 1024;
  return async (input, init) => {
    const deadline = performance.now() + options.timeoutMs;
    const response = await base(input, init);
    const url = endpointOf(response.url || (input instanceof Request ? input.url : String(input)));
    if (!response.body) {
      if (response.ok) return failing(response, options.stream, notACompletion(url, response.status, 'an empty body', options.hint));
      return response;
    }
    const limits = { deadline, idleMs: options.idleMs, timeoutMs: options.timeoutMs };
    if (!response.ok) {
      return rewrap(response, guardStream(response.body, { ...limits, maxTotal: MAX_ERROR_BODY_BYTES, truncate: true }));
    }
    const type = mediaType(response);
    if (options.stream && type === 'text/event-stream') {
      return rewrap(response, guardStream(response.body, { ...limits, maxEvent: maxBody, tooLarge: () => tooLarge(options.maxAnswerBytes) }));
    }
    // Not a stream (or a whole answer was asked for): read it all, within the same bounds,
    // and see whether it is a chat completion.
    let text: string;
    try {
      text = await readAll(guardStream(response.body, { ...limits, maxTotal: maxBody, tooLarge: () => tooLarge(options.maxAnswerBytes) }));
    } catch (err) {
      if (err instanceof ModelTimeoutError || err instanceof ModelResponseError) return failing(response, options.stream, err);
      throw err;
    }
    const parsed = parseJson(text);
    if (!isCompletion(parsed)) {
      const apiError = (parsed as { error?: { message?: unknown } } | undefined)?.error;
      const what = apiError
        ? `an error (${String(typeof apiError === 'object' ? (apiError.message ?? 'no message') : apiError).split('\n')[0]!.slice(0, 200)})`
        : `${type || 'no content type'} (${Buffer.byteLength(text)} bytes)`;
      return failing(response, options.stream, notACompletion(url, response.status, what, options.hint));
    }
    if (!options.stream) return rewrap(response, text, 'application/json');
    return rewrap(response, `data: ${JSON.stringify(asChunk(parsed))}\n\ndata: [DONE]\n\n`, 'text/event-stream');
  };
}

function notACompletion(url: string, status: number, what: string, hint: string): ModelResponseError {
  return new ModelResponseError(`the model endpoint at ${url} answered ${status} with ${what} instead of a chat completion; ${hint}.`);
}

export function tooLarge(maxAnswerBytes: number): ModelResponseError {
  return new ModelResponseError(
    `the model's answer passed ${maxAnswerBytes} bytes (MEMENTO_MODEL_MAX_ANSWER_BYTES); the turn was stopped there.`,
    'answer_too_large',
  );
}

function mediaType(response: Response): string {
  return (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

type Completion = {
  id?: string;
  created?: number;
  model?: string;
  choices: { index?: number; finish_reason?: string | null; message?: { content?: string | null; tool_calls?: unknown[] } }[];
  usage?: unknown;
};

function isCompletion(value: unknown): value is Completion {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { choices?: unknown }).choices) &&
    (value as { choices: unknown[] }).choices.every((c) => typeof c === 'object' && c !== null)
  );
}

/** A whole completion as the single stream chunk it stands for. */
function asChunk(c: Completion): unknown {
  return {
    id: c.id ?? '',
    object: 'chat.completion.chunk',
    created: c.created ?? 0,
    model: c.model ?? '',
    choices: c.choices.map((choice, i) => ({
      index: typeof choice.index === 'number' ? choice.index : i,
      delta: {
        role: 'assistant',
        content: typeof choice.message?.content === 'string' ? choice.message.content : null,
        ...(Array.isArray(choice.message?.tool_calls)
          ? { tool_calls: choice.message.tool_calls.map((tc, index) => ({ ...(tc as object), index })) }
          : {}),
      },
      finish_reason: choice.finish_reason ?? 'stop',
    })),
    ...(c.usage ? { usage: c.usage } : {}),
  };
}

function rewrap(response: Response, body: ReadableStream<Uint8Array> | string, contentType?: string): Response {
  const headers = new Headers(response.headers);
  if (contentType) {
    headers.set('content-type', contentType);
    headers.delete('content-length');
    headers.delete('content-encoding');
  }
  const wrapped = new Response(body, { status: response.status, statusText: response.statusText, headers });
  Object.defineProperty(wrapped, 'url', { value: response.url });
  return wrapped;
}

/** A 200 whose body fails with `error` when read: how the openai package gets to see it. */
function failing(response: Response, stream: boolean, error: Error): Response {
  void response.body?.cancel().catch(() => {});
  const body = new ReadableStream<Uint8Array>({ start: (c) => c.error(error) });
  return rewrap(response, body, stream ? 'text/event-stream' : 'application/json');
}

interface StreamLimits {
  deadline: number;
  idleMs: number;
  timeoutMs: number;
  /** Longest SSE event (bytes between blank lines). */
  maxEvent?: number;
  /** Most bytes in all. */
  maxTotal?: number;
  /** Past maxTotal: end the body there (error bodies) instead of failing. */
  truncate?: boolean;
  tooLarge?: () => Error;
}

function guardStream(body: ReadableStream<Uint8Array>, limits: StreamLimits): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let total = 0;
  let event = 0;
  const stop = (controller: ReadableStreamDefaultController<Uint8Array>, error: Error) => {
    void reader.cancel(error).catch(() => {});
    controller.error(error);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const left = limits.deadline - performance.now();
      const wait = Math.min(limits.idleMs, left);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              wait === left
                ? new ModelTimeoutError(`no complete answer within ${limits.timeoutMs} ms`, 'MEMENTO_MODEL_TIMEOUT_MS')
                : new ModelTimeoutError(`nothing arrived for ${limits.idleMs} ms`, 'MEMENTO_MODEL_IDLE_TIMEOUT_MS'),
            ),
          Math.max(0, wait),
        );
      });
      try {
        const { done, value } = await Promise.race([reader.read(), timedOut]);
        if (done) {
          controller.close();
          return;
        }
        total += value.byteLength;
        if (limits.maxTotal !== undefined && total > limits.maxTotal) {
          if (limits.truncate) {
            controller.enqueue(value.subarray(0, Math.max(0, value.byteLength - (total - limits.maxTotal))));
            void reader.cancel().catch(() => {});
            controller.close();
            return;
          }
          stop(controller, limits.tooLarge?.() ?? new ModelResponseError('the model endpoint sent too much'));
          return;
        }
        if (limits.maxEvent !== undefined) {
          // Bytes since the last blank line: one SSE event, which the decoder holds whole.
          const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
          const last = Math.max(buf.lastIndexOf('\n\n'), buf.lastIndexOf('\n\r\n'));
          event = last < 0 ? event + value.byteLength : value.byteLength - last - 2;
          if (event > limits.maxEvent) {
            stop(controller, limits.tooLarge?.() ?? new ModelResponseError('the model endpoint sent too much'));
            return;
          }
        }
        controller.enqueue(value);
      } catch (err) {
        stop(controller, err as Error);
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

async function readAll(body: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
