/*
 * A trace as a text waterfall: one row per span in tree order, a bar on a shared time axis,
 * readable at 80 columns. The chat client draws its last turn with it (/trace, --waterfall)
 * and `memento traces show` draws any trace from the file or Jaeger.
 *
 * The MCP server's spans come from another process, often another machine, whose clock may
 * run a few milliseconds off the client's; drawn as recorded, a server span can start before
 * the request that caused it. Like Jaeger's UI, we move such a span (and its subtree, which
 * shares its clock) the least distance that puts it inside its parent, and mark the row.
 */
import {
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_MEMENTO_PHASE,
  ATTR_MEMENTO_TURN_TIME_TO_FIRST_TOKEN,
} from '../telemetry/semconv.ts';
import { isChatSpan, isMcpClientSpan, turnSplit } from './analysis.ts';
import { colors, formatMs, formatSplit, formatTime, pad, truncate, visibleLength } from './format.ts';
import { byStart, findTurnRoot, type TraceSpan } from './model.ts';
import { forTerminal } from '../terminal.ts';

export interface WaterfallOptions {
  /** Terminal columns to fill; at least 40. Default 80. */
  width?: number;
  /** ANSI colours. Default off; callers decide with shouldColor(). */
  color?: boolean;
  /** End with the Azure / MCP / client split when the trace is a turn. Default true. */
  split?: boolean;
}

const HTTP_STATUS = 'http.response.status_code';
const DURATION_WIDTH = 8;
const MIN_WIDTH = 40;
/** Smaller moves are within timer resolution, not worth a mark. */
const SHIFT_MARK_MS = 0.5;

interface Row {
  span: TraceSpan;
  depth: number;
  prefix: string;
  startMs: number;
  endMs: number;
  shifted: boolean;
  orphan: boolean;
  category: 'azure' | 'mcp' | 'server' | 'other';
}

/** `memento-client` → client, `memento-mcp-server` → server: the part that tells services apart. */
function serviceTag(service: string): string {
  if (!service) return '?';
  return service.split('-').pop() || service;
}

function describe(span: TraceSpan): string {
  const a = span.attributes;
  const parts: string[] = [];
  if (typeof a[ATTR_MEMENTO_PHASE] === 'string') parts.push(a[ATTR_MEMENTO_PHASE]);
  const input = a[ATTR_GEN_AI_USAGE_INPUT_TOKENS];
  const output = a[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS];
  if (typeof input === 'number' || typeof output === 'number') parts.push(`${input ?? '?'}→${output ?? '?'} tok`);
  const status = a[HTTP_STATUS];
  if (status !== undefined) parts.push(String(status));
  const errorType = a[ATTR_ERROR_TYPE];
  if (span.status === 'error' || errorType !== undefined) {
    parts.push(errorType !== undefined && String(errorType) !== String(status) ? `✗ ${String(errorType)}` : '✗');
  }
  return parts.join(' ');
}

/** Spans in tree order with their depth, drawing prefix and clock-adjusted position. */
function layout(spans: readonly TraceSpan[]): Row[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const children = new Map<string, TraceSpan[]>();
  const tops: TraceSpan[] = [];
  for (const s of byId.values()) {
    if (s.parentSpanId && byId.has(s.parentSpanId) && s.parentSpanId !== s.spanId) {
      const list = children.get(s.parentSpanId);
      if (list) list.push(s);
      else children.set(s.parentSpanId, [s]);
    } else {
      tops.push(s);
    }
  }
  const root = findTurnRoot(tops);
  tops.sort((a, b) => Number(b === root) - Number(a === root) || byStart(a, b));

  const rows: Row[] = [];
  const seen = new Set<string>();
  const visit = (
    span: TraceSpan,
    parent: Row | undefined,
    shift: number,
    lastFlags: boolean[],
    category: Row['category'],
  ): void => {
    // Malformed input can make a parent cycle; every span is drawn once.
    if (seen.has(span.spanId)) return;
    seen.add(span.spanId);
    let start = span.startMs + shift;
    let end = span.endMs + shift;
    let shifted = false;
    if (parent && span.service !== parent.span.service) {
      let delta = 0;
      if (end - start <= parent.endMs - parent.startMs) {
        if (start < parent.startMs) delta = parent.startMs - start;
        else if (end > parent.endMs) delta = parent.endMs - end;
      } else {
        delta = parent.startMs - start;
      }
      start += delta;
      end = Math.min(end + delta, parent.endMs);
      shift += delta;
      shifted = Math.abs(delta) >= SHIFT_MARK_MS;
    }
    if (isChatSpan(span)) category = 'azure';
    else if (isMcpClientSpan(span)) category = 'mcp';
    else if (parent && span.service !== (root ?? parent.span).service) category = 'server';
    const depth = lastFlags.length;
    const prefix =
      depth === 0
        ? ''
        : lastFlags
            .slice(0, -1)
            .map((last) => (last ? '   ' : '│  '))
            .join('') + (lastFlags[depth - 1] ? '└─ ' : '├─ ');
    const row: Row = {
      span,
      depth,
      prefix,
      startMs: start,
      endMs: end,
      shifted,
      orphan: !parent && span.parentSpanId !== undefined,
      category,
    };
    rows.push(row);
    const kids = (children.get(span.spanId) ?? []).sort(byStart);
    kids.forEach((kid, i) => visit(kid, row, shift, [...lastFlags, i === kids.length - 1], category));
  };
  for (const top of tops) visit(top, undefined, 0, [], 'other');
  // Spans caught in a parent cycle have no top; draw them anyway rather than lose them.
  for (const s of byId.values()) if (!seen.has(s.spanId)) visit(s, undefined, 0, [], 'other');
  return rows;
}

