/*
 * A real OTLP/HTTP receiver for tests: the exporters under test POST to it exactly as they
 * would to a collector (`/v1/traces`, `/v1/metrics`, JSON bodies), and tests assert on what
 * arrived, including the raw bytes (for "no secret ever leaves the process").
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeAttributes } from '../../src/traces/model.ts';

/** A span as it arrived, with its attributes decoded and its resource's service.name. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 INTERNAL, 2 SERVER, 3 CLIENT, 4 PRODUCER, 5 CONSUMER. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  /** OTLP status code: 0 UNSET, 1 OK, 2 ERROR. */
  status: { code: number; message?: string };
  links: { traceId: string; spanId: string }[];
  events: { name: string; attributes: Record<string, unknown> }[];
}

export interface ReceivedMetric {
  service: string;
  name: string;
  unit?: string;
  data: unknown;
}

export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;
export const STATUS = { UNSET: 0, OK: 1, ERROR: 2 } as const;

/** Flattens one OTLP/JSON ExportTraceServiceRequest body into spans. */
export function spansFromOtlpJson(body: unknown): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  const req = body as { resourceSpans?: any[] };
  for (const rs of req.resourceSpans ?? []) {
    const resource = decodeAttributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          service: String(resource['service.name'] ?? ''),
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          kind: s.kind,
          startNs: BigInt(s.startTimeUnixNano),
          endNs: BigInt(s.endTimeUnixNano),
          attributes: decodeAttributes(s.attributes),
          resource,
          status: { code: s.status?.code ?? 0, message: s.status?.message },
          links: (s.links ?? []).map((l: any) => ({ traceId: l.traceId, spanId: l.spanId })),
          events: (s.events ?? []).map((e: any) => ({ name: e.name, attributes: decodeAttributes(e.attributes) })),
        });
      }
    }
  }
  return out;
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly metrics: ReceivedMetric[] = [];
  /** Every request body exactly as received, for byte-level assertions. */
  readonly raw: Buffer[] = [];
  private server: Server | undefined;
  url = '';
  /** Holds every answer this long: a collector that is far away or busy (0: answer at once). */
  responseDelayMs = 0;

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        this.raw.push(body);
        const answer = () => {
          try {
            const json = JSON.parse(body.toString('utf8'));
            if (req.url?.startsWith('/v1/traces')) this.spans.push(...spansFromOtlpJson(json));
            if (req.url?.startsWith('/v1/metrics')) this.metrics.push(...metricsFromOtlpJson(json));
            res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
          } catch {
            res.writeHead(400).end('expected OTLP/JSON');
          }
        };
        if (this.responseDelayMs > 0) setTimeout(answer, this.responseDelayMs);
        else answer();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Environment that points a `memento` process's OTLP exporters here, exporting promptly. */
  env(): Record<string, string> {
    return {
      OTEL_SDK_DISABLED: 'false',
      OTEL_EXPORTER_OTLP_ENDPOINT: this.url,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
    };
  }

  rawText(): string {
    return Buffer.concat(this.raw).toString('utf8');
  }

  byTrace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  traceIds(service?: string): string[] {
    return [...new Set(this.spans.filter((s) => !service || s.service === service).map((s) => s.traceId))];
  }

  /** Resolves when `predicate` holds for the spans received so far; rejects after `timeoutMs`. */
  async waitFor(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs = 10_000): Promise<ReceivedSpan[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.spans)) {
      if (Date.now() > deadline) {
        const names = this.spans.map((s) => `${s.service}:${s.name}`).join(', ');
        throw new Error(`timed out waiting for spans; received ${this.spans.length}: ${names}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    return this.spans;
  }

  reset(): void {
    this.spans.length = 0;
    this.metrics.length = 0;
    this.raw.length = 0;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function metricsFromOtlpJson(body: any): ReceivedMetric[] {
  const out: ReceivedMetric[] = [];
  for (const rm of body.resourceMetrics ?? []) {
    const resource = decodeAttributes(rm.resource?.attributes);
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        out.push({ service: String(resource['service.name'] ?? ''), name: m.name, unit: m.unit, data: m.histogram ?? m.sum ?? m.gauge });
      }
    }
  }
  return out;
}
