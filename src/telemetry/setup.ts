/*
 * The one place where OpenTelemetry is set up, and the only module that loads the SDK
 * (HotROD's pkg/tracing/init.go, the OpenTelemetry Demo's preloaded SDK). `preload.ts`
 * imports it, only for commands that make spans, through `node --import` before any
 * application module is loaded, and it fills `handle.ts`; the rest of Memento imports only
 * `@opentelemetry/api` and that handle.
 *
 * Everything is configured by the standard OTEL_* variables (endpoint, headers, sampler,
 * resource attributes, OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER=none …); Memento adds the
 * local trace file (MEMENTO_TRACE_FILE) and, in the client, an in-memory recorder of the
 * last turns for the terminal summary and `/trace`.
 */
import { homedir } from 'node:os';
import { createNoopMeter, diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { inspect } from 'node:util';
import { setGlobalErrorHandler } from '@opentelemetry/core';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import {
  envDetector,
  hostDetector,
  osDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
} from '@opentelemetry/resources';
import {
  ATTR_SERVICE_VERSION,
  METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK,
  SERVICE_NAME_CLIENT,
  SERVICE_NAME_SERVER,
} from './semconv.ts';
import { HttpClientSpans } from './http-client.ts';
import { HttpServerSpans } from './http-server.ts';
import { OTEL_SETTINGS, setting, SETTINGS } from '../config.ts';
import { otelSetting } from './otel-env.ts';
import { log, redact } from '../log.ts';
import { OtlpJsonTraceExporter } from './otlp-json.ts';
import { redactingMetricExporter, RedactingSpanProcessor } from './redact.ts';
import { Collector, CollectorDownError, guarded, isUnreachable, otlpEndpoint } from './collector.ts';
import { TraceFileExporter, traceFileSettings, type TraceFileSettings } from './trace-file.ts';
import { TurnRecorder } from './turn-recorder.ts';
import { BatchedHistogram } from './batched-histogram.ts';
import { METER_NAME, TIME_PER_OUTPUT_CHUNK_OPTIONS, useBatchedTimePerOutputChunk } from './instruments.ts';
import { disabledTelemetry as disabled, installTelemetry, telemetry, telemetryInstalled, type Role, type Telemetry } from './handle.ts';
import { VERSION } from '../version.ts';

export type { Role, Telemetry } from './handle.ts';

const SERVICE_NAMES: Record<Role, string> = {
  client: SERVICE_NAME_CLIENT,
  server: SERVICE_NAME_SERVER,
};

/**
 * The batch processor's settings from the standard OTEL_BSP_* variables (defaults in
 * config.ts). NodeSDK reads them only for the single processor it builds itself; Memento
 * builds several.
 */
function batchOptions() {
  return {
    scheduledDelayMillis: otelSetting(OTEL_SETTINGS.bspDelay),
    maxQueueSize: otelSetting(OTEL_SETTINGS.bspQueue),
    maxExportBatchSize: otelSetting(OTEL_SETTINGS.bspBatch),
    exportTimeoutMillis: otelSetting(OTEL_SETTINGS.bspTimeout),
  };
}

function exports(which: typeof OTEL_SETTINGS.tracesExporter): boolean {
  return otelSetting(which).some((e) => e.toLowerCase() === 'otlp');
}

export interface StartOptions {
  /** Extra span processors (tests, benchmarks). */
  spanProcessors?: SpanProcessor[];
  /** Extra metric readers (tests, benchmarks). */
  metricReaders?: IMetricReader[];
}

/** Starts the SDK for `role` (once per process) and installs it in handle.ts. */
export function startTelemetry(role: Role, options: StartOptions = {}): Telemetry {
  if (telemetryInstalled()) return telemetry();
  let started: Telemetry;
  if (otelSetting(OTEL_SETTINGS.sdkDisabled)) {
    started = disabled(role);
  } else {
    try {
      started = start(role, options);
    } catch (err) {
      // Telemetry never takes the application down: a bad OTEL_* value costs the traces only.
      process.stderr.write(`memento: telemetry is off: ${(err as Error).message}\n`);
      started = disabled(role);
    }
  }
  installTelemetry(started);
  return started;
}

function start(role: Role, options: StartOptions): Telemetry {
  // The SDK's own diagnostics (export failures and the like) go to stderr, quietly by
  // default: a collector that is down must not fill the chat with warnings.
  // Through `redact`: an export error may quote the collector's URL with its credentials.
  const diagnostics = () => {
    const level = otelSetting(OTEL_SETTINGS.logLevel);
    diag.setLogger(redactingDiagLogger(), level === undefined ? DiagLogLevel.ERROR : diagLevel(String(level)));
  };
  diagnostics();

  const file = traceFileSettings();
  // One line, once, when nothing listens at the OTLP endpoint. The client hands it to the
  // command to print between turns (never over the prompt); the others log it.
  let notice: string | undefined;
  const collectors = new Map<string, Collector>();
  const collectorFor = (endpoint: string) => {
    const origin = new URL(endpoint).origin;
    let collector = collectors.get(origin);
    if (!collector) {
      collector = new Collector(origin, (at) => {
        const text = collectorNotice(at, file);
        if (role === 'client') notice = text;
        else log.info(text);
      });
      collectors.set(origin, collector);
      void collector.probe();
    }
    return collector;
  };
  // Export failures are the exporter's to retry, not the user's to read: no JSON stack traces.
  setGlobalErrorHandler((err) => {
    if (err instanceof CollectorDownError || isUnreachable(err)) return;
    log.debug('telemetry export failed', { error: err instanceof Error ? err.message : String(err) });
  });

  const recorder = role === 'client' ? new TurnRecorder() : undefined;
  // First, so that every processor after it (and every exporter) sees scrubbed spans.
  const spanProcessors: SpanProcessor[] = [new RedactingSpanProcessor()];
  if (recorder) spanProcessors.push(recorder);
  if (exports(OTEL_SETTINGS.tracesExporter)) {
    // The client exports one small batch per turn: there the OTLP/JSON body written directly
    // (otlp-json.ts) is cheaper (−0.48 M instructions per turn). A server exports batches of
    // hundreds of spans, where the SDK's serializer is the cheaper one (direct: 2.71 vs 2.17 µs
    // per span at 512; the traced server +0.14 M instructions per call with it), so it keeps it.
    const exporter = guarded(role === 'client' ? new OtlpJsonTraceExporter() : new OTLPTraceExporter(), collectorFor(otlpEndpoint('TRACES')));
    spanProcessors.push(new BatchSpanProcessor({ exporter, ...batchOptions() }));
  }
  if (file) {
    spanProcessors.push(new BatchSpanProcessor({ exporter: new TraceFileExporter(file), ...batchOptions() }));
  }
  spanProcessors.push(...(options.spanProcessors ?? []));

  const metricReaders: IMetricReader[] = [...(options.metricReaders ?? [])];
  // time_per_output_chunk, one value per streamed chunk, batched per call (batched-histogram.ts).
  const chunkGaps = new BatchedHistogram(METRIC_GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK, TIME_PER_OUTPUT_CHUNK_OPTIONS, { name: METER_NAME, version: VERSION });
  if (exports(OTEL_SETTINGS.metricsExporter)) {
    const interval = otelSetting(OTEL_SETTINGS.metricInterval);
    // The client's only: the server streams no chat.
    const producer = role === 'client' ? chunkGaps.producer() : undefined;
    const reader = new PeriodicExportingMetricReader({
      exporter: guarded(redactingMetricExporter(new OTLPMetricExporter()), collectorFor(otlpEndpoint('METRICS'))),
      exportIntervalMillis: interval,
      // The reader refuses a timeout longer than its interval.
      exportTimeoutMillis: Math.min(interval, otelSetting(OTEL_SETTINGS.metricTimeout)),
      ...(producer ? { metricProducers: [producer] } : {}),
    });
    producer?.bind(reader);
    metricReaders.push(reader);
  }
  // Every reader must take the batched histogram, or none does: a reader given by the caller
  // has no producer, and one that aggregates histograms otherwise (exponential buckets) would
  // need the SDK's aggregation. Then the SDK's histogram records each chunk.
  if (!options.metricReaders?.length && chunkGaps.usable()) useBatchedTimePerOutputChunk(chunkGaps);
  else chunkGaps.disable();

  const instrumentations: Instrumentation[] = [
    new HttpClientSpans({
      // Every client span belongs to a turn: an HTTP request made outside one (a session
      // DELETE at exit, a background reconnect) must not start a trace of its own.
      requireParentSpan: role === 'client',
      // Long-lived SSE streams (GET /mcp, GET /sse) would be spans that never end within
      // the turn that opened them; the POSTs that carry each MCP request are traced.
      ignoreRequest: (req) => req.method === 'GET' && acceptsEventStream(req.headers),
    }),
  ];
  if (role === 'server') {
    instrumentations.push(
      // instrumentation-http's server span, without its per-request emitter binding (http-server.ts).
      new HttpServerSpans({
        // Health probes every few seconds would bury the traces worth reading, and an SSE
        // stream (GET /mcp, GET /sse) lives as long as its session: a span for it would be a
        // trace of its own that never belongs to a turn. The MCP requests it carries are
        // spans anyway.
        ignoreIncomingRequestHook: (req) =>
          (req.url ?? '').startsWith('/health') ||
          (req.method === 'GET' && String(req.headers.accept ?? '').includes('text/event-stream')),
      }),
    );
  }

  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME, when set, wins over the role's default name.
    ...(otelSetting(OTEL_SETTINGS.serviceName) ? {} : { serviceName: SERVICE_NAMES[role] }),
    resource: resourceFromAttributes({ [ATTR_SERVICE_VERSION]: VERSION }),
    // No processDetector: it records process.command_args, and `memento ask "…"` puts the
    // user's message there, which must stay off telemetry unless content capture is on.
    resourceDetectors: [envDetector, serviceInstanceIdDetector, hostDetector, osDetector],
    spanProcessors,
    metricReaders,
    instrumentations,
  });
  sdk.start();
  // NodeSDK installs a console logger of its own when OTEL_LOG_LEVEL is set: ours again.
  diagnostics();
  // The HTTP spans' request-duration histograms would repeat, per request,
  // what the GenAI and MCP duration metrics and the collector's span metrics already say,
  // at a cost on every request; their spans are what Memento wants from them.
  const noMeter = { getMeter: () => createNoopMeter() };
  for (const instrumentation of instrumentations) instrumentation.setMeterProvider(noMeter);

  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    role,
    recorder,
    collectorReachable: () => collectors.size > 0 && [...collectors.values()].every((c) => c.reachable),
    takeNotice: () => {
      const text = notice;
      notice = undefined;
      return text;
    },
    forceFlush: async () => {
      await Promise.allSettled(spanProcessors.map((p) => p.forceFlush()));
    },
    shutdown: (deadlineMs = shutdownDeadlineMs()) => {
      const report = (err: unknown) => {
        // An export that found no collector is expected here: the notice said so.
        if (!(err instanceof CollectorDownError) && !isUnreachable(err)) diag.error('telemetry shutdown failed', err);
      };
      stopped ??= Promise.race([
        (async () => {
          // Every processor is flushed to its end on its own first: NodeSDK.shutdown gives up
          // at the first rejection, so the OTLP export failing at once (no collector) would let
          // the process exit before the trace file's last write landed.
          const flushed = await Promise.allSettled(spanProcessors.map((p) => p.forceFlush()));
          for (const r of flushed) if (r.status === 'rejected') report(r.reason);
          await sdk.shutdown().catch(report);
        })(),
        new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref()),
      ]);
      return stopped;
    },
  };
}

