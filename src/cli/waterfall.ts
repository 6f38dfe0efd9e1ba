/*
 * The waterfall of a turn the client just ran (`--waterfall`, `/trace`): the client's spans
 * from memory, joined by whatever the MCP server (another process) has already written to
 * the local trace file for the same trace.
 */
import { traceFileSettings } from '../telemetry/trace-file-settings.ts';
import { telemetry } from '../telemetry/handle.ts';
import { readTraceFile, renderWaterfall, shouldColor, spansFromReadableSpans, type TraceSpan } from '../traces/index.ts';

export async function turnSpans(traceId: string): Promise<TraceSpan[]> {
  const recorder = telemetry().recorder;
  const spans = new Map<string, TraceSpan>();
  for (const s of spansFromReadableSpans(recorder?.spans(traceId) ?? [])) spans.set(s.spanId, s);
  const file = traceFileSettings();
  if (file) {
    try {
      const contents = await readTraceFile(file.path);
      for (const s of contents.spans) if (s.traceId === traceId && !spans.has(s.spanId)) spans.set(s.spanId, s);
    } catch {
      // The in-memory spans are enough to draw the client's side.
    }
  }
  return [...spans.values()];
}

export async function showWaterfall(traceId: string, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  const spans = await turnSpans(traceId);
  if (spans.length === 0) {
    out.write('no spans recorded for this turn (is OTEL_SDK_DISABLED set?)\n');
    return;
  }
  out.write(renderWaterfall(spans, { width: out.columns ?? 100, color: shouldColor(out) }));
}
