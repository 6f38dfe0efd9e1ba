/*
 * Where a turn's time went, and how turns compare. Times are unions of intervals, never sums
 * of durations: two tool calls running side by side for 300 ms cost the user 300 ms, not
 * 600, and the split must add up to the wall-clock time the user waited.
 */
import { quantileSorted } from 'simple-statistics';
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_TOOL_NAME,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_MCP_METHOD_NAME,
  ATTR_MEMENTO_PHASE,
  ATTR_MEMENTO_TURN_NUMBER,
  ATTR_MEMENTO_TURN_OUTCOME,
  ATTR_MEMENTO_TURN_TIME_TO_FIRST_TOKEN,
  ATTR_MEMENTO_USER_ID,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
  MEMENTO_PHASE_VALUE_INTENT,
  MEMENTO_PHASE_VALUE_SUMMARIZE,
  MEMENTO_TURN_OUTCOME_VALUE_CANCELLED,
} from '../telemetry/semconv.ts';
import { findTurnRoot, type TraceSpan, type Turn } from './model.ts';

export interface TurnSplit {
  /** The root span's duration: what the user waited. */
  totalMs: number;
  /** Wall-clock time inside at least one chat (Azure OpenAI) span. */
  azureMs: number;
  /** Wall-clock time inside at least one MCP client span. */
  mcpMs: number;
  /** The rest: time in neither, i.e. the client's own work and waiting between calls. */
  clientMs: number;
}

export const isChatSpan = (s: TraceSpan): boolean =>
  s.attributes[ATTR_GEN_AI_OPERATION_NAME] === GEN_AI_OPERATION_NAME_VALUE_CHAT;

/** Any MCP request the client made: tools/call, and also initialize and tools/list, which the turn waits on too. */
export const isMcpClientSpan = (s: TraceSpan): boolean =>
  s.kind === 'client' && typeof s.attributes[ATTR_MCP_METHOD_NAME] === 'string';

export const isToolCallSpan = (s: TraceSpan): boolean =>
  isMcpClientSpan(s) && s.attributes[ATTR_MCP_METHOD_NAME] === 'tools/call';

export type Interval = readonly [number, number];

