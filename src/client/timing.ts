/*
 * Where a turn's time went: Azure (model calls), MCP (connecting, listing and calling tools)
 * and the client itself (everything else: prompt building, JSON, rendering). Intervals are
 * merged before they are summed, so parallel tool calls count once.
 */
export interface Interval {
  kind: 'azure' | 'mcp';
  start: number;
  end: number;
}

export interface TimeSplit {
  azureMs: number;
  mcpMs: number;
  clientMs: number;
}

/** Total length of the union of [start, end) ranges. */
export function unionLength(ranges: readonly { start: number; end: number }[]): number {
  const sorted = [...ranges].filter((r) => r.end > r.start).sort((a, b) => a.start - b.start);
  let total = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const r of sorted) {
    if (r.start > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = r.start;
      curEnd = r.end;
    } else if (r.end > curEnd) {
      curEnd = r.end;
    }
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

export function splitTime(start: number, end: number, intervals: readonly Interval[]): TimeSplit {
  const azureMs = unionLength(intervals.filter((i) => i.kind === 'azure'));
  const mcpMs = unionLength(intervals.filter((i) => i.kind === 'mcp'));
  const busy = unionLength(intervals);
  return { azureMs, mcpMs, clientMs: Math.max(0, end - start - busy) };
}
