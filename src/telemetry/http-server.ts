/*
 * The HTTP SERVER span of each request the MCP server receives: the span
 * @opentelemetry/instrumentation-http makes — same name, scope, attributes (computed by that
 * package's own functions), status, error handling, parent from the `traceparent` header,
 * and the span active while the request listener runs — without what its general-purpose
 * patch adds per request and Memento does not use: binding the request's and the response's
 * event emitters to the context (every listener Node, the body reader and the MCP SDK add to
 * them wrapped in a closure and a map), the per-request option and hook plumbing, and the
 * request-duration histogram (Memento turns it off: the MCP duration metric and the
 * collector's span metrics say it). Issue 15: that patch was the largest single cost of a
 * traced call (bench/instructions.ts; docs/server.md).
 *
 * Listeners still run in the span's context where it matters: the listener itself runs inside
 * it, and every `await` and promise continuation of the handler keeps it (AsyncLocalStorage).
 * Other callbacks on the request's or response's emitters run in the context the emitter
 * calls them from: no Memento span starts in one (the MCP span starts in the handler).
 *
 * It is an Instrumentation, so NodeSDK hands it its TracerProvider like any other.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { errorMonitor } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type MeterProvider,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { RPCType, setRPCMetadata, suppressTracing } from '@opentelemetry/core';
import type { Instrumentation, InstrumentationConfig } from '@opentelemetry/instrumentation';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The functions instrumentation-http computes its server span's attributes and status with. */
interface HttpUtils {
  getIncomingRequestAttributes(
    request: IncomingMessage,
    options: { component: string; enableSyntheticSourceDetection: boolean; hookAttributes?: Attributes; redactedQueryParams?: string[] },
    logger: { verbose(...args: unknown[]): void },
  ): Attributes;
  getIncomingRequestAttributesOnResponse(response: ServerResponse): Attributes;
  parseResponseStatus(kind: SpanKind, statusCode: number | undefined): number;
  parseErrorType(kind: SpanKind, statusCode: number | undefined): string | undefined;
  setSpanWithError(span: Span, error: Error): void;
}

// The package exports only its index; its utils sit next to it. Loading them by path keeps the
// attributes exactly instrumentation-http's (forwarded headers, query redaction, host parsing).
const requireHere = createRequire(import.meta.url);
const httpDist = dirname(requireHere.resolve('@opentelemetry/instrumentation-http'));
const utils = requireHere(join(httpDist, 'utils.cjs')) as HttpUtils;
const { version: HTTP_INSTRUMENTATION_VERSION } = requireHere(join(httpDist, '..', 'package.json')) as { version: string };
/** The scope instrumentation-http's spans carry. */
export const HTTP_SERVER_SCOPE = '@opentelemetry/instrumentation-http';
const ATTR_ERROR_TYPE = 'error.type';
const ATTR_HTTP_ROUTE = 'http.route';
const QUIET = { verbose: () => {} };

export interface HttpServerSpansConfig extends InstrumentationConfig {
  /** Requests that get no span; what they run is not traced either (instrumentation-http's option of that name). */
  ignoreIncomingRequestHook?: (request: IncomingMessage) => boolean;
}

type Emit = (this: http.Server, event: string | symbol, ...args: unknown[]) => boolean;

export class HttpServerSpans implements Instrumentation<HttpServerSpansConfig> {
  readonly instrumentationName = HTTP_SERVER_SCOPE;
  readonly instrumentationVersion = HTTP_INSTRUMENTATION_VERSION;
  private config: HttpServerSpansConfig;
  private tracer: Tracer = trace.getTracer(HTTP_SERVER_SCOPE, HTTP_INSTRUMENTATION_VERSION);
  private originals: [typeof http.Server.prototype, Emit][] = [];

  constructor(config: HttpServerSpansConfig = {}) {
    this.config = config;
    if (config.enabled !== false) this.enable();
  }

  enable(): void {
    if (this.originals.length) return;
    for (const [proto, component] of [
      [http.Server.prototype, 'http'],
      [https.Server.prototype, 'https'],
    ] as const) {
      const original = proto.emit as Emit;
      this.originals.push([proto as typeof http.Server.prototype, original]);
      const self = this;
      proto.emit = function emit(this: http.Server, event: string | symbol, ...args: unknown[]): boolean {
        if (event !== 'request') return original.call(this, event, ...args);
        return self.incoming(component, original, this, args as [IncomingMessage, ServerResponse, ...unknown[]]);
      } as typeof proto.emit;
    }
  }

  disable(): void {
    for (const [proto, original] of this.originals) proto.emit = original as typeof proto.emit;
    this.originals = [];
  }

  setTracerProvider(provider: TracerProvider): void {
    this.tracer = provider.getTracer(HTTP_SERVER_SCOPE, HTTP_INSTRUMENTATION_VERSION);
  }

  /** Its request-duration histogram is not recorded (setup.ts turns instrumentation-http's off too). */
  setMeterProvider(_provider: MeterProvider): void {}

  setConfig(config: HttpServerSpansConfig): void {
    this.config = config;
  }

  getConfig(): HttpServerSpansConfig {
    return this.config;
  }

  private incoming(component: 'http' | 'https', original: Emit, server: http.Server, args: [IncomingMessage, ServerResponse, ...unknown[]]): boolean {
    const [request, response] = args;
    let ignored = false;
    try {
      ignored = this.config.ignoreIncomingRequestHook?.(request) === true;
    } catch {
      // instrumentation-http treats a throwing hook as "ignore".
      ignored = true;
    }
    if (ignored) return context.with(suppressTracing(context.active()), () => original.call(server, 'request', ...args));

    let span: Span;
    let parent;
    try {
      const attributes = utils.getIncomingRequestAttributes(request, { component, enableSyntheticSourceDetection: false }, QUIET);
      parent = propagation.extract(ROOT_CONTEXT, request.headers);
      span = this.tracer.startSpan(request.method || 'GET', { kind: SpanKind.SERVER, attributes }, parent);
    } catch {
      // Telemetry never costs a request.
      return original.call(server, 'request', ...args);
    }
    let ended = false;
    const end = (error?: Error) => {
      if (ended) return;
      ended = true;
      try {
        if (error) {
          utils.setSpanWithError(span, error);
        } else {
          const attributes = utils.getIncomingRequestAttributesOnResponse(response);
          span.setAttributes(attributes).setStatus({ code: utils.parseResponseStatus(SpanKind.SERVER, response.statusCode) });
          const errorType = utils.parseErrorType(SpanKind.SERVER, response.statusCode);
          if (errorType !== undefined) span.setAttribute(ATTR_ERROR_TYPE, errorType);
          const route = attributes[ATTR_HTTP_ROUTE];
          if (route) span.updateName(`${request.method || 'GET'} ${route}`);
        }
      } finally {
        span.end();
      }
    };
    const active = setRPCMetadata(trace.setSpan(parent, span), { type: RPCType.HTTP, span });
    // These two run in the span's context, as instrumentation-http's do: a route set on the
    // request's RPC metadata names the span.
    response.on('close', context.bind(active, () => end()));
    response.on(errorMonitor, context.bind(active, (err: Error) => end(err)));
    return context.with(active, () => {
      try {
        return original.call(server, 'request', ...args);
      } catch (error) {
        end(error as Error);
        throw error;
      }
    });
  }
}
