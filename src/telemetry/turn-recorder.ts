/*
 * Keeps the finished spans of the client's last few traces in memory, so the terminal can
 * show a turn's split (Azure / MCP / client) and waterfall the moment the turn ends, without
 * waiting for an export or reading the trace file back.
 */
import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';

export class TurnRecorder implements SpanProcessor {
  private readonly traces = new Map<string, ReadableSpan[]>();
  private readonly keep: number;
  private settling = false;

  constructor(keep = 16) {
    this.keep = keep;
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (!this.settling) {
      // Host detection finishes asynchronously, and the resource complains on every read until
      // someone waits for it (exporters do, before their first export). The turn's summary
      // reads service.name as soon as the turn ends, so start that wait at the first span.
      this.settling = true;
      void span.resource.waitForAsyncAttributes?.();
    }
    const { traceId } = span.spanContext();
    let spans = this.traces.get(traceId);
    if (!spans) {
      spans = [];
      this.traces.set(traceId, spans);
      if (this.traces.size > this.keep) {
        const oldest = this.traces.keys().next().value;
        if (oldest !== undefined) this.traces.delete(oldest);
      }
    }
    spans.push(span);
  }

  /** The finished spans of one trace, in the order they ended. */
  spans(traceId: string): readonly ReadableSpan[] {
    return this.traces.get(traceId) ?? [];
  }

  /** The finished spans of every trace still kept, oldest trace first. */
  all(): readonly ReadableSpan[] {
    return [...this.traces.values()].flat();
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {
    this.traces.clear();
  }
}