function diagLevel(raw: string): DiagLogLevel {
  const level = (DiagLogLevel as unknown as Record<string, DiagLogLevel>)[raw.trim().toUpperCase()];
  return typeof level === 'number' ? level : DiagLogLevel.INFO;
}

/** The SDK's own diagnostics, one redacted line each on stderr. */
function redactingDiagLogger(): DiagLogger {
  const write = (level: string) => (message: string, ...args: unknown[]) => {
    try {
      const rest = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : inspect(a, { depth: 2, breakLength: Infinity }))).join(' ');
      process.stderr.write(`${redact(`${level} otel: ${message}${rest ? ` ${rest}` : ''}`).replace(/\n/g, ' ')}\n`);
    } catch {
      // Diagnostics must never take the process down.
    }
  };
  return { error: write('ERROR'), warn: write('WARN'), info: write('INFO'), debug: write('DEBUG'), verbose: write('VERBOSE') };
}

/** How long exit waits for the last exports (MEMENTO_TELEMETRY_SHUTDOWN_MS): a slow collector costs no more. */
function shutdownDeadlineMs(): number {
  return setting(SETTINGS.telemetryShutdownMs);
}

function collectorNotice(endpoint: string, file: TraceFileSettings | undefined): string {
  const home = process.env.HOME || homedir();
  const where = file
    ? `traces are kept in ${file.path.startsWith(`${home}/`) ? `~${file.path.slice(home.length)}` : file.path} (memento traces list)`
    : 'traces are not kept (MEMENTO_TRACE_FILE=off)';
  return `no collector at ${endpoint}: ${where}; point OTEL_EXPORTER_OTLP_ENDPOINT at one, or set OTEL_TRACES_EXPORTER=none OTEL_METRICS_EXPORTER=none to stop exporting.`;
}

function acceptsEventStream(headers: string | (string | string[])[]): boolean {
  if (typeof headers === 'string') return /accept:[^\r\n]*text\/event-stream/i.test(headers);
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i];
    const value = headers[i + 1];
    if (typeof name === 'string' && name.toLowerCase() === 'accept' && String(value).includes('text/event-stream')) {
      return true;
    }
  }
  return false;
}
