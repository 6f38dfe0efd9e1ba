/*
 * Small text helpers shared by the waterfall, the turn line the chat prints and the
 * `memento traces` tables, so a duration or a split reads the same everywhere.
 */
import picocolors from 'picocolors';
import type { TurnSplit } from './analysis.ts';

export type Colors = ReturnType<typeof picocolors.createColors>;

/** Colour only for a terminal, never when NO_COLOR is set (https://no-color.org), always with FORCE_COLOR. */
export function shouldColor(
  stream: { isTTY?: boolean } = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export const colors = (enabled: boolean): Colors => picocolors.createColors(enabled);

/** 0 ms · 0.4 ms · 12.5 ms · 312 ms · 1.84 s · 12.3 s · 2m 05s */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms === 0) return '0 ms';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 999.5) return `${Math.round(ms)} ms`;
  if (ms < 9995) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

const pct = (part: number, total: number) => (total > 0 ? ` (${Math.round((part / total) * 100)}%)` : '');

/** `Azure 1.20 s (65%) · MCP 310 ms (17%) · client 330 ms (18%)` — the line shown after every turn. */
export function formatSplit(split: TurnSplit, options: { color?: boolean } = {}): string {
  const c = colors(options.color ?? false);
  return [
    c.cyan(`Azure ${formatMs(split.azureMs)}${pct(split.azureMs, split.totalMs)}`),
    c.magenta(`MCP ${formatMs(split.mcpMs)}${pct(split.mcpMs, split.totalMs)}`),
    c.yellow(`client ${formatMs(split.clientMs)}${pct(split.clientMs, split.totalMs)}`),
  ].join(' · ');
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** Local wall-clock time, `2025-03-04 14:03:05`; `short` drops the year. */
export function formatTime(epochMs: number, short = false): string {
  const d = new Date(epochMs);
  const date = `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return short ? `${date} ${time}` : `${d.getFullYear()}-${date} ${time}`;
}

/** `text` cut to `width` terminal columns, with an ellipsis when something was cut. */
export function truncate(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 0) return '';
  return chars.slice(0, width - 1).join('') + '…';
}

export const visibleLength = (text: string): number => [...text].length;

/** Pads to `width` columns on the right (or the left, for numbers). */
export function pad(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const fill = ' '.repeat(Math.max(0, width - visibleLength(text)));
  return align === 'left' ? text + fill : fill + text;
}