/** The trace drawn as text, ending with a newline. */
export function renderWaterfall(spans: readonly TraceSpan[], options: WaterfallOptions = {}): string {
  const c = colors(options.color ?? false);
  if (spans.length === 0) return 'no spans\n';
  const width = Math.max(MIN_WIDTH, Math.floor(options.width ?? 80));
  const rows = layout(spans);

  const t0 = rows.reduce((m, r) => Math.min(m, r.startMs), Number.POSITIVE_INFINITY);
  const t1 = rows.reduce((m, r) => Math.max(m, r.endMs), Number.NEGATIVE_INFINITY);
  const axisMs = t1 - t0;
  const turnRoot = findTurnRoot(spans);
  const totalMs = turnRoot?.durationMs ?? axisMs;
  const firstToken = turnRoot?.attributes[ATTR_MEMENTO_TURN_TIME_TO_FIRST_TOKEN];

  const tags = rows.map((r) => serviceTag(r.span.service));
  const tagWidth = Math.min(6, tags.reduce((w, t) => Math.max(w, t.length), 1));
  const barWidth = Math.min(60, Math.max(12, Math.round(width * 0.3)));
  const labelWidth = width - tagWidth - barWidth - DURATION_WIDTH - 3;

  const paint: Record<Row['category'], (s: string) => string> = {
    azure: c.cyan,
    mcp: c.magenta,
    server: c.green,
    other: c.yellow,
  };

  const out: string[] = [];
  out.push(
    truncate(
      `trace ${rows[0]?.span.traceId ?? ''}  ${formatTime(t0)}  ${formatMs(totalMs)}` +
        (typeof firstToken === 'number' ? `  first token ${formatMs(firstToken * 1000)}` : '') +
        `  ${rows.length} span${rows.length === 1 ? '' : 's'}`,
      width,
    ),
  );
  const axisEnd = formatMs(axisMs);
  out.push(
    c.dim(' '.repeat(tagWidth + labelWidth + 2) + pad('0', barWidth - axisEnd.length) + axisEnd),
  );

  rows.forEach((row, i) => {
    const tag = pad(truncate(tags[i] ?? '', tagWidth), tagWidth);
    // Names and attributes come from a file or from Jaeger: shown inert, never as escapes.
    const details = forTerminal(describe(row.span));
    const label = truncate(
      `${row.prefix}${row.orphan ? '⋯ ' : ''}${forTerminal(row.span.name)}${details ? ` ${details}` : ''}`,
      labelWidth,
    );
    let from = 0;
    let to = barWidth;
    if (axisMs > 0) {
      from = Math.min(barWidth - 1, Math.floor(((row.startMs - t0) / axisMs) * barWidth));
      to = Math.min(barWidth, Math.max(from + 1, Math.ceil(((row.endMs - t0) / axisMs) * barWidth)));
    }
    const fill = row.span.status === 'error' ? c.red : paint[row.category];
    const dots = (n: number) => (n > 0 ? c.dim('·'.repeat(n)) : '');
    const bar = dots(from) + fill('█'.repeat(to - from)) + dots(barWidth - to);
    const labelText = pad(label, labelWidth);
    const error = row.span.status === 'error';
    out.push(
      [
        c.dim(tag),
        ' ',
        error ? c.red(labelText) : labelText,
        row.shifted ? c.dim('~') : ' ',
        bar,
        ' ',
        pad(formatMs(row.span.durationMs), DURATION_WIDTH, 'right'),
      ].join(''),
    );
  });

  if (rows.some((r) => r.shifted)) {
    out.push(c.dim(truncate("~ moved to fit inside its parent: that service's clock differs from the caller's", width)));
  }
  if (rows.some((r) => r.orphan)) {
    out.push(c.dim(truncate('⋯ parent span not in this trace (not exported, or in a rotated-out file)', width)));
  }
  if (turnRoot && options.split !== false) {
    const split = turnSplit(spans);
    const line = `${formatMs(totalMs)} = ${formatSplit(split, { color: options.color ?? false })}`;
    if (visibleLength(`${formatMs(totalMs)} = ${formatSplit(split)}`) <= width) {
      out.push(line);
    } else {
      out.push(`${formatMs(totalMs)} =`, ...formatSplit(split, { color: options.color ?? false }).split(' · ').map((part) => `  ${part}`));
    }
  }
  return out.join('\n') + '\n';
}
