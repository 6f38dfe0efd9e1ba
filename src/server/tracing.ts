/*
 * Storage spans: children of the `tools/call …` SERVER span (src/telemetry/mcp.ts runs each
 * handler inside it), so a slow call shows whether the disk or the index took the time.
 * They carry ids, counts and sizes only: never content, descriptions, tags, queries or file
 * names, which are derived from content (docs/design.md, "Never on any span").
 */
import { SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE, ATTR_MEMENTO_STORAGE_OPERATION } from '../telemetry/semconv.ts';
import { VERSION } from '../version.ts';


const tracer = () => trace.getTracer('memento-server', VERSION);

/** Runs `fn` inside an INTERNAL span named `memento.storage.{operation}`. */
export async function storageSpan<T>(
  operation: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(
    `memento.storage.${operation}`,
    { attributes: { [ATTR_MEMENTO_STORAGE_OPERATION]: operation, ...attributes } },
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        // Only the class of failure: messages may quote a file name.
        const type = (err as { code?: unknown }).code;
        span.setAttribute(ATTR_ERROR_TYPE, typeof type === 'string' ? type : err instanceof Error ? err.name : 'Error');
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}
