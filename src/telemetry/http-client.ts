/*
 * HTTP CLIENT spans for the requests made through undici (Azure OpenAI, the MCP server), from
 * undici's diagnostics channels — what @opentelemetry/instrumentation-undici does, with the
 * semconv HTTP client span attributes it records, at a fraction of its cost per request
 * (BENCHMARKS.md, "Tracing overhead in instructions"): no URL object or header map per
 * request, the origin parsed once, no request-duration histogram (the GenAI and MCP duration
 * metrics and the collector's span metrics already say it), and nothing at all for a request
 * that has no turn around it or whose span is not recording.
 *
 * It is an Instrumentation, so NodeSDK hands it its TracerProvider like any other.
 */
import diagnostics from 'node:diagnostics_channel';
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type MeterProvider,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { Instrumentation, InstrumentationConfig } from '@opentelemetry/instrumentation';
import { VERSION } from '../version.ts';

/** The fields of undici's internal Request that the diagnostics channels pass. */
export interface UndiciRequest {
  origin: string | URL;
  path: string;
  method: string;
  headers: string | (string | string[])[];
  addHeader?(name: string, value: string): void;
}

export interface HttpClientSpansConfig extends InstrumentationConfig {
  /** Make a span only inside a recording trace (the client: every span belongs to a turn). */
  requireParentSpan?: boolean;
  /** Requests to leave alone: no span, no propagation headers. */
  ignoreRequest?: (request: UndiciRequest) => boolean;
}

interface Origin {
  scheme: string;
  address: string;
  port: number | undefined;
}

// HTTP methods semconv knows; any other is reported as `_OTHER` with the original kept.
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE']);
const SPAN = Symbol('memento.http.span');
const CHANNELS = ['undici:request:create', 'undici:client:sendHeaders', 'undici:request:headers', 'undici:request:trailers', 'undici:request:error'] as const;

type Traced = UndiciRequest & { [SPAN]?: Span };

export class HttpClientSpans implements Instrumentation<HttpClientSpansConfig> {
  readonly instrumentationName = 'memento-http-client';
  readonly instrumentationVersion = VERSION;
  private config: HttpClientSpansConfig;
  private tracer: Tracer = trace.getTracer(this.instrumentationName, VERSION);
  // A client talks to two or three origins for its whole life: parse each once.
  private readonly origins = new Map<string, Origin>();
  private readonly handlers: ((message: unknown) => void)[] = [
    (m) => this.onCreate((m as { request: Traced }).request),
    (m) => this.onSendHeaders(m as { request: Traced; socket: { remoteAddress?: string; remotePort?: number; alpnProtocol?: string | false } }),
    (m) => this.onResponseHeaders(m as { request: Traced; response: { statusCode: number } }),
    (m) => this.onDone((m as { request: Traced }).request),
    (m) => this.onError(m as { request: Traced; error: Error & { code?: string } }),
  ];
  private enabled = false;

  constructor(config: HttpClientSpansConfig = {}) {
    this.config = config;
    if (config.enabled !== false) this.enable();
  }

  enable(): void {
    if (this.enabled) return;
    this.enabled = true;
    CHANNELS.forEach((name, i) => diagnostics.subscribe(name, this.handlers[i]!));
  }

  disable(): void {
    if (!this.enabled) return;
    this.enabled = false;
    CHANNELS.forEach((name, i) => diagnostics.unsubscribe(name, this.handlers[i]!));
  }

  setTracerProvider(provider: TracerProvider): void {
    this.tracer = provider.getTracer(this.instrumentationName, VERSION);
  }

  /** It records no metrics of its own. */
  setMeterProvider(_provider: MeterProvider): void {}

  setConfig(config: HttpClientSpansConfig): void {
    this.config = config;
  }

  getConfig(): HttpClientSpansConfig {
    return this.config;
  }

  private onCreate(request: Traced): void {
    if (request.method === 'CONNECT') return;
    const active = context.active();
    const parent = trace.getSpan(active);
    if (this.config.requireParentSpan && !(parent && trace.isSpanContextValid(parent.spanContext()))) return;
    try {
      if (this.config.ignoreRequest?.(request)) return;
    } catch {
      return;
    }
    if (parent && !parent.isRecording()) {
      // A trace that is not recorded (sampled out): no span of ours either, but the context
      // travels on, so the server does not record it as a trace of its own.
      this.inject(request, active);
      return;
    }
    const method = KNOWN_METHODS.has(request.method) ? request.method : '_OTHER';
    const span = this.tracer.startSpan(method === '_OTHER' ? 'HTTP' : method, { kind: SpanKind.CLIENT }, active);
    if (span.isRecording()) span.setAttributes(this.requestAttributes(request, method));
    this.inject(request, trace.setSpan(active, span));
    request[SPAN] = span;
  }

