/*
 * The one place where OpenTelemetry is set up (HotROD's pkg/tracing/init.go, the
 * OpenTelemetry Demo's preloaded SDK). `preload.ts` calls `startTelemetry` through
 * `node --import` before any application module is loaded; the rest of Memento only
 * imports `@opentelemetry/api`.
 *
 * Everything is configured by the standard OTEL_* variables (endpoint, headers, sampler,
 * resource attributes, OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER=none …); Memento adds the
 * local trace file (MEMENTO_TRACE_FILE) and, in the client, an in-memory recorder of the
 * last turns for the terminal summary and `/trace`.
 */
import { createRequire } from 'node:module';
import { createNoopMeter, diag, DiagConsoleLogger, DiagLogLevel } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
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
  SERVICE_NAME_CLIENT,
  SERVICE_NAME_SERVER,
  SERVICE_NAME_SIMULATOR,
} from './semconv.ts';
import { HttpClientSpans } from './http-client.ts';
import { TraceFileExporter, traceFileSettings } from './trace-file.ts';
import { TurnRecorder } from './turn-recorder.ts';
import { VERSION } from '../version.ts';

export type Role = 'client' | 'server' | 'simulator';

export interface Telemetry {
  readonly enabled: boolean;
  readonly role: Role;
  /** Finished spans of the client's recent turns (client role only). */
  readonly recorder: TurnRecorder | undefined;
  forceFlush(): Promise<void>;
  /** Flushes and stops; never waits longer than `deadlineMs`, even with the collector down. */
  shutdown(deadlineMs?: number): Promise<void>;
}

const SERVICE_NAMES: Record<Role, string> = {
  client: SERVICE_NAME_CLIENT,
  server: SERVICE_NAME_SERVER,
  simulator: SERVICE_NAME_SIMULATOR,
};

let current: Telemetry | undefined;

/** The running telemetry, or a disabled stand-in when none was started. */
export function telemetry(): Telemetry {
  return current ?? disabled('client');
}

/** Which role a `memento` command line runs as; undefined for commands that make no spans. */
export function roleFromArgv(args: readonly string[]): Role | undefined {
  const command = args.find((a) => !a.startsWith('-'));
  if (args.includes('--help') || args.includes('-h') || args.includes('--version') || args.includes('-V')) {
    return undefined;
  }
  switch (command) {
    case undefined:
    case 'chat':
    case 'ask':
      return 'client';
    case 'serve':
      return 'server';
    case 'simulator':
      return 'simulator';
    default:
      return undefined;
  }
}

function envFlag(name: string): boolean {
  return ['true', '1', 'yes', 'on'].includes((process.env[name] ?? '').trim().toLowerCase());
}