/** Total length covered by the intervals, each clipped to `window`. */
export function unionMs(intervals: readonly Interval[], window: Interval = [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]): number {
  const clipped = intervals
    .map(([a, b]): Interval => [Math.max(a, window[0]), Math.min(b, window[1])])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let curStart = Number.NEGATIVE_INFINITY;
  let curEnd = Number.NEGATIVE_INFINITY;
  for (const [a, b] of clipped) {
    if (a > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = a;
      curEnd = b;
    } else if (b > curEnd) {
      curEnd = b;
    }
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

/** The span the turn's time is measured on: its `invoke_agent` root, else the earliest parentless span. */
function rootOf(spans: readonly TraceSpan[]): TraceSpan | undefined {
  const root = findTurnRoot(spans);
  if (root) return root;
  const ids = new Set(spans.map((s) => s.spanId));
  const tops = spans.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
  return (tops.length ? tops : spans).reduce<TraceSpan | undefined>(
    (best, s) => (!best || s.startMs < best.startMs ? s : best),
    undefined,
  );
}

/**
 * The split of one turn's time: Azure (chat spans), MCP (MCP client spans), client (the
 * rest). Intervals are clipped to the root span, so work that outlives the turn (a late
 * span end) is not charged to it. When an Azure call and an MCP call overlap, each counts
 * that time and the client gets none of it, so azure + mcp + client ≥ total then.
 */
export function turnSplit(spans: readonly TraceSpan[]): TurnSplit {
  const root = rootOf(spans);
  if (!root) return { totalMs: 0, azureMs: 0, mcpMs: 0, clientMs: 0 };
  const window: Interval = [root.startMs, root.endMs];
  const azure = spans.filter(isChatSpan).map((s): Interval => [s.startMs, s.endMs]);
  const mcp = spans.filter(isMcpClientSpan).map((s): Interval => [s.startMs, s.endMs]);
  const busy = unionMs([...azure, ...mcp], window);
  return {
    totalMs: root.durationMs,
    azureMs: unionMs(azure, window),
    mcpMs: unionMs(mcp, window),
    clientMs: Math.max(0, root.durationMs - busy),
  };
}

export interface TurnSummary {
  traceId: string;
  /** Epoch ms of the turn's start. */
  startMs: number;
  durationMs: number;
  user?: string;
  turnNumber?: number;
  conversationId?: string;
  /**
   * The root span's status: a turn whose tool reported an error can still be `ok`; a turn
   * stopped by the user (Ctrl-C, an interrupted `ask`) is `cancelled`.
   */
  status: 'ok' | 'error' | 'cancelled';
  errorType?: string;
  chatCalls: number;
  toolCalls: number;
  /** Tool names in call order, repeats kept. */
  tools: string[];
  /** The turn's failed model and MCP calls (client spans with ERROR status), counted as `stats` counts them. */
  errorSpans: number;
  inputTokens: number;
  outputTokens: number;
  /** Time from the turn's start to the first token of its answer, when one was streamed. */
  firstTokenMs?: number;
  services: string[];
  spanCount: number;
  split: TurnSplit;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The one-line facts of a turn, for `traces list`, the slow-turn list and `--json`. */
export function turnSummary(spans: readonly TraceSpan[]): TurnSummary {
  const root = rootOf(spans);
  const chats = spans.filter(isChatSpan);
  const toolCalls = spans.filter(isToolCallSpan).sort((a, b) => a.startMs - b.startMs);
  const attrs = root?.attributes ?? {};
  const user = str(attrs[ATTR_MEMENTO_USER_ID]);
  const turnNumber = num(attrs[ATTR_MEMENTO_TURN_NUMBER]);
  const conversationId = str(attrs[ATTR_GEN_AI_CONVERSATION_ID]);
  const errorType = root?.status === 'error' ? str(attrs[ATTR_ERROR_TYPE]) : undefined;
  const firstTokenS = num(attrs[ATTR_MEMENTO_TURN_TIME_TO_FIRST_TOKEN]);
  return {
    traceId: root?.traceId ?? spans[0]?.traceId ?? '',
    startMs: root?.startMs ?? 0,
    durationMs: root?.durationMs ?? 0,
    ...(user ? { user } : {}),
    ...(turnNumber !== undefined ? { turnNumber } : {}),
    ...(conversationId ? { conversationId } : {}),
    status:
      root?.status === 'error'
        ? 'error'
        : attrs[ATTR_MEMENTO_TURN_OUTCOME] === MEMENTO_TURN_OUTCOME_VALUE_CANCELLED
          ? 'cancelled'
          : 'ok',
    ...(errorType ? { errorType } : {}),
    chatCalls: chats.length,
    toolCalls: toolCalls.length,
    tools: toolCalls.map((s) => str(s.attributes[ATTR_GEN_AI_TOOL_NAME]) ?? '?'),
    errorSpans: [...chats, ...spans.filter(isMcpClientSpan)].filter((s) => s.status === 'error').length,
    inputTokens: chats.reduce((n, s) => n + (num(s.attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS]) ?? 0), 0),
    outputTokens: chats.reduce((n, s) => n + (num(s.attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]) ?? 0), 0),
    ...(firstTokenS !== undefined ? { firstTokenMs: nanoRound(firstTokenS * 1000) } : {}),
    services: [...new Set(spans.map((s) => s.service).filter(Boolean))].sort(),
    spanCount: spans.length,
    split: turnSplit(spans),
  };
}

export interface Latency {
  count: number;
  /** Percentiles by linear interpolation between closest ranks (numpy's default, R type 7). */
  p50: number;
  p95: number;
  max: number;
  /** Sum of the values: for per-turn rows, the total time spent there across all turns. */
  totalMs: number;
}

/**
 * Span times carry microseconds at best, so anything finer in a result is float noise
 * (0.95 is not exact in binary: 30 + 0.85·10 comes out as 38.49999…, which would print as
 * 38 ms). Rounding to the nanosecond removes the noise and nothing real.
 */
const nanoRound = (ms: number) => Math.round(ms * 1e6) / 1e6;

export function latency(values: readonly number[]): Latency {
  if (values.length === 0) return { count: 0, p50: 0, p95: 0, max: 0, totalMs: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: nanoRound(quantileSorted(sorted, 0.5)),
    p95: nanoRound(quantileSorted(sorted, 0.95)),
    max: sorted[sorted.length - 1] ?? 0,
    totalMs: nanoRound(sorted.reduce((a, b) => a + b, 0)),
  };
}

export interface PhaseLatency extends Latency {
  /** `memento.phase` of the chat spans: intent, summarize, or `(none)`. */
  phase: string;
  errors: number;
}

export interface ToolLatency extends Latency {
  /** The tool for tools/call spans; for other MCP requests (initialize, tools/list) the method. */
  tool: string;
  method: string;
  errors: number;
}

export interface TraceStats {
  turns: number;
  /** Start of the oldest and the newest turn considered, epoch ms. */
  fromMs?: number;
  toMs?: number;
  /** Whole-turn durations. */
  turn: Latency;
  /** Per turn: time in Azure, in MCP, in the client (see turnSplit). */
  azure: Latency;
  mcp: Latency;
  client: Latency;
  /** Every chat span, grouped by phase. */
  phases: PhaseLatency[];
  /** Every MCP client span, grouped by tool (or method). */
  tools: ToolLatency[];
  errorTurns: number;
  cancelledTurns: number;
  slowMs: number;
  /** Turns longer than slowMs, slowest first. */
  slow: TurnSummary[];
}

const PHASE_ORDER = [MEMENTO_PHASE_VALUE_INTENT, MEMENTO_PHASE_VALUE_SUMMARIZE];

/** Azure vs MCP latency across turns: per phase, per tool, per turn; and the slow turns. */
export function stats(turns: readonly Turn[], options: { slowMs: number }): TraceStats {
  const summaries = turns.map((t) => turnSummary(t.spans));
  const chatSpans = turns.flatMap((t) => t.spans.filter(isChatSpan));
  const mcpSpans = turns.flatMap((t) => t.spans.filter(isMcpClientSpan));

  const phases = [...Map.groupBy(chatSpans, (s) => str(s.attributes[ATTR_MEMENTO_PHASE]) ?? '(none)')]
    .map(([phase, spans]): PhaseLatency => ({
      phase,
      ...latency(spans.map((s) => s.durationMs)),
      errors: spans.filter((s) => s.status === 'error').length,
    }))
    .sort((a, b) => rank(a.phase) - rank(b.phase) || a.phase.localeCompare(b.phase));

  const toolKey = (s: TraceSpan) => {
    const method = String(s.attributes[ATTR_MCP_METHOD_NAME]);
    return `${method}\u0000${method === 'tools/call' ? (str(s.attributes[ATTR_GEN_AI_TOOL_NAME]) ?? '?') : method}`;
  };
  const tools = [...Map.groupBy(mcpSpans, toolKey)]
    .map(([key, spans]): ToolLatency => {
      const [method = '', tool = ''] = key.split('\u0000');
      return {
        tool,
        method,
        ...latency(spans.map((s) => s.durationMs)),
        errors: spans.filter((s) => s.status === 'error').length,
      };
    })
    // Tool calls first (what the model chose), then the plumbing; busiest first within each.
    .sort((a, b) => Number(b.method === 'tools/call') - Number(a.method === 'tools/call') || b.count - a.count || a.tool.localeCompare(b.tool));

  let fromMs = Number.POSITIVE_INFINITY;
  let toMs = Number.NEGATIVE_INFINITY;
  for (const s of summaries) {
    fromMs = Math.min(fromMs, s.startMs);
    toMs = Math.max(toMs, s.startMs);
  }
  return {
    turns: summaries.length,
    ...(summaries.length ? { fromMs, toMs } : {}),
    turn: latency(summaries.map((s) => s.durationMs)),
    azure: latency(summaries.map((s) => s.split.azureMs)),
    mcp: latency(summaries.map((s) => s.split.mcpMs)),
    client: latency(summaries.map((s) => s.split.clientMs)),
    phases,
    tools,
    errorTurns: summaries.filter((s) => s.status === 'error').length,
    cancelledTurns: summaries.filter((s) => s.status === 'cancelled').length,
    slowMs: options.slowMs,
    slow: summaries.filter((s) => s.durationMs > options.slowMs).sort((a, b) => b.durationMs - a.durationMs),
  };
}

function rank(phase: string): number {
  const i = PHASE_ORDER.indexOf(phase as (typeof PHASE_ORDER)[number]);
  return i === -1 ? PHASE_ORDER.length : i;
}
