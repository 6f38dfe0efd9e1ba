/*
 * Storage spans. Each tool's storage work is one INTERNAL `memento.storage.{operation}` span
 * (child of the `tools/call …` SERVER span), and each database statement under it a CLIENT
 * span following the OpenTelemetry database conventions: named by `db.query.summary`
 * ("SELECT memories"), with `db.system.name` and `db.operation.name`. They carry ids, counts
 * and sizes only: never query parameters, content, descriptions, tags, search words or file
 * names (file names are made from content) — DESIGN.md, "Never on any span".
 */
import {
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { ATTR_ERROR_TYPE, ATTR_MEMENTO_STORAGE_OPERATION } from '../../telemetry/semconv.ts';
import { VERSION } from '../../version.ts';
import { telemetryOff } from '../telemetry-off.ts';

export const ATTR_DB_SYSTEM_NAME = 'db.system.name' as const;
export const ATTR_DB_OPERATION_NAME = 'db.operation.name' as const;
export const ATTR_DB_QUERY_SUMMARY = 'db.query.summary' as const;
export const ATTR_DB_COLLECTION_NAME = 'db.collection.name' as const;
export const ATTR_DB_RESPONSE_STATUS_CODE = 'db.response.status_code' as const;

/**
 * The registered provider's tracer, looked up again only when the provider changes (tests
 * register and disable theirs): the SDK's getTracer builds a key string and a map lookup,
 * and a traced call starts two or three of these spans.
 */
let cached: { provider: TracerProvider; tracer: Tracer } | undefined;
function tracer(): Tracer {
  const global = trace.getTracerProvider();
  const provider = global instanceof ProxyTracerProvider ? global.getDelegate() : global;
  if (cached?.provider !== provider) cached = { provider, tracer: provider.getTracer('memento-server', VERSION) };
  return cached.tracer;
}

/** What the callbacks get when no telemetry is registered: the API's own non-recording span. */
const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

function failed(span: Span, err: unknown): void {
  // Only the class of failure: messages may quote a file name or a value.
  const code = (err as { code?: unknown } | null)?.code;
  span.setAttribute(ATTR_ERROR_TYPE, typeof code === 'string' ? code : err instanceof Error ? err.name : 'Error');
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/** Runs `fn` inside an INTERNAL span named `memento.storage.{operation}`. */
export async function storageSpan<T>(operation: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  if (telemetryOff()) return fn(NO_SPAN);
  return tracer().startActiveSpan(
    `memento.storage.${operation}`,
    { attributes: { [ATTR_MEMENTO_STORAGE_OPERATION]: operation, ...attributes } },
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        failed(span, err);
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

export type DbSystem = 'sqlite' | 'postgresql';

/**
 * One database statement as a CLIENT span. `operation` is the SQL verb, `collection` the
 * table: the summary is "{operation} {collection}", low-cardinality by construction.
 */
export function dbSpan<T>(system: DbSystem, operation: string, collection: string, fn: () => T): T {
  // Synchronous (node:sqlite) and asynchronous (postgres) statements both pass through here.
  if (telemetryOff()) return fn();
  const summary = `${operation} ${collection}`;
  return tracer().startActiveSpan(
    summary,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        [ATTR_DB_SYSTEM_NAME]: system,
        [ATTR_DB_OPERATION_NAME]: operation,
        [ATTR_DB_COLLECTION_NAME]: collection,
        [ATTR_DB_QUERY_SUMMARY]: summary,
      },
    },
    (span) => {
      let result: T;
      try {
        result = fn();
      } catch (err) {
        failed(span, err);
        span.end();
        throw err;
      }
      if (result instanceof Promise) {
        return result.then(
          (value) => {
            span.end();
            return value;
          },
          (err: unknown) => {
            failed(span, err);
            span.end();
            throw err;
          },
        ) as T;
      }
      span.end();
      return result;
    },
  );
}
