// The trace views' public surface: what the chat client and `memento traces` import.
export {
  findTurnRoot,
  groupTraces,
  groupTurns,
  isTurnRootSpan,
  spansFromOtlpJson,
  spansFromReadableSpans,
  type Trace,
  type TraceSpan,
  type TraceSpanKind,
  type TraceSpanStatus,
  type Turn,
} from './model.ts';
export {
  latency,
  stats,
  turnSplit,
  turnSummary,
  type Latency,
  type PhaseLatency,
  type ToolLatency,
  type TraceStats,
  type TurnSplit,
  type TurnSummary,
} from './analysis.ts';
export { renderWaterfall, type WaterfallOptions } from './waterfall.ts';
export { renderStats, renderTurnList, type ReportOptions } from './report.ts';
export { formatMs, formatSplit, shouldColor } from './format.ts';
export { readTraceFile, type TraceFileContents } from './file.ts';
export { JaegerClient, JaegerError, type FindTracesQuery } from './jaeger.ts';
