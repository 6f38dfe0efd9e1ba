/*
 * The self-check of the turn that just ended (src/telemetry/self-check.ts), on the spans the
 * client recorded for it in memory: the client's side is all there the moment the turn ends,
 * and the server's side is known from the span the server named in each tool result.
 */
import { telemetry } from '../telemetry/handle.ts';
import { checkTurnTrace, type SelfCheck } from '../telemetry/self-check.ts';
import { spansFromReadableSpans, type TraceSpan } from '../traces/model.ts';

/** Tool calls the client refused itself never reach the server, so they have no spans to check. */
const REFUSED_BY_CLIENT = new Set(['unknown_tool', 'invalid_arguments']);

export interface CheckedTurn {
  traceId: string | undefined;
  chatCalls: number;
  tools: { name: string; callId: string; errorType?: string }[];
  cancelled?: boolean;
}

/**
 * Undefined when there is nothing to check: tracing is off, or the turn was cancelled midway.
 * `spans`: the turn's spans already converted (the agent converts them once per turn for its
 * split too); read from the recorder when not given.
 */
export function selfCheckOf(turn: CheckedTurn, spans?: readonly TraceSpan[]): SelfCheck | undefined {
  const recorder = telemetry().recorder;
  if (!turn.traceId || !recorder || turn.cancelled) return undefined;
  try {
    return checkTurnTrace(spans ?? spansFromReadableSpans(recorder.spans(turn.traceId)), {
      traceId: turn.traceId,
      chatCalls: turn.chatCalls,
      toolCalls: turn.tools.filter((t) => !REFUSED_BY_CLIENT.has(t.errorType ?? '')).map((t) => ({ name: t.name, callId: t.callId })),
    });
  } catch {
    // A check that fails is no reason to fail the turn it checks.
    return undefined;
  }
}
