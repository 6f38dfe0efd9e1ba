/*
 * Whether any OpenTelemetry SDK is registered in this process. With none (OTEL_SDK_DISABLED=true,
 * or a program embedding the server without one), every span the server would start is the API's no-op and every metric is
 * dropped, yet starting them still costs per call: the MCP transport decorator's attributes and
 * bookkeeping, a context per request for the HTTP peer, and a no-op span, context and
 * attribute object per storage operation and statement. The server skips that work when this
 * says so. It asks the API, not Memento's own setup, so a provider registered any other way
 * (a test's, a host's) still gets every span.
 */
import { createNoopMeter, metrics, ProxyTracerProvider, trace } from '@opentelemetry/api';

/** The API's no-op tracer provider: what an empty proxy delegates to. */
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();
const NOOP_METER = createNoopMeter();

/** True while neither a tracer provider nor a meter provider is registered. Cheap: two global lookups. */
export function telemetryOff(): boolean {
  const provider = trace.getTracerProvider();
  const tracers = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
  return tracers === NOOP_TRACER_PROVIDER && metrics.getMeterProvider().getMeter('memento-server') === NOOP_METER;
}
