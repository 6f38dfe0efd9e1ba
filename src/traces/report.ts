/*
 * The text tables of `memento traces list` and `memento traces stats`. Columns size to their
 * content; only the last, free-text column is cut to the terminal's width, so ids and
 * numbers are never truncated.
 */
import type { Latency, TraceStats, TurnSummary } from './analysis.ts';
import { forTerminal } from '../terminal.ts';
import { colors, formatMs, formatSplit, formatTime, pad, truncate, visibleLength, type Colors } from './format.ts';

export interface ReportOptions {
  color?: boolean;
  /** Terminal columns; undefined (a pipe) means never cut. */
  width?: number;
}

/** Rows of cells; `right` marks numeric columns. Cell colouring happens after padding. */
export function table(
  header: string[],
  rows: string[][],
  right: boolean[],
  options: ReportOptions & { paint?: (row: number, col: number, text: string) => string },
): string[] {
  const widths = header.map((h, col) => rows.reduce((w, r) => Math.max(w, visibleLength(r[col] ?? '')), visibleLength(h)));
  const line = (cells: string[], row: number) => {
    let used = 0;
    const out: string[] = [];
    cells.forEach((cell, col) => {
      const last = col === cells.length - 1;
      // A free-text last column is neither padded (no trailing blanks) nor kept whole.
      const free = last && !right[col];
      let text = free ? cell : pad(cell, widths[col] ?? 0, right[col] ? 'right' : 'left');
      if (free && options.width !== undefined) text = truncate(text, Math.max(1, options.width - used));
      used += visibleLength(text) + 2;
      out.push(options.paint && row >= 0 ? options.paint(row, col, text) : text);
    });
    return out.join('  ').trimEnd();
  };
  const c = colors(options.color ?? false);
  return [c.dim(line(header, -1)), ...rows.map((r, i) => line(r, i))];
}

export function tools(summary: TurnSummary): string {
  const counts = new Map<string, number>();
  for (const t of summary.tools) counts.set(t, (counts.get(t) ?? 0) + 1);
  return forTerminal([...counts].map(([name, n]) => (n > 1 ? `${name} ×${n}` : name)).join(', ')) || '-';
}

export function turnStatus(summary: TurnSummary): string {
  if (summary.status === 'error') return `✗ ${forTerminal(summary.errorType ?? 'error')}`;
  if (summary.status === 'cancelled') return 'cancelled';
  if (summary.errorSpans > 0) return `ok (${summary.errorSpans} error${summary.errorSpans === 1 ? '' : 's'})`;
  return 'ok';
}

/** The columns every turn table ends with: where the time went, the outcome, the tools. */
export const TURN_TAIL_HEADER = ['AZURE', 'MCP', 'CLIENT', 'STATUS', 'TOOLS'];
export const TURN_TAIL_RIGHT = [true, true, true, false, false];

export function turnTailCells(t: TurnSummary): string[] {
  return [formatMs(t.split.azureMs), formatMs(t.split.mcpMs), formatMs(t.split.clientMs), turnStatus(t), tools(t)];
}

/** Colours the tail columns starting at column `first` the same in every turn table; a failed turn's status red. */
export function turnTailPaint(turns: readonly TurnSummary[], first: number, c: Colors) {
  return (row: number, col: number, text: string): string => {
    if (col === first) return c.cyan(text);
    if (col === first + 1) return c.magenta(text);
    if (col === first + 2) return c.yellow(text);
    if (col === first + 3 && turns[row]?.status === 'error') return c.red(text);
    return text;
  };
}

/** `traces list`: one line per turn, newest first. */
export function renderTurnList(turns: readonly TurnSummary[], options: ReportOptions = {}): string {
  const c = colors(options.color ?? false);
  const rows = turns.map((t) => [
    formatTime(t.startMs, true),
    forTerminal(t.traceId.slice(0, 8)),
    forTerminal(t.user ?? '-'),
    formatMs(t.durationMs),
    ...turnTailCells(t),
  ]);
  const lines = table(
    ['TIME', 'TRACE', 'USER', 'TURN', ...TURN_TAIL_HEADER],
    rows,
    [false, false, false, true, ...TURN_TAIL_RIGHT],
    { ...options, paint: turnTailPaint(turns, 4, c) },
  );
  return lines.join('\n') + '\n';
}

const latencyCells = (l: Latency) => [String(l.count), formatMs(l.p50), formatMs(l.p95), formatMs(l.max)];

function section(
  title: string,
  extra: string,
  rows: { label: string; latency: Latency; extra: string }[],
  options: ReportOptions,
  c: Colors,
): string[] {
  if (rows.length === 0) return [];
  return [
    '',
    ...table(
      [title, 'count', 'p50', 'p95', 'max', extra],
      rows.map((r) => [`  ${r.label}`, ...latencyCells(r.latency), r.extra]),
      [false, true, true, true, true, true],
      options,
    ).map((line, i) => (i === 0 ? c.bold(line) : line)),
  ];
}

/** `traces stats`: Azure vs MCP latency, per phase and per tool, and the slow turns. */
export function renderStats(s: TraceStats, options: ReportOptions = {}): string {
  const c = colors(options.color ?? false);
  const out: string[] = [];
  const range = s.fromMs !== undefined && s.toMs !== undefined ? `, ${formatTime(s.fromMs, true)} → ${formatTime(s.toMs, true)}` : '';
  out.push(`${s.turns} turn${s.turns === 1 ? '' : 's'}${range}${s.errorTurns ? c.red(` (${s.errorTurns} failed)`) : ''}${s.cancelledTurns ? c.yellow(` (${s.cancelledTurns} cancelled)`) : ''}`);

  out.push(
    ...section(
      'Turn',
      'total',
      [
        { label: 'whole turn', latency: s.turn, extra: formatMs(s.turn.totalMs) },
        { label: 'in Azure', latency: s.azure, extra: formatMs(s.azure.totalMs) },
        { label: 'in MCP', latency: s.mcp, extra: formatMs(s.mcp.totalMs) },
        { label: 'in the client', latency: s.client, extra: formatMs(s.client.totalMs) },
      ],
      options,
      c,
    ),
  );
  out.push(
    ...section(
      'Azure by phase',
      'errors',
      s.phases.map((p) => ({ label: p.phase, latency: p, extra: String(p.errors) })),
      options,
      c,
    ),
  );
  out.push(
    ...section(
      'MCP by tool',
      'errors',
      s.tools.map((t) => ({ label: t.tool, latency: t, extra: String(t.errors) })),
      options,
      c,
    ),
  );

  if (s.turns > 0) {
    const share = formatSplit(
      { totalMs: s.turn.totalMs, azureMs: s.azure.totalMs, mcpMs: s.mcp.totalMs, clientMs: s.client.totalMs },
      { color: options.color ?? false },
    );
    out.push('', `Time across all turns: ${share}`);
  }

  out.push('', c.bold(`Slow turns (over ${formatMs(s.slowMs)}): ${s.slow.length}`));
  if (s.slow.length) {
    const indented = { ...options, ...(options.width !== undefined ? { width: options.width - 2 } : {}) };
    out.push(...renderTurnList(s.slow, indented).trimEnd().split('\n').map((l) => `  ${l}`));
  }
  return out.join('\n') + '\n';
}
