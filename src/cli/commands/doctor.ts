/*
 * `memento doctor`: the whole path, end to end, as a checklist with an exit status. Each
 * check says what it found or what failed and where to look:
 *
 *   model endpoint   reachable and answering a one-line request (no tools)
 *   MCP server       connects and lists its tools
 *   OTLP endpoint    accepts an (empty) trace export
 *   test turn        one read-only turn ("what did I store?") whose own trace is whole
 *   Jaeger           has that turn's trace, server spans included (api_v3)   [--jaeger / MEMENTO_JAEGER_URL]
 *   Prometheus       has span metrics for the client's turns                 [--prometheus / MEMENTO_PROMETHEUS_URL]
 *
 * The checks before the test turn run with tracing suppressed, so that every client trace is
 * still a turn. Exit 0 when nothing failed (skipped checks are not failures), 1 otherwise.
 */
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { fetch } from 'undici';
import { defaultUser, OTEL_SETTINGS, setting, SETTINGS } from '../../config.ts';
import { otelSetting } from '../../telemetry/otel-env.ts';
import { ConfigError } from '../../client/errors.ts';
import { Session } from '../../client/session.ts';
import { SERVICE_NAME_CLIENT, SERVICE_NAME_SERVER } from '../../telemetry/semconv.ts';
import { telemetry } from '../../telemetry/handle.ts';
import { JaegerClient } from '../../traces/jaeger.ts';
import { CliError, EXIT } from '../errors.ts';

export interface DoctorOptions {
  user?: string;
  jaeger?: string;
  prometheus?: string;
  json?: boolean;
  /** How long to wait for the test turn to reach Jaeger and Prometheus. */
  waitMs?: number;
}

export type CheckStatus = 'ok' | 'failed' | 'skipped';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
}

const MARK: Record<CheckStatus, string> = { ok: '✓', failed: '✗', skipped: '–' };

const reason = (err: unknown): string => {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
};

/** The URL the OTLP/HTTP trace exporter posts to, from the standard variables (settings table). */
export function otlpTracesUrl(): string {
  return otelSetting(OTEL_SETTINGS.tracesEndpoint) ?? `${otelSetting(OTEL_SETTINGS.endpoint).replace(/\/+$/, '')}/v1/traces`;
}

