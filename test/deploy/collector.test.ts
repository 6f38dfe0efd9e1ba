/*
 * otel-collector.yaml without a collector: the pipelines are wired to components that
 * exist, span metrics see every span before anything could sample, and the redaction
 * patterns drop what docs/design.md says must never be stored while keeping what the alerts and
 * Jaeger need. The patterns are run here as written in the file.
 */
import { describe, expect, it } from 'vitest';
import * as semconv from '../../src/telemetry/semconv.ts';
import { OTEL_SETTINGS } from '../../src/config.ts';
import {
  collectorConfig,
  componentType,
  durationMs,
  spanMetricsConnector,
  type CollectorConfig,
} from './span-metrics.ts';
import { dig, expandCollectorEnv, hostPort, isEnvWithDefaults, readText } from './stack.ts';

const config = collectorConfig();
const pipelines = Object.entries(config.service.pipelines);
const signal = (pipelineId: string) => componentType(pipelineId);

/** Component types of the contrib distribution this config may use, by current name. */
const CURRENT_TYPES = {
  receivers: ['otlp'],
  processors: ['memory_limiter', 'transform', 'redaction', 'batch', 'tail_sampling', 'probabilistic_sampler'],
  exporters: ['otlp_grpc', 'otlp_http', 'prometheus', 'prometheus_remote_write', 'debug'],
  connectors: ['span_metrics', 'forward'],
  extensions: ['health_check'],
};
/** Names that still load but are deprecated aliases (lower_snake_case renames) or gone. */
const DEPRECATED_TYPES = ['spanmetrics', 'otlp/exporter', 'otlphttp', 'logging', 'prometheusremotewrite'];

describe('otel-collector.yaml: components', () => {
  it('opens with a comment saying what the collector adds', () => {
    const lines = readText('otel-collector.yaml').split('\n');
    const head = lines.slice(0, lines.findIndex((l) => l.trim() !== '' && !l.startsWith('#'))).join('\n');
    expect(head).toMatch(/What it adds/i);
    expect(head).toMatch(/span metrics|span_metrics/i);
  });

  it('uses only current component type names of the contrib distribution', () => {
    for (const [section, allowed] of Object.entries(CURRENT_TYPES)) {
      for (const id of Object.keys(config[section as keyof typeof CURRENT_TYPES] ?? {})) {
        const type = componentType(id);
        expect(allowed, `${section}.${id}`).toContain(type);
        const alias = section === 'exporters' && type === 'otlp' ? 'otlp/exporter' : type;
        expect(DEPRECATED_TYPES, `${section}.${id}`).not.toContain(alias);
      }
    }
  });

  it('defines every component a pipeline names', () => {
    const receivers = new Set([...Object.keys(config.receivers ?? {}), ...Object.keys(config.connectors ?? {})]);
    const processors = new Set(Object.keys(config.processors ?? {}));
    const exporters = new Set([...Object.keys(config.exporters ?? {}), ...Object.keys(config.connectors ?? {})]);
    for (const [id, p] of pipelines) {
      expect(['traces', 'metrics', 'logs'], id).toContain(signal(id));
      expect(p.receivers?.length, `${id} has receivers`).toBeGreaterThan(0);
      expect(p.exporters?.length, `${id} has exporters`).toBeGreaterThan(0);
      for (const r of p.receivers ?? []) expect(receivers, `${id} receiver ${r}`).toContain(r);
      for (const x of p.processors ?? []) expect(processors, `${id} processor ${x}`).toContain(x);
      for (const e of p.exporters ?? []) expect(exporters, `${id} exporter ${e}`).toContain(e);
    }
    for (const e of config.service.extensions ?? []) expect(Object.keys(config.extensions ?? {})).toContain(e);
  });

  it('uses every component it defines, and each connector on both of its sides', () => {
    const used = (list: 'receivers' | 'processors' | 'exporters') => new Set(pipelines.flatMap(([, p]) => p[list] ?? []));
    for (const id of Object.keys(config.receivers ?? {})) expect(used('receivers'), `receiver ${id}`).toContain(id);
    for (const id of Object.keys(config.processors ?? {})) expect(used('processors'), `processor ${id}`).toContain(id);
    for (const id of Object.keys(config.exporters ?? {})) expect(used('exporters'), `exporter ${id}`).toContain(id);
    for (const id of Object.keys(config.extensions ?? {})) expect(config.service.extensions, `extension ${id}`).toContain(id);
    for (const id of Object.keys(config.connectors ?? {})) {
      expect(used('exporters'), `connector ${id} as an exporter`).toContain(id);
      expect(used('receivers'), `connector ${id} as a receiver`).toContain(id);
    }
  });

  it('writes every endpoint as ${env:NAME:-default}', () => {
    const endpoints = findEndpoints(config);
    expect(endpoints.length).toBeGreaterThanOrEqual(5);
    for (const [path, value] of endpoints) expect(isEnvWithDefaults(value), `${path}: ${value}`).toBe(true);
  });

  it('receives OTLP on 0.0.0.0:4317 (gRPC) and 0.0.0.0:4318 (HTTP) by default', () => {
    expect(expandCollectorEnv(otlpEndpoint('grpc'))).toBe('0.0.0.0:4317');
    expect(expandCollectorEnv(otlpEndpoint('http'))).toBe('0.0.0.0:4318');
  });

  it('puts memory_limiter first wherever data enters from outside', () => {
    for (const [id, p] of pipelines) {
      if (!(p.receivers ?? []).some((r) => r in (config.receivers ?? {}))) continue;
      expect(p.processors?.[0], id).toBe('memory_limiter');
    }
  });

  it('batches before sending to Jaeger, in the exporter', () => {
    const jaeger = jaegerExporter();
    const queue = (config.exporters?.[jaeger] ?? {}) as { sending_queue?: { batch?: unknown } };
    expect(queue.sending_queue?.batch, `${jaeger}.sending_queue.batch`).toBeTruthy();
  });
});

