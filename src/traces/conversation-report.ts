/*
 * The text of `memento traces conversations` (one line per conversation) and of
 * `memento traces show --conversation ID` / `/trace all` (one conversation, its turns in
 * order, each with its split and time to first token).
 */
import type { ConversationDetail, ConversationSummary } from './conversations.ts';
import { colors, formatMs, formatSplit, formatTime } from './format.ts';
import { table, TURN_TAIL_HEADER, TURN_TAIL_RIGHT, turnTailCells, turnTailPaint, type ReportOptions } from './report.ts';

const tokens = (input: number, output: number) => `${input}→${output}`;

/** `traces conversations`: the most recently active first. */
export function renderConversationList(list: readonly ConversationSummary[], options: ReportOptions = {}): string {
  const c = colors(options.color ?? false);
  const rows = list.map((v) => [
    v.conversationId.slice(0, 8),
    v.user ?? '-',
    String(v.turns),
    formatTime(v.firstMs, true),
    formatTime(v.lastMs, true),
    formatMs(v.totalMs),
    formatMs(v.p95Ms),
    tokens(v.inputTokens, v.outputTokens),
    String(v.toolCalls),
    String(v.errors),
  ]);
  const lines = table(
    ['CONVERSATION', 'USER', 'TURNS', 'FIRST', 'LAST', 'TOTAL', 'P95 TURN', 'TOKENS IN→OUT', 'TOOLS', 'ERRORS'],
    rows,
    [false, false, true, false, false, true, true, true, true, true],
    { ...options, paint: (row, col, text) => (col === 9 && (list[row]?.errors ?? 0) > 0 ? c.red(text) : text) },
  );
  return lines.join('\n') + '\n';
}

/** One conversation: a header, then its turns oldest first with the split of each. */
export function renderConversation(v: ConversationDetail, options: ReportOptions = {}): string {
  const c = colors(options.color ?? false);
  const head =
    `conversation ${v.conversationId}  ${v.user ?? '-'}  ${v.turns} turn${v.turns === 1 ? '' : 's'}  ` +
    `${formatTime(v.firstMs)} → ${formatTime(v.lastMs, true)}`;
  const facts =
    `total ${formatMs(v.totalMs)} · p95 turn ${formatMs(v.p95Ms)}` +
    (v.firstTokenP95Ms !== undefined ? ` · p95 first token ${formatMs(v.firstTokenP95Ms)}` : '') +
    ` · tokens ${tokens(v.inputTokens, v.outputTokens)} · ${v.toolCalls} tool call${v.toolCalls === 1 ? '' : 's'}` +
    (v.errors ? c.red(` · ${v.errors} failed`) : '');
  const rows = v.turnList.map((t) => [
    t.turnNumber !== undefined ? `#${t.turnNumber}` : '-',
    formatTime(t.startMs, true),
    t.traceId.slice(0, 8),
    formatMs(t.durationMs),
    t.firstTokenMs !== undefined ? formatMs(t.firstTokenMs) : '-',
    ...turnTailCells(t),
  ]);
  const lines = table(
    ['TURN', 'TIME', 'TRACE', 'TOTAL', '1ST TOKEN', ...TURN_TAIL_HEADER],
    rows,
    [false, false, false, true, true, ...TURN_TAIL_RIGHT],
    { ...options, paint: turnTailPaint(v.turnList, 5, c) },
  );
  const across = formatSplit(
    {
      totalMs: v.totalMs,
      azureMs: v.turnList.reduce((n, t) => n + t.split.azureMs, 0),
      mcpMs: v.turnList.reduce((n, t) => n + t.split.mcpMs, 0),
      clientMs: v.turnList.reduce((n, t) => n + t.split.clientMs, 0),
    },
    { color: options.color ?? false },
  );
  return [c.bold(head), facts, '', ...lines, '', `Time across the conversation: ${across}`].join('\n') + '\n';
}