async function until<T>(deadline: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  for (;;) {
    const found = await probe().catch(() => undefined);
    if (found !== undefined || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function doctor(opts: DoctorOptions): Promise<number> {
  const checks: Check[] = [];
  const add = (c: Check) => {
    checks.push(c);
    if (!opts.json) process.stdout.write(`${MARK[c.status]} ${c.name.padEnd(15)} ${c.detail}\n`);
  };
  const waitMs = opts.waitMs ?? 30_000;
  const user = opts.user ?? defaultUser();
  let session: Session;
  try {
    session = await Session.open();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }

  try {
    const quiet = suppressTracing(context.active());
    const target = session.model.target;
    const where = `${target.provider} ${target.model} at ${target.address}:${target.port}`;
    let modelOk = false;
    try {
      const started = performance.now();
      const answer = await context.with(quiet, () =>
        session.model.chat({ messages: [{ role: 'user', content: 'Reply with the single word OK.' }], tools: [], signal: AbortSignal.timeout(30_000) }),
      );
      modelOk = true;
      add({ name: 'model endpoint', status: 'ok', detail: `${where} answered in ${Math.round(performance.now() - started)} ms (${answer.model ?? 'model not named'})` });
    } catch (err) {
      add({ name: 'model endpoint', status: 'failed', detail: `${where}: ${reason(err)}` });
    }

    let mcpOk = false;
    try {
      const names = await context.with(quiet, () => session.mcp.toolNames());
      mcpOk = names.size > 0;
      add({
        name: 'MCP server',
        status: mcpOk ? 'ok' : 'failed',
        detail: `${names.size} tools from ${session.mcp.describe()}${names.size ? `: ${[...names].join(', ')}` : ''}`,
      });
    } catch (err) {
      add({ name: 'MCP server', status: 'failed', detail: `${session.mcp.describe()}: ${reason(err)}` });
    }

    const tracing = telemetry().enabled;
    const otlpUrl = otlpTracesUrl();
    const exporting = tracing && otelSetting(OTEL_SETTINGS.tracesExporter).some((e) => e.toLowerCase() === 'otlp');
    let otlpOk = false;
    if (!exporting) {
      add({ name: 'OTLP endpoint', status: 'skipped', detail: tracing ? 'OTEL_TRACES_EXPORTER does not include otlp' : 'tracing is off (OTEL_SDK_DISABLED)' });
    } else {
      try {
        const response = await fetch(otlpUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ resourceSpans: [] }),
          signal: AbortSignal.timeout(10_000),
        });
        await response.text();
        otlpOk = response.ok;
        add({ name: 'OTLP endpoint', status: otlpOk ? 'ok' : 'failed', detail: `${otlpUrl} answered ${response.status} to an empty export` });
      } catch (err) {
        add({ name: 'OTLP endpoint', status: 'failed', detail: `${otlpUrl}: ${reason(err)} — is the collector running? (docker compose up -d collector)` });
      }
    }

    let traceId: string | undefined;
    if (!modelOk || !mcpOk) {
      add({ name: 'test turn', status: 'skipped', detail: 'needs the model endpoint and the MCP server' });
    } else {
      const result = await session.agent.runTurn('what did I store?', { user });
      traceId = result.traceId;
      const check = result.selfCheck;
      const problems = check?.problems.map((p) => `${p.missing} (${p.cause})`) ?? [];
      const ok = result.ok && (!check || check.ok);
      add({
        name: 'test turn',
        status: ok ? 'ok' : 'failed',
        detail: !result.ok
          ? `failed: ${result.error?.message ?? 'unknown error'}`
          : `trace ${traceId ?? '(tracing off)'} in ${Math.round(result.durationMs)} ms` +
            (check ? (check.ok ? `; its trace is whole (${check.found.chatSpans} chat spans, ${check.found.serverSpansJoined} server span${check.found.serverSpansJoined === 1 ? '' : 's'} joined)` : `; its trace is missing: ${problems.join('; ')}`) : ''),
      });
    }
    // The turn's spans go out now, the server's when its connection closes.
    await session.close();
    await telemetry().forceFlush();

    // Only a Jaeger named on purpose: the table's default is a guess this check must not make.
    const jaegerUrl = opts.jaeger ?? (process.env[SETTINGS.jaegerUrl.name]?.trim() ? setting(SETTINGS.jaegerUrl) : undefined);
    if (!jaegerUrl) add({ name: 'Jaeger', status: 'skipped', detail: 'no --jaeger URL or MEMENTO_JAEGER_URL' });
    else if (!traceId || !otlpOk) add({ name: 'Jaeger', status: 'skipped', detail: 'needs a traced test turn exported over OTLP' });
    else {
      const jaeger = new JaegerClient(jaegerUrl);
      const deadline = Date.now() + waitMs;
      let last = '';
      const spans = await until(deadline, async () => {
        try {
          const got = await jaeger.getTrace(traceId!);
          // Both sides: the server exports its spans on its own schedule.
          const services = new Set(got.map((s) => s.service));
          return services.has(SERVICE_NAME_CLIENT) && services.has(SERVICE_NAME_SERVER) ? got : undefined;
        } catch (err) {
          last = reason(err);
          return undefined;
        }
      });
      add(
        spans
          ? { name: 'Jaeger', status: 'ok', detail: `${jaegerUrl}/trace/${traceId} has the turn: ${spans.length} spans from ${SERVICE_NAME_CLIENT} and ${SERVICE_NAME_SERVER}` }
          : { name: 'Jaeger', status: 'failed', detail: `${jaegerUrl} has no whole trace ${traceId} after ${waitMs / 1000} s${last ? ` (${last})` : ''}: is the collector exporting to it?` },
      );
    }

    const promUrl = (opts.prometheus ?? setting(SETTINGS.prometheusUrl))?.replace(/\/+$/, '');
    if (!promUrl) add({ name: 'Prometheus', status: 'skipped', detail: 'no --prometheus URL or MEMENTO_PROMETHEUS_URL' });
    else if (!traceId || !otlpOk) add({ name: 'Prometheus', status: 'skipped', detail: 'needs a traced test turn exported over OTLP' });
    else {
      const query = `traces_span_metrics_calls_total{service_name="${SERVICE_NAME_CLIENT}",span_name="invoke_agent memento"}`;
      const url = `${promUrl}/api/v1/query?query=${encodeURIComponent(query)}`;
      let last = '';
      const count = await until(Date.now() + waitMs, async () => {
        try {
          const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
          const body = (await response.json()) as { status?: string; data?: { result?: { value?: [number, string] }[] } };
          if (body.status !== 'success') {
            last = `answered ${response.status}`;
            return undefined;
          }
          const total = (body.data?.result ?? []).reduce((n, r) => n + Number(r.value?.[1] ?? 0), 0);
          return total > 0 ? total : undefined;
        } catch (err) {
          last = reason(err);
          return undefined;
        }
      });
      add(
        count !== undefined
          ? { name: 'Prometheus', status: 'ok', detail: `${promUrl} has span metrics for ${count} memento-client turn${count === 1 ? '' : 's'}` }
          : { name: 'Prometheus', status: 'failed', detail: `${promUrl} has no ${query} after ${waitMs / 1000} s${last ? ` (${last})` : ''}: does it scrape the collector's prometheus exporter?` },
      );
    }
  } finally {
    await session.close();
  }

  const failed = checks.filter((c) => c.status === 'failed').length;
  if (opts.json) process.stdout.write(`${JSON.stringify({ ok: failed === 0, checks }, null, 2)}\n`);
  else process.stdout.write(failed ? `${failed} check${failed === 1 ? '' : 's'} failed\n` : 'all checks passed\n');
  return failed ? EXIT.failed : EXIT.ok;
}