describe('otel-collector.yaml: span metrics count every span', () => {
  const connector = spanMetricsConnector(config);

  it('records durations in ms, in buckets from 50 ms to 60 s', () => {
    expect(connector.unit).toBe('ms');
    expect(connector.bucketsMs[0]).toBe(50);
    expect(connector.bucketsMs.at(-1)).toBe(60_000);
    expect([...connector.bucketsMs].sort((a, b) => a - b)).toEqual(connector.bucketsMs);
    expect(new Set(connector.bucketsMs).size).toBe(connector.bucketsMs.length);
    expect(durationMs('7500ms')).toBe(7500);
  });

  it("adds exactly the model, the tool and Memento's phase as dimensions", () => {
    expect(connector.dimensions).toEqual([
      semconv.ATTR_GEN_AI_REQUEST_MODEL,
      semconv.ATTR_GEN_AI_TOOL_NAME,
      semconv.ATTR_MEMENTO_PHASE,
    ]);
  });

  it('takes span metrics from the OTLP intake, upstream of any sampler, and still reaches Jaeger', () => {
    const traces = pipelines.filter(([id]) => signal(id) === 'traces');
    const intake = traces.filter(([, p]) => p.receivers?.includes('otlp'));
    expect(intake.length).toBeGreaterThan(0);
    for (const [id, p] of intake) {
      expect(p.exporters, `${id} feeds span metrics`).toContain(connector.id);
      expect(samplers(p.processors), `${id} samples nothing`).toEqual([]);
      // Whatever the intake hands on must reach Jaeger, through connectors if need be.
      expect(reachesJaeger(config, id), `${id} reaches Jaeger`).toBe(true);
    }
    // A pipeline that receives from span_metrics is a metrics pipeline ending in Prometheus.
    const fed = pipelines.filter(([, p]) => p.receivers?.includes(connector.id));
    expect(fed.length).toBeGreaterThan(0);
    for (const [id, p] of fed) {
      expect(signal(id)).toBe('metrics');
      expect(p.exporters?.map(componentType)).toContain('prometheus');
    }
  });

  it('sends to Jaeger from a pipeline fed by a connector, where sampling can be added', () => {
    const jaeger = jaegerExporter();
    const exportPipelines = pipelines.filter(([, p]) => p.exporters?.includes(jaeger));
    expect(exportPipelines.length).toBe(1);
    const [, p] = exportPipelines[0]!;
    expect(p.receivers?.every((r) => componentType(r) === 'forward')).toBe(true);
  });

  it('sends the SDKs’ OTLP metrics to Prometheus too', () => {
    const metrics = pipelines.filter(([id, p]) => signal(id) === 'metrics' && p.receivers?.includes('otlp'));
    expect(metrics.flatMap(([, p]) => p.exporters ?? []).map(componentType)).toContain('prometheus');
  });
});

