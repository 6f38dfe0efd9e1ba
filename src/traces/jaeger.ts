/*
 * Jaeger's api_v3 query API over HTTP (served on the UI port, 16686): the same spans the
 * trace file holds, for turns exported through the collector. Jaeger v2 answers trace
 * queries with OTLP/JSON wrapped as `{"result": {"resourceSpans": […]}}` (v1 sent the bare
 * TracesData) and errors as `{"error": {"httpCode": …, "message": …}}`; a search that
 * matches nothing is a 404 with such an error body, which is an empty answer, not a failure.
 * Reference: jaeger cmd/jaeger/internal/extension/jaegerquery/internal/apiv3/http_gateway.go.
 */
import { spansFromOtlpJson, type TraceSpan } from './model.ts';

export class JaegerError extends Error {
  readonly url: string;

  constructor(message: string, url: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JaegerError';
    this.url = url;
  }
}

export interface FindTracesQuery {
  service: string;
  startMin: Date;
  startMax: Date;
  /** How many traces Jaeger should return at most. */
  limit: number;
  operation?: string;
  /**
   * Span attributes the trace must have (`query.attributes`, a JSON object of strings), e.g.
   * `{"gen_ai.conversation.id": "…"}`. Jaeger releases without attribute search ignore it,
   * so callers filter the answer themselves too.
   */
  attributes?: Record<string, string>;
}

export interface JaegerClientOptions {
  /** Per request. Default 10 s. */
  timeoutMs?: number;
}

type Answer = { status: number; body: unknown; text: string };

export class JaegerClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;

  /** `baseUrl` is the query service root, e.g. http://localhost:16686 (a base path is kept). */
  constructor(baseUrl: string, options: JaegerClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** All spans of one trace, every service included; [] when Jaeger does not have it. */
  async getTrace(traceId: string): Promise<TraceSpan[]> {
    const answer = await this.get(`/api/v3/traces/${encodeURIComponent(traceId)}`, [404]);
    if (answer.status === 404) return [];
    return this.spans(answer, `/api/v3/traces/${traceId}`);
  }

  /** The spans of the newest traces that touch `service` (whole traces, not just that service's spans). */
  async findTraces(query: FindTracesQuery): Promise<TraceSpan[]> {
    const params = new URLSearchParams();
    // Jaeger renamed these parameters to camelCase and keeps the snake_case ones as
    // deprecated aliases (query.num_traces is older still). When both are sent the canonical
    // one wins without a deprecation warning, and older releases ignore names they do not
    // know, so sending both works against every Jaeger with api_v3.
    const set = (names: string[], value: string) => names.forEach((n) => params.set(n, value));
    set(['query.serviceName', 'query.service_name'], query.service);
    if (query.operation) set(['query.operationName', 'query.operation_name'], query.operation);
    set(['query.startTimeMin', 'query.start_time_min'], query.startMin.toISOString());
    set(['query.startTimeMax', 'query.start_time_max'], query.startMax.toISOString());
    set(['query.searchDepth', 'query.search_depth', 'query.num_traces'], String(query.limit));
    if (query.attributes && Object.keys(query.attributes).length) params.set('query.attributes', JSON.stringify(query.attributes));
    const path = `/api/v3/traces?${params}`;
    const answer = await this.get(path, [404]);
    if (answer.status === 404) return [];
    return this.spans(answer, path);
  }

  /** The service names Jaeger has seen. */
  async services(): Promise<string[]> {
    const answer = await this.get('/api/v3/services');
    const services = (answer.body as { services?: unknown } | null)?.services;
    if (!Array.isArray(services)) {
      throw new JaegerError(`Jaeger at ${this.baseUrl} sent an unexpected answer to /api/v3/services`, this.baseUrl);
    }
    return services.filter((s): s is string => typeof s === 'string');
  }

  private spans(answer: Answer, path: string): TraceSpan[] {
    const body = answer.body as { result?: unknown; resourceSpans?: unknown } | null;
    const data = body && typeof body === 'object' && 'result' in body ? body.result : body;
    if (!Array.isArray((data as { resourceSpans?: unknown } | null)?.resourceSpans)) {
      throw new JaegerError(`Jaeger at ${this.baseUrl} sent an answer to ${path.split('?')[0]} that is not OTLP trace data`, this.baseUrl);
    }
    return spansFromOtlpJson(data);
  }

  /**
   * GET `path`; throws a JaegerError naming the URL for anything but 2xx. A status in
   * `expected` is returned instead of thrown — but only when the body is Jaeger's own error
   * JSON: a bare 404 means the URL is not a Jaeger query API at all.
   */
  private async get(path: string, expected: number[] = []): Promise<Answer> {
    const url = `${this.baseUrl}${path}`;
    let response;
    try {
      // undici is loaded on first use: `memento traces` on the local file never needs it.
      const { fetch } = await import('undici');
      response = await fetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError' || e.name === 'AbortError') {
        throw new JaegerError(`Jaeger at ${this.baseUrl} did not answer within ${this.timeoutMs / 1000} s`, this.baseUrl, { cause: err });
      }
      const reason = e.cause?.code ?? e.cause?.message ?? e.message;
      throw new JaegerError(
        `cannot reach Jaeger at ${this.baseUrl} (${reason}); is it running? (docker compose up -d jaeger)`,
        this.baseUrl,
        { cause: err },
      );
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const jaegerError = (body as { error?: { message?: unknown } } | undefined)?.error;
    if (response.ok) {
      if (body === undefined) {
        throw new JaegerError(`Jaeger at ${this.baseUrl} sent an answer to ${path.split('?')[0]} that is not JSON`, this.baseUrl);
      }
      return { status: response.status, body, text };
    }
    if (expected.includes(response.status) && jaegerError) return { status: response.status, body, text };
    if (response.status === 404 && !jaegerError) {
      throw new JaegerError(
        `${url.split('?')[0]} answered 404: no Jaeger api_v3 there (use the query service's base URL, e.g. http://localhost:16686)`,
        this.baseUrl,
      );
    }
    const detail =
      typeof jaegerError?.message === 'string' ? jaegerError.message : text.trim().slice(0, 200) || response.statusText;
    throw new JaegerError(
      `Jaeger at ${this.baseUrl} answered ${response.status} to ${path.split('?')[0]}: ${detail}`,
      this.baseUrl,
    );
  }
}
