/*
 * The deep link the client prints after every turn opens that turn in Jaeger's UI: the UI
 * routes trace pages as `<base path>/trace/:id` (jaeger-ui, TracePage/url.ts:
 * `ROUTE_PATH = prefixUrl('/trace/:id')`), and the id is the 32-hex trace id that OTLP and
 * the W3C `traceparent` header carry.
 */
import { describe, expect, it } from 'vitest';
import { jaegerTraceLink, jaegerUrl } from '../../src/config.ts';
import { expandCollectorEnv, hostPort, readYaml } from './stack.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
/** Jaeger UI's trace route, under an optional base path. */
const JAEGER_TRACE_ROUTE = /^(\/[^?#]*)?\/trace\/([0-9a-f]{32})$/;

/** The trace id is the second field of `version-traceid-parentid-flags`. */
function traceIdOf(traceparent: string): string {
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent.trim());
  if (!m) throw new Error(`not a traceparent: ${traceparent}`);
  return m[2] as string;
}

describe('Jaeger deep links', () => {
  it('default to the compose stack’s Jaeger UI: http://localhost:16686/trace/<trace id>', () => {
    const link = new URL(jaegerTraceLink(TRACE_ID, {}));
    expect(link.href).toBe(`http://localhost:16686/trace/${TRACE_ID}`);
    const jaeger = readYaml<{ extensions: { jaeger_query: { http: { endpoint: string } } } }>('deploy/jaeger/config.yaml');
    expect(Number(link.port)).toBe(hostPort(expandCollectorEnv(jaeger.extensions.jaeger_query.http.endpoint)).port);
  });

  it('follow MEMENTO_JAEGER_URL, base path included, without doubled slashes', () => {
    const env = { MEMENTO_JAEGER_URL: 'https://tracing.example.com/jaeger/' };
    expect(jaegerUrl(env)).toBe('https://tracing.example.com/jaeger');
    const link = new URL(jaegerTraceLink(TRACE_ID, env));
    expect(link.origin).toBe('https://tracing.example.com');
    const m = JAEGER_TRACE_ROUTE.exec(link.pathname);
    expect(m?.[1]).toBe('/jaeger');
    expect(m?.[2]).toBe(TRACE_ID);
  });

  it('match the route Jaeger’s UI serves trace pages on', () => {
    const path = new URL(jaegerTraceLink(TRACE_ID, {})).pathname;
    expect(path).toMatch(JAEGER_TRACE_ROUTE);
    expect(JAEGER_TRACE_ROUTE.exec(path)?.[1]).toBeUndefined();
  });

  it('can be built from a traceparent header captured on the wire', () => {
    const traceparent = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
    expect(jaegerTraceLink(traceIdOf(traceparent), {})).toBe(`http://localhost:16686/trace/${TRACE_ID}`);
  });
});