describe('otel-collector.yaml: per-service span metrics and tail sampling', () => {
  it('keys span metrics by service, and drops the first process’s instance id before Prometheus', () => {
    const connector = config.connectors?.[spanMetricsConnector(config).id] as { resource_metrics_key_attributes?: string[] };
    expect(connector.resource_metrics_key_attributes).toEqual(['service.name']);
    const fed = pipelines.filter(([, p]) => p.receivers?.includes(spanMetricsConnector(config).id));
    for (const [id, p] of fed) {
      const statements = (p.processors ?? []).flatMap((x) => {
        const t = config.processors?.[x] as { metric_statements?: { statements: string[] }[] } | undefined;
        return (t?.metric_statements ?? []).flatMap((g) => g.statements);
      });
      expect(statements, id).toContain('delete_key(resource.attributes, "service.instance.id")');
      expect(p.receivers, `${id} takes only span metrics, not the SDKs' per-process metrics`).toEqual([spanMetricsConnector(config).id]);
    }
  });

  it('samples only in the export pipeline: errors, slow traces, and a share of the rest', () => {
    const exportPipeline = pipelines.find(([, p]) => p.exporters?.includes(jaegerExporter()))!;
    expect(samplers(exportPipeline[1].processors)).toEqual(['tail_sampling']);
    const ts = config.processors?.tail_sampling as { decision_wait: string; policies: { type: string; [k: string]: unknown }[] };
    expect(ts.policies.map((p) => p.type)).toEqual(['status_code', 'latency', 'probabilistic']);
    expect(ts.policies[0]).toMatchObject({ status_code: { status_codes: ['ERROR'] } });
    expect(expandCollectorEnv(String(dig(ts.policies[1], 'latency.threshold_ms')))).toBe('2000');
    expect(expandCollectorEnv(String(dig(ts.policies[2], 'probabilistic.sampling_percentage')))).toBe('10');
    // Longer than the slowest turn the latency policy must judge: three MementoSlowTurns thresholds.
    expect(durationMs(expandCollectorEnv(ts.decision_wait))).toBeGreaterThanOrEqual(30_000);
  });
});

