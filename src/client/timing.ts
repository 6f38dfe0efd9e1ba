/*
 * Where a turn's time went when there are no spans to measure it on (OTEL_SDK_DISABLED):
 * the agent's own timings of its model and MCP calls, merged the way `turnSplit`
 * (src/traces/analysis.ts) merges spans, so parallel tool calls count once. With tracing on,
 * the split comes from the turn's spans instead, and the terminal, `memento traces` and
 * Jaeger all agree.
 */
import { unionMs } from '../traces/analysis.ts';

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

export function splitTime(start: number, end: number, intervals: readonly Interval[]): TimeSplit {
  const ranges = (kind?: Interval['kind']) =>
    intervals.filter((i) => !kind || i.kind === kind).map((i) => [i.start, i.end] as const);
  const window = [start, end] as const;
  return {
    azureMs: unionMs(ranges('azure'), window),
    mcpMs: unionMs(ranges('mcp'), window),
    clientMs: Math.max(0, end - start - unionMs(ranges(), window)),
  };
}
