/*
 * A stand-in for Jaeger v2's api_v3 HTTP gateway, answering as the real one does
 * (jaegerquery/internal/apiv3/http_gateway.go): trace data as OTLP/JSON in protobuf-JSON
 * style (int64 as strings, zero fields omitted) wrapped in {"result": …}; errors as
 * {"error": {"httpCode", "message"}} with that status; an empty search as a 404 error;
 * unknown routes as Go's plain "404 page not found".
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback } from '../helpers/otlp-jaeger.ts';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { BuiltTurn } from './fixtures.ts';
import { otlpBody } from './fixtures.ts';

/** protobuf-JSON as Go's jsonpb writes it: int64 as strings, zero-valued plain fields left out. */
function protobufJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(protobufJson);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // A set oneof member (intValue: 0, boolValue: false) is written even when zero.
      const oneof = k.endsWith('Value');
      if (!oneof && (v === 0 || v === '' || (Array.isArray(v) && v.length === 0))) continue;
      out[k] = k === 'intValue' ? String(v) : protobufJson(v);
    }
    return out;
  }
  return value;
}

export class FakeJaeger {
  readonly requests: URL[] = [];
  /** Set to answer every request with this status and a Jaeger error body. */
  failWith: number | undefined;
  private readonly turns: BuiltTurn[] = [];
  private server: Server | undefined;
  url = '';

  add(...turns: BuiltTurn[]): this {
    this.turns.push(...turns);
    return this;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.url = await listenOnLoopback(this.server);
    return this;
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push(url);
    if (this.failWith) return this.error(res, this.failWith, 'failed to query storage: backend unavailable');
    if (req.method !== 'GET') return this.notFound(res);
    if (url.pathname === '/api/v3/services') {
      const services = new Set(this.turns.flatMap((t) => [...t.client, ...t.server]).map((s) => String(s.resource.attributes['service.name'])));
      return this.json(res, { services: [...services] });
    }
    const byId = /^\/api\/v3\/traces\/([^/]+)$/.exec(url.pathname);
    if (byId) {
      const turn = this.turns.find((t) => t.traceId === byId[1]);
      if (!turn) return this.error(res, 404, 'trace not found');
      return this.traces(res, [turn]);
    }
    if (url.pathname === '/api/v3/traces') return this.find(url, res);
    return this.notFound(res);
  }

  /** Camel-case names first, the deprecated snake_case ones as fallback, like Jaeger's resolver. */
  private find(url: URL, res: ServerResponse): void {
    const param = (...names: string[]) => names.map((n) => url.searchParams.get(n)).find((v) => v) ?? '';
    const service = param('query.serviceName', 'query.service_name');
    const min = param('query.startTimeMin', 'query.start_time_min');
    const max = param('query.startTimeMax', 'query.start_time_max');
    if (!min || !max) return this.error(res, 400, 'query.startTimeMin and query.startTimeMax are required');
    const depth = Number(param('query.searchDepth', 'query.search_depth', 'query.num_traces') || 20);
    const startOf = (t: BuiltTurn) => Math.min(...t.client.map((s) => s.startTime[0] * 1000 + s.startTime[1] / 1e6));
    // query.attributes: a JSON object of strings; a trace matches when one span has them all.
    const attributes = url.searchParams.get('query.attributes');
    let wanted: Record<string, string> = {};
    try {
      if (attributes) wanted = JSON.parse(attributes) as Record<string, string>;
    } catch (err) {
      return this.error(res, 400, `malformed parameter query.attributes: ${(err as Error).message}`);
    }
    const hasAll = (t: BuiltTurn) =>
      [...t.client, ...t.server].some((s) => Object.entries(wanted).every(([k, v]) => String(s.attributes[k]) === v));
    const found = this.turns
      .filter((t) => [...t.client, ...t.server].some((s) => s.resource.attributes['service.name'] === service))
      .filter(hasAll)
      .filter((t) => startOf(t) >= Date.parse(min) && startOf(t) <= Date.parse(max))
      .sort((a, b) => startOf(b) - startOf(a))
      .slice(0, depth);
    if (found.length === 0) return this.error(res, 404, 'No traces found');
    this.traces(res, found);
  }

  private traces(res: ServerResponse, turns: BuiltTurn[]): void {
    const spans: ReadableSpan[] = turns.flatMap((t) => [...t.client, ...t.server]);
    this.json(res, { result: protobufJson(otlpBody(spans)) });
  }

  private json(res: ServerResponse, body: unknown): void {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  /** Go's http.Error: the JSON error body as text/plain, with a trailing newline. */
  private error(res: ServerResponse, status: number, message: string): void {
    res
      .writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' })
      .end(JSON.stringify({ error: { httpCode: status, message } }) + '\n');
  }

  private notFound(res: ServerResponse): void {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
  }
}