describe('otel-collector.yaml: redaction', () => {
  const statements = transformStatements();
  const secretRules = statements.filter((s) => !s.condition);
  const contentRules = statements.filter((s) => s.condition);
  const captureVariable = OTEL_SETTINGS.captureContent.name;

  /** Every attribute name Memento's code records on purpose (semconv.ts). */
  const recorded = Object.entries(semconv)
    .filter(([k, v]) => k.startsWith('ATTR_') && typeof v === 'string')
    .map(([, v]) => v as string);
  const contentKeys: string[] = [
    semconv.ATTR_GEN_AI_INPUT_MESSAGES,
    semconv.ATTR_GEN_AI_OUTPUT_MESSAGES,
    semconv.ATTR_GEN_AI_SYSTEM_INSTRUCTIONS,
    semconv.ATTR_GEN_AI_TOOL_CALL_ARGUMENTS,
    semconv.ATTR_GEN_AI_TOOL_CALL_RESULT,
  ];
  const secretKeys = [
    'authorization',
    'http.request.header.authorization',
    'http.request.header.api-key',
    'http.request.header.x-api-key',
    'azure.openai.api_key',
    'api.key',
    'memento.mcp.token',
    'access_token',
    'user.password',
    'http.request.header.cookie',
    'client_secret',
  ];
  const runs = (rule: Statement, key: string) => rule.pattern.test(key);

  it('covers resources, spans and span events, each with a secret rule and a content rule', () => {
    expect(new Set(secretRules.map((s) => s.context))).toEqual(new Set(['resource', 'span', 'spanevent']));
    expect(new Set(contentRules.map((s) => s.context))).toEqual(new Set(['resource', 'span', 'spanevent']));
  });

  it('drops secret-looking keys unconditionally', () => {
    for (const rule of secretRules.filter((s) => s.context !== 'resource')) {
      for (const key of secretKeys) expect(runs(rule, key), `${rule.context} drops ${key}`).toBe(true);
    }
  });

  it('keeps every attribute Memento records on purpose, token counts included', () => {
    expect(recorded).toContain('gen_ai.usage.input_tokens');
    for (const rule of secretRules) {
      for (const key of recorded) expect(runs(rule, key), `${rule.context} keeps ${key}`).toBe(false);
    }
    for (const rule of contentRules.filter((s) => s.context !== 'resource')) {
      for (const key of recorded.filter((k) => !contentKeys.includes(k))) {
        expect(runs(rule, key), `${rule.context} keeps ${key}`).toBe(false);
      }
    }
  });

  it('drops message content on spans and span events unless the deployment opts in', () => {
    expect(captureVariable).toBeDefined();
    for (const rule of contentRules.filter((s) => s.context !== 'resource')) {
      for (const key of contentKeys) expect(runs(rule, key), `${rule.context} drops ${key}`).toBe(true);
    }
    for (const rule of contentRules) {
      expect(rule.condition).toContain(`\${env:${captureVariable}:-false}`);
      expect(conditionHolds(rule.condition!, {}), `${rule.context}: content goes by default`).toBe(true);
      expect(conditionHolds(rule.condition!, { [captureVariable!]: 'true' }), `${rule.context}: opted in`).toBe(false);
    }
  });

  it('drops the command line from the resource unless opted in: `memento ask "…"` carries the message', () => {
    const rule = contentRules.find((s) => s.context === 'resource')!;
    expect(runs(rule, 'process.command_args')).toBe(true);
    expect(runs(rule, 'process.command_line')).toBe(true);
    expect(runs(rule, 'process.executable.name')).toBe(false);
  });

  it('masks secrets inside values with harmless keys', () => {
    const blocked = ((config.processors?.redaction ?? {}) as { blocked_values?: string[]; allow_all_keys?: boolean });
    expect(blocked.allow_all_keys).toBe(true);
    const patterns = (blocked.blocked_values ?? []).map(goRegExp);
    const masked = (value: string) => patterns.some((p) => p.test(value));
    for (const value of [
      'request failed: Authorization: Bearer abcdefgh12345678',
      'https://x.openai.azure.com/openai/deployments/d/chat/completions?api-key=0123abcd',
      'https://store.example/blob?sv=2024&sig=abcDEF123%3D',
      `key sk-${'a1'.repeat(12)}`,
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
    ]) {
      expect(masked(value), value).toBe(true);
    }
    for (const value of [
      '4bf92f3577b34da6a3ce929d0e0e4736',
      'gpt-4o-mini',
      'tools/call store_memory',
      'https://x.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21',
      'max_tokens=256',
    ]) {
      expect(masked(value), value).toBe(false);
    }
  });
});

