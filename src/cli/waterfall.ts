/*
 * The spans of a turn the client just ran, for `--waterfall` and `/trace`: the client's from
 * memory, joined by the MCP server's from the local trace file. Our own server (a child
 * process) writes its spans there a moment after the turn ends, so when asked to, this waits
 * briefly until every MCP request the client made has its server span: the turn is drawn
 * whole, as `memento traces show` will draw it later.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { telemetry } from '../telemetry/handle.ts';
import { traceFileSettings } from '../telemetry/trace-file-settings.ts';
import { isMcpClientSpan } from '../traces/analysis.ts';
import { readTraceFile, renderWaterfall, shouldColor, spansFromReadableSpans, type TraceSpan } from '../traces/index.ts';

export interface TurnSpansOptions {
  /** Wait (up to `deadlineMs`) for the server's span of every MCP request. */
  waitForServer?: boolean;
  deadlineMs?: number;
}

export async function turnSpans(traceId: string, options: TurnSpansOptions = {}): Promise<TraceSpan[]> {
  const own = spansFromReadableSpans(telemetry().recorder?.spans(traceId) ?? []);
  const file = traceFileSettings();
  if (!file) return own;
  const requests = own.filter(isMcpClientSpan).map((s) => s.spanId);
  const deadline = performance.now() + (options.deadlineMs ?? 2000);
  for (;;) {
    const spans = new Map(own.map((s) => [s.spanId, s]));
    try {
      for (const s of (await readTraceFile(file.path, { traceId })).spans) if (!spans.has(s.spanId)) spans.set(s.spanId, s);
    } catch {
      // The in-memory spans are enough to draw the client's side.
    }
    const all = [...spans.values()];
    const answered = new Set(all.filter((s) => s.kind === 'server').map((s) => s.parentSpanId));
    if (!options.waitForServer || requests.every((id) => answered.has(id)) || performance.now() > deadline) return all;
    await sleep(50);
  }
}

export async function showWaterfall(traceId: string, options: TurnSpansOptions = {}, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  const spans = await turnSpans(traceId, options);
  if (spans.length === 0) {
    out.write('no spans recorded for this turn (is OTEL_SDK_DISABLED set?)\n');
    return;
  }
  out.write(renderWaterfall(spans, { width: out.columns ?? 100, color: shouldColor(out) }));
}