  /** traceparent (and baggage) on the outgoing request. */
  private inject(request: UndiciRequest, ctx: Context): void {
    const headers: Record<string, string> = {};
    propagation.inject(ctx, headers);
    for (const name in headers) addHeader(request, name, headers[name]!);
  }

  private requestAttributes(request: UndiciRequest, method: string): Attributes {
    const originText = typeof request.origin === 'string' ? request.origin : request.origin.origin;
    const origin = this.origin(originText);
    const q = request.path.indexOf('?');
    const attributes: Attributes = {
      'http.request.method': method,
      'url.full': originText + request.path,
      'url.path': q < 0 ? request.path : request.path.slice(0, q),
      'url.scheme': origin.scheme,
      'server.address': origin.address,
    };
    if (method !== request.method) attributes['http.request.method_original'] = request.method;
    if (q >= 0 && q < request.path.length - 1) attributes['url.query'] = request.path.slice(q + 1);
    if (origin.port !== undefined) attributes['server.port'] = origin.port;
    const userAgent = headerValue(request.headers, 'user-agent');
    if (userAgent !== undefined) attributes['user_agent.original'] = userAgent;
    return attributes;
  }

  private origin(text: string): Origin {
    let origin = this.origins.get(text);
    if (!origin) {
      const url = new URL(text);
      const scheme = url.protocol.slice(0, -1);
      const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : scheme === 'http' ? 80 : undefined;
      origin = { scheme, address: url.hostname.replace(/^\[|\]$/g, ''), port };
      if (this.origins.size < 64) this.origins.set(text, origin);
    }
    return origin;
  }

  private onSendHeaders({ request, socket }: { request: Traced; socket: { remoteAddress?: string; remotePort?: number; alpnProtocol?: string | false } }): void {
    const span = request[SPAN];
    if (!span?.isRecording()) return;
    const attributes: Attributes = { 'network.protocol.version': socket.alpnProtocol === 'h2' ? '2' : '1.1' };
    if (socket.remoteAddress) attributes['network.peer.address'] = socket.remoteAddress;
    if (socket.remotePort) attributes['network.peer.port'] = socket.remotePort;
    span.setAttributes(attributes);
  }

  private onResponseHeaders({ request, response }: { request: Traced; response: { statusCode: number } }): void {
    const span = request[SPAN];
    if (!span?.isRecording()) return;
    span.setAttribute('http.response.status_code', response.statusCode);
    if (response.statusCode >= 400) {
      span.setAttribute('error.type', String(response.statusCode));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
  }

  private onDone(request: Traced): void {
    const span = request[SPAN];
    if (!span) return;
    request[SPAN] = undefined;
    span.end();
  }

  private onError({ request, error }: { request: Traced; error: Error & { code?: string } }): void {
    const span = request[SPAN];
    if (!span) return;
    request[SPAN] = undefined;
    // A cancelled request is not an error.
    if (error.name !== 'AbortError' && span.isRecording()) {
      span.setAttribute('error.type', error.code || error.name || 'Error');
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    }
    span.end();
  }
}

function addHeader(request: UndiciRequest, name: string, value: string): void {
  if (typeof request.addHeader === 'function') request.addHeader(name, value);
  else if (typeof request.headers === 'string') request.headers += `${name}: ${value}\r\n`;
  else request.headers.push(name, value);
}

/** The last value of a request header (undici keeps them as [name, value, …] or raw text). */
export function headerValue(headers: UndiciRequest['headers'], name: string): string | undefined {
  let found: string | undefined;
  if (typeof headers === 'string') {
    for (const line of headers.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name) found = line.slice(colon + 1).trim();
    }
    return found;
  }
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const key = headers[i];
    if (typeof key === 'string' && key.length === name.length && key.toLowerCase() === name) {
      const value = headers[i + 1];
      found = Array.isArray(value) ? value[value.length - 1] : value;
    }
  }
  return found;
}
