/*
 * Trace context in MCP `params._meta` (MCP SEP-414; semconv mcp.md "Context propagation").
 * HTTP headers only carry the context of the HTTP request that happens to transport a
 * message; `_meta` carries the context of the MCP request itself, on every transport
 * including stdio. The client injects the context of its `tools/call` span; the server
 * extracts it as the parent of its own span.
 */
import { context, propagation, ROOT_CONTEXT, type Context } from '@opentelemetry/api';

type Meta = Record<string, unknown>;

const getter = {
  keys: (carrier: Meta) => Object.keys(carrier),
  get: (carrier: Meta, key: string) => {
    const value = carrier[key];
    return typeof value === 'string' ? value : undefined;
  },
};

/** Writes `traceparent`, `tracestate` and `baggage` of `ctx` into `meta` (in place). */
export function injectTraceContext(meta: Meta, ctx: Context = context.active()): Meta {
  propagation.inject(ctx, meta, {
    set: (carrier, key, value) => {
      carrier[key] = value;
    },
  });
  return meta;
}

/** The remote context carried in a request's `_meta`; ROOT_CONTEXT when it carries none. */
export function extractTraceContext(meta: unknown): Context {
  if (meta === null || typeof meta !== 'object') return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, meta as Meta, getter);
}
