/*
 * What the stack tests share: the running stack (from the global setup), Jaeger's and
 * Prometheus' HTTP APIs, and `memento` turns that export to the real collector while also
 * writing the local trace file, so each test can compare what came out of the pipeline with
 * what went in.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { spansFromOtlpJson, type TraceSpan } from '../../src/traces/model.ts';
import { readTraceFile } from '../../src/traces/file.ts';
import { runMemento, type RunResult } from '../helpers/memento.ts';
import { waitFor as sharedWaitFor } from '../helpers/wait.ts';
import { collectorEnv, startProgram, stopProgram, type StackState } from '../../scripts/stack/run.ts';
import { BASE_COLLECTOR_ENV } from './settings.ts';

/**
 * The stack as it is now: read from its state file rather than from the setup's snapshot,
 * because a test file may have restarted a program (new pid) before this one runs.
 */
export function stack(): StackState {
  const dir = inject('stack').dir;
  return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as StackState;
}

/**
 * Stops the collector and starts it again with the base test settings plus `extra` (which
 * replace, not add to, what a previous restart set); waits until it is healthy.
 */
export async function restartCollector(extra: Record<string, string> = {}): Promise<void> {
  const state = stack();
  await stopProgram(state, 'collector');
  state.processes.collector.env = collectorEnv(state.ports, { ...BASE_COLLECTOR_ENV, ...extra });
  await startProgram(state, 'collector');
}

/** The shared waiter (test/helpers/wait.ts), polling every 250 ms: the stack's programs answer in seconds. */
export function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  return sharedWaitFor(what, probe, { timeoutMs, intervalMs: 250 });
}

export async function getJson(url: string): Promise<{ status: number; text: string; body: any }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, text, body };
}

export interface JaegerTrace {
  /** The raw answer of /api/v3/traces/{id}, for byte searches. */
  text: string;
  spans: TraceSpan[];
}

/** One trace from Jaeger's API v3; undefined while Jaeger does not have it. */
export async function jaegerTrace(traceId: string, state = stack()): Promise<JaegerTrace | undefined> {
  const { status, text, body } = await getJson(`${state.urls.jaeger}/api/v3/traces/${traceId}`);
  if (status === 404) return undefined;
  if (status !== 200) throw new Error(`Jaeger answered ${status}: ${text.slice(0, 300)}`);
  return { text, spans: spansFromOtlpJson(body.result ?? body) };
}

/** Waits until Jaeger holds at least `spans` spans of the trace (and no more arrive for a moment). */
export async function waitForTrace(traceId: string, spans: number, timeoutMs = 60_000): Promise<JaegerTrace> {
  return waitFor(`trace ${traceId} with ${spans} spans in Jaeger`, async () => {
    const t = await jaegerTrace(traceId);
    return t && t.spans.length >= spans ? t : undefined;
  }, timeoutMs);
}

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

/** An instant PromQL query against the stack's Prometheus. */
export async function promQuery(expr: string, state = stack()): Promise<PromSample[]> {
  const { status, body, text } = await getJson(`${state.urls.prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`);
  if (status !== 200 || body?.status !== 'success') throw new Error(`Prometheus answered ${status} to ${expr}: ${text.slice(0, 300)}`);
  return (body.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
    metric: r.metric,
    value: Number(r.value[1]),
  }));
}

/** Secrets the turns use, unique per test run, so a search for their bytes means something. */
export function secrets(): { apiKey: string; mcpToken: string } {
  return {
    apiKey: `sk-stacktest${randomBytes(16).toString('hex')}`,
    mcpToken: `mcp-stacktest-${randomBytes(16).toString('hex')}`,
  };
}

/** The environment of a `memento` that exports to the stack's collector and writes `traceFile`. */
export function telemetryEnv(traceFile: string, extra: Record<string, string | undefined> = {}, state = stack()): Record<string, string | undefined> {
  return {
    OTEL_SDK_DISABLED: 'false',
    OTEL_EXPORTER_OTLP_ENDPOINT: state.urls.otlpHttp,
    MEMENTO_TRACE_FILE: traceFile,
    MEMENTO_JAEGER_URL: state.urls.jaeger,
    ...extra,
  };
}

export interface AskResult extends RunResult {
  traceId: string;
  json: { answer?: string; traceId?: string; durationMs?: number };
}

/** `memento ask --json TEXT`; fails the test with the output when it does not print a trace id. */
export async function ask(text: string, env: Record<string, string | undefined>, options: { expectFailure?: boolean } = {}): Promise<AskResult> {
  const result = await runMemento(['ask', '--json', text], { env, timeoutMs: 60_000 });
  let json: AskResult['json'] = {};
  try {
    json = JSON.parse(result.stdout) as AskResult['json'];
  } catch {
    // A failed turn may print no JSON; its trace id is then on stderr.
  }
  const traceId = json.traceId ?? /trace ([0-9a-f]{32})/.exec(result.stderr + result.stdout)?.[1];
  if (!options.expectFailure && result.code !== 0) {
    throw new Error(`memento ask exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
  }
  if (!traceId) throw new Error(`memento ask printed no trace id:\n${result.stdout}\n${result.stderr}`);
  return { ...result, traceId, json };
}

/** The spans of one trace in the local trace file. */
export async function fileTrace(traceFile: string, traceId: string): Promise<TraceSpan[]> {
  const file = await readTraceFile(traceFile);
  return file.spans.filter((s) => s.traceId === traceId);
}

/** A span as a comparable record: everything the tree and its attributes consist of. */
export function spanShape(s: TraceSpan): Record<string, unknown> {
  return {
    spanId: s.spanId,
    parentSpanId: s.parentSpanId ?? '',
    name: s.name,
    kind: s.kind,
    service: s.service,
    status: s.status,
    attributes: s.attributes,
  };
}

export function byId(spans: TraceSpan[]): TraceSpan[] {
  return [...spans].sort((a, b) => a.spanId.localeCompare(b.spanId));
}

export function tempFile(dir: string, name: string): string {
  return join(dir, name);
}