function envNumber(name: string, fallback: number): number {
  const n = Number(process.env[name]);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

function exporterList(name: string): string[] {
  return (process.env[name] ?? 'otlp')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

function disabled(role: Role): Telemetry {
  return {
    enabled: false,
    role,
    recorder: undefined,
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

/**
 * The batch processor's settings from the standard OTEL_BSP_* variables. NodeSDK reads them
 * only for the single processor it builds itself; Memento builds several. The queue is larger
 * than the SDK's 2048 because the processor drops spans silently when it overflows, and a
 * burst of parallel turns must not lose any.
 */
function batchOptions() {
  return {
    scheduledDelayMillis: envNumber('OTEL_BSP_SCHEDULE_DELAY', 1000),
    maxQueueSize: envNumber('OTEL_BSP_MAX_QUEUE_SIZE', 16384),
    maxExportBatchSize: envNumber('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512),
    exportTimeoutMillis: envNumber('OTEL_BSP_EXPORT_TIMEOUT', 10000),
  };
}

export interface StartOptions {
  /** Extra span processors (tests, benchmarks). */
  spanProcessors?: SpanProcessor[];
  /** Extra metric readers (tests, benchmarks). */
  metricReaders?: IMetricReader[];
}

export function startTelemetry(role: Role, options: StartOptions = {}): Telemetry {
  if (current) return current;
  if (envFlag('OTEL_SDK_DISABLED')) {
    current = disabled(role);
    return current;
  }
  try {
    current = start(role, options);
  } catch (err) {
    // Telemetry never takes the application down: a bad OTEL_* value costs the traces only.
    process.stderr.write(`memento: telemetry is off: ${(err as Error).message}\n`);
    current = disabled(role);
  }
  return current;
}

function start(role: Role, options: StartOptions): Telemetry {
  // The SDK's own diagnostics (export failures and the like) go to stderr, quietly by
  // default: a collector that is down must not fill the chat with warnings.
  if (!process.env.OTEL_LOG_LEVEL) diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.ERROR);

  const recorder = role === 'client' ? new TurnRecorder() : undefined;
  const spanProcessors: SpanProcessor[] = [];
  if (recorder) spanProcessors.push(recorder);
  if (exporterList('OTEL_TRACES_EXPORTER').includes('otlp')) {
    spanProcessors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter(), ...batchOptions() }));
  }
  const file = traceFileSettings();
  if (file && role !== 'simulator') {
    spanProcessors.push(new BatchSpanProcessor({ exporter: new TraceFileExporter(file), ...batchOptions() }));
  }
  spanProcessors.push(...(options.spanProcessors ?? []));

  const metricReaders: IMetricReader[] = [...(options.metricReaders ?? [])];
  if (exporterList('OTEL_METRICS_EXPORTER').includes('otlp')) {
    const interval = envNumber('OTEL_METRIC_EXPORT_INTERVAL', 60000);
    metricReaders.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter(),
        exportIntervalMillis: interval,
        // The reader refuses a timeout longer than its interval.
        exportTimeoutMillis: Math.min(interval, envNumber('OTEL_METRIC_EXPORT_TIMEOUT', 30000)),
      }),
    );
  }

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
      new HttpInstrumentation({
        // Health probes every few seconds would bury the traces worth reading, and an SSE
        // stream (GET /mcp, GET /sse) lives as long as its session: a span for it would be a
        // trace of its own that never belongs to a turn. The MCP requests it carries are
        // spans anyway.
        ignoreIncomingRequestHook: (req) =>
          (req.url ?? '').startsWith('/health') ||
          (req.method === 'GET' && String(req.headers.accept ?? '').includes('text/event-stream')),
        // The server makes no HTTP calls of its own besides OTLP exports.
        disableOutgoingRequestInstrumentation: true,
      }),
    );
  }

  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME, when set, wins over the role's default name.
    ...(process.env.OTEL_SERVICE_NAME ? {} : { serviceName: SERVICE_NAMES[role] }),
    resource: resourceFromAttributes({ [ATTR_SERVICE_VERSION]: VERSION }),
    // No processDetector: it records process.command_args, and `memento ask "…"` puts the
    // user's message there, which must stay off telemetry unless content capture is on.
    resourceDetectors: [envDetector, serviceInstanceIdDetector, hostDetector, osDetector],
    spanProcessors,
    metricReaders,
    instrumentations,
  });
  sdk.start();
  // The HTTP instrumentations' own request-duration histograms would repeat, per request,
  // what the GenAI and MCP duration metrics and the collector's span metrics already say,
  // at a cost on every request; their spans are what Memento wants from them.
  const noMeter = { getMeter: () => createNoopMeter() };
  for (const instrumentation of instrumentations) instrumentation.setMeterProvider(noMeter);

  if (role === 'server') {
    // instrumentation-http patches the CommonJS `http` module when it is first required;
    // ESM's `import http from 'node:http'` is that same object, so requiring it once here
    // puts the patch in place for the ESM server code as well.
    createRequire(import.meta.url)('node:http');
  }

  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    role,
    recorder,
    forceFlush: async () => {
      await Promise.allSettled(spanProcessors.map((p) => p.forceFlush()));
    },
    shutdown: (deadlineMs = 2500) => {
      stopped ??= Promise.race([
        sdk.shutdown().catch((err: unknown) => diag.error('telemetry shutdown failed', err)),
        new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref()),
      ]);
      return stopped;
    },
  };
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
