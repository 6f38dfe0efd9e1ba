/*
 * One Memento client, warm, running turns on request and reporting the CPU they cost. Its
 * tracing is one of:
 *
 *   off      OTEL_SDK_DISABLED=true: what the turn costs with no tracing at all.
 *   memento  Memento's real setup (startTelemetry('client'), as `memento chat` preloads it):
 *            NodeSDK, OTLP span and metric exporters to the collector, its own HTTP client
 *            spans (src/telemetry/http-client.ts, undici's diagnostics channels),
 *            Memento's own GenAI/MCP spans and metrics, the turn recorder; trace file per
 *            MEMENTO_TRACE_FILE.
 *   peer     The only public instrumentation that covers openai 7: OpenInference's OpenAI
 *            instrumentation plus instrumentation-undici, on NodeSDK with the same OTLP span
 *            exporter and batch settings, and Memento's own tracers handed a no-op (so the
 *            same turn loop is traced by the peer instead of by Memento).
 *
 * The mode is fixed for the life of the process: a NodeSDK cannot be swapped out in place.
 * argv: <mode>; env: AZURE_OPENAI_ENDPOINT (the simulator), MEMENTO_MCP_URL, OTEL_*.
 */
import { trace, ProxyTracerProvider, type Tracer, type TracerProvider } from '@opentelemetry/api';

const mode = process.argv[2] ?? 'off';
let flush: () => Promise<void> = async () => {};

if (mode === 'peer') {
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace');
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const { UndiciInstrumentation } = await import('@opentelemetry/instrumentation-undici');
  const { OpenAIInstrumentation } = await import('@arizeai/openinference-instrumentation-openai');
  const { envDetector, hostDetector, osDetector, serviceInstanceIdDetector } = await import('@opentelemetry/resources');
  const openaiInstrumentation = new OpenAIInstrumentation();
  const processor = new BatchSpanProcessor({
    exporter: new OTLPTraceExporter(),
    // Memento's batch settings (src/telemetry/setup.ts), so only the instrumentation differs.
    scheduledDelayMillis: 1000,
    maxQueueSize: 16384,
    maxExportBatchSize: 512,
  });
  const sdk = new NodeSDK({
    serviceName: 'peer-client',
    resourceDetectors: [envDetector, serviceInstanceIdDetector, hostDetector, osDetector],
    spanProcessors: [processor],
    instrumentations: [openaiInstrumentation, new UndiciInstrumentation()],
  });
  sdk.start();
  // openai is loaded as ESM here, which require-in-the-middle never sees: the instrumentation
  // documents manuallyInstrument for exactly this case.
  openaiInstrumentation.manuallyInstrument((await import('openai')).default);
  // Memento's code asks the global API for tracers named memento-*; hand those a no-op so that
  // only the peer's spans are made. Instrumentations hold the SDK's provider directly.
  const global = trace.getTracerProvider();
  const sdkProvider = global instanceof ProxyTracerProvider ? global.getDelegate() : global;
  const noop = new ProxyTracerProvider().getTracer('noop');
  const filtering: TracerProvider = {
    getTracer: (name, version, options): Tracer => (name.startsWith('memento-') ? noop : sdkProvider.getTracer(name, version, options)),
  };
  trace.disable();
  trace.setGlobalTracerProvider(filtering);
  flush = () => processor.forceFlush();
} else {
  // `off` goes through the same call: with OTEL_SDK_DISABLED=true it installs nothing.
  const { startTelemetry } = await import('../../src/telemetry/setup.ts');
  const telemetry = startTelemetry('client');
  if (telemetry.enabled !== (mode !== 'off')) throw new Error(`mode ${mode} but telemetry enabled=${telemetry.enabled}`);
  flush = () => telemetry.forceFlush();
}

const { Session } = await import('../../src/client/session.ts');
const { cpuMicros, processHandlers, serveParent } = await import('../lib/child.ts');

const session = await Session.open();
// argv[3]: a user of its own, when several workers of one mode share a server.
const user = `bench-${process.argv[3] ?? mode}`;
let turnNumber = 0;

/*
 * Even turns store a memory, odd turns search; each turn is intent → one tool call → summary.
 * Every turn must cost the same however many turns ran before — the untraced client runs more
 * rounds than the others — so stored notes use words no search asks for, and every search
 * finds the same few notes stored at start-up.
 */
const SEARCHED = 'offsite';
const FOUND = 5;
function nextMessage(): string {
  const i = turnNumber++;
  if (i < 2 * FOUND) {
    return i % 2 === 0 ? `store this: ${SEARCHED} planning, item ${i}: agenda, venue and travel` : `store this: routine log entry ${i}`;
  }
  if (i % 2 === 0) return `store this: routine log entry ${i}, ${(i * 2654435761 >>> 0).toString(36)}`;
  return `what do I have about ${SEARCHED}`;
}

/**
 * `flushEach`: export after every turn, as an interactive client does (a real turn lasts
 * longer than the batch delay, so each turn's spans leave in an export of their own); the
 * instruction-count benchmark runs with it, since timers under valgrind fire ~50× too often.
 */
async function turns(args: { n: number; flushEach?: boolean }) {
  let failures = 0;
  let toolCalls = 0;
  let chatCalls = 0;
  // Why turns failed (the first few): a failed turn does other work, so a count with one is void.
  const why: string[] = [];
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  for (let i = 0; i < args.n; i++) {
    const result = await session.agent.runTurn(nextMessage(), { user });
    // What `memento chat` prints after every turn (cli/render.ts footer): the split of its
    // time and the trace's self-check, which the result computes only when read.
    void result.phases;
    void result.selfCheck;
    // A long conversation would make every later turn bigger; each turn starts afresh.
    session.agent.history.clear(user);
    if (args.flushEach) await flush();
    if (!result.ok || result.toolCalls !== 1) {
      failures++;
      if (why.length < 5) why.push(result.error ? `${result.error.type}: ${result.error.message}` : `${result.toolCalls} tool calls (${result.tools.map((t) => `${t.name}${t.ok ? '' : ` ${t.errorType}`}`).join(', ')})`);
    }
    toolCalls += result.toolCalls;
    chatCalls += result.chatCalls;
  }
  return { n: args.n, cpuUs: cpuMicros() - cpu0, wallMs: performance.now() - t0, failures, why, toolCalls, chatCalls };
}

// `gc` (under --expose-gc): the instruction-count benchmark starts every window from a
// collected heap, so no variant pays for garbage made before its window opened.
const gc = () => (globalThis as { gc?: () => void }).gc?.();
serveParent({ ...processHandlers(), turns, flush: () => flush(), gc }, { mode });