// ---------------------------------------------------------------------------------------

interface Statement {
  context: string;
  pattern: RegExp;
  /** The `where` clause, if any, as written (before env expansion). */
  condition?: string;
}

/** A Go (RE2) pattern as the config writes it → a JS RegExp; `(?i)` becomes the i flag. */
function goRegExp(source: string): RegExp {
  const insensitive = source.startsWith('(?i)');
  return new RegExp(insensitive ? source.slice(4) : source, insensitive ? 'i' : '');
}

function transformStatements(): Statement[] {
  const t = (config.processors?.['transform/redact'] ?? {}) as {
    trace_statements?: { context: string; statements: string[] }[];
  };
  const out: Statement[] = [];
  for (const group of t.trace_statements ?? []) {
    for (const statement of group.statements) {
      // Paths name their context (span.attributes in the span context), as the collector asks.
      const m = /^delete_matching_keys\((\w+)\.attributes, "([^"\\]*)"\)(?: where (.+))?$/.exec(statement.trim());
      if (!m || m[1] !== group.context) throw new Error(`unexpected statement in transform/redact (${group.context}): ${statement}`);
      const [, , pattern, condition] = m;
      out.push({ context: group.context, pattern: goRegExp(pattern as string), ...(condition ? { condition } : {}) });
    }
  }
  return out;
}

/**
 * The opt-in conditions compare two string literals once the collector has expanded the
 * variable: `"false" != "true"`. Evaluates exactly that form.
 */
function conditionHolds(condition: string, env: Record<string, string>): boolean {
  const m = /^"([^"]*)"\s*(==|!=)\s*"([^"]*)"$/.exec(expandCollectorEnv(condition, env).trim());
  if (!m) throw new Error(`not a literal comparison: ${condition}`);
  return m[2] === '==' ? m[1] === m[3] : m[1] !== m[3];
}

function samplers(processors: string[] | undefined): string[] {
  return (processors ?? []).filter((p) => /sampl/.test(componentType(p)));
}

function jaegerExporter(): string {
  const ids = Object.entries(config.exporters ?? {}).filter(([id, c]) => {
    const endpoint = (c as { endpoint?: string }).endpoint;
    return componentType(id).startsWith('otlp') && endpoint && hostPort(expandCollectorEnv(endpoint)).host === 'jaeger';
  });
  expect(ids.length, 'one OTLP exporter to jaeger').toBe(1);
  return ids[0]![0];
}

/** Follows connectors from a pipeline to every exporter its data reaches. */
function reachesJaeger(cfg: CollectorConfig, start: string, seen = new Set<string>()): boolean {
  if (seen.has(start)) return false;
  seen.add(start);
  const p = cfg.service.pipelines[start];
  if (!p) return false;
  for (const e of p.exporters ?? []) {
    if (e === jaegerExporter()) return true;
    if (e in (cfg.connectors ?? {})) {
      for (const [next, q] of Object.entries(cfg.service.pipelines)) {
        if (q.receivers?.includes(e) && reachesJaeger(cfg, next, seen)) return true;
      }
    }
  }
  return false;
}

function otlpEndpoint(protocol: 'grpc' | 'http'): string {
  const otlp = (config.receivers?.otlp ?? {}) as { protocols?: Record<string, { endpoint?: string }> };
  const endpoint = otlp.protocols?.[protocol]?.endpoint;
  if (!endpoint) throw new Error(`receivers.otlp.protocols.${protocol}.endpoint is not set`);
  return endpoint;
}

function findEndpoints(node: unknown, path = ''): [string, string][] {
  if (!node || typeof node !== 'object') return [];
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(node)) {
    const here = path ? `${path}.${k}` : k;
    if (k === 'endpoint' && typeof v === 'string') out.push([here, v]);
    else out.push(...findEndpoints(v, here));
  }
  return out;
}
