/*
 * The client's HTTP: one undici Agent (a keep-alive pool with connect, headers and body
 * timeouts) behind every request to Azure OpenAI and to the MCP server, so a turn's second
 * Azure call reuses the first call's TLS connection. HTTP client spans come from
 * src/telemetry/http-client.ts, which listens on undici's diagnostics channels.
 *
 * With `--traffic`, a wrapper reports each exchange (service, method, path, status, time,
 * bytes) when its response body has been read to the end; without it, requests go straight
 * to undici.
 */
import { Agent, fetch as undiciFetch, Response as UndiciResponse, type Dispatcher } from 'undici';

/** What the MCP SDK and the openai package both accept as `fetch`. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export type ServiceName = 'AZURE_OPENAI' | 'MCP_SERVER';

export interface Exchange {
  service: ServiceName;
  /** HTTP method, or `stdio` for a JSON-RPC exchange with our own server over a pipe. */
  method: string;
  /** URL path, or the JSON-RPC method (and tool) over stdio. */
  target: string;
  /** HTTP status, or `ok`/`error` over stdio; undefined when no answer came. */
  status: number | string | undefined;
  durationMs: number;
  bytesSent: number;
  bytesReceived: number;
  error?: string;
}

export interface HttpOptions {
  connectTimeoutMs?: number;
  /** Time to the response headers: the model's time to first token lives here. */
  headersTimeoutMs?: number;
  /** Longest silence while a body (or a token stream) is arriving. */
  bodyTimeoutMs?: number;
}

export function createAgent(options: HttpOptions = {}): Agent {
  return new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 300_000,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    headersTimeout: options.headersTimeoutMs ?? 120_000,
    bodyTimeout: options.bodyTimeoutMs ?? 120_000,
  });
}

/** A fetch bound to `agent`; with `observe`, one call per completed exchange. */
export function agentFetch(agent: Dispatcher, service: ServiceName, observe?: (exchange: Exchange) => void): FetchLike {
  const base = ((input: string | URL | Request, init?: RequestInit) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], {
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher: agent,
    })) as unknown as FetchLike;
  return observe ? observed(base, service, observe) : base;
}

function bodySize(body: unknown): number {
  if (body == null) return 0;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof ArrayBuffer) return body.byteLength;
  if (ArrayBuffer.isView(body)) return body.byteLength;
  if (body instanceof URLSearchParams) return Buffer.byteLength(body.toString());
  return 0;
}

function observed(base: FetchLike, service: ServiceName, observe: (exchange: Exchange) => void): FetchLike {
  return async (input, init) => {
    const started = performance.now();
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const bytesSent = bodySize(init?.body);
    const report = (status: number | undefined, bytesReceived: number, error?: string) => {
      try {
        observe({ service, method, target: url.pathname, status, durationMs: performance.now() - started, bytesSent, bytesReceived, error });
      } catch {
        // A display hook must never break a request.
      }
    };
    let response: Response;
    try {
      response = await base(input, init);
    } catch (err) {
      report(undefined, 0, (err as Error).message);
      throw err;
    }
    if (!response.body) {
      report(response.status, 0);
      return response;
    }
    let received = 0;
    let done = false;
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      report(response.status, received, error);
    };
    // A reader of our own rather than pipeThrough: the openai package cancels a stream once
    // it has read `[DONE]`, and a cancel must report the exchange as surely as the end does.
    const reader = response.body.getReader();
    const counted = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            finish();
            controller.close();
            return;
          }
          received += value.byteLength;
          controller.enqueue(value);
        } catch (err) {
          finish((err as Error).message);
          controller.error(err);
        }
      },
      cancel(reason) {
        finish();
        return reader.cancel(reason);
      },
    });
    const wrapped = new UndiciResponse(counted as ReadableStream, {
      status: response.status,
      statusText: response.statusText,
      headers: [...response.headers],
    });
    Object.defineProperty(wrapped, 'url', { value: response.url });
    return wrapped as unknown as Response;
  };
}
