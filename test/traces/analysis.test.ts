import { describe, expect, it } from 'vitest';
import { latency, stats, turnSplit, turnSummary } from '../../src/traces/analysis.ts';
import { groupTurns } from '../../src/traces/model.ts';
import { spansOf, T0 } from './fixtures.ts';

describe('turnSplit', () => {
  it('counts parallel and overlapping tool calls once', async () => {
    const spans = await spansOf({
      startMs: T0,
      ms: 1000,
      chats: [
        { phase: 'intent', at: 0, ms: 200 },
        { phase: 'summarize', at: 820, ms: 130 },
      ],
      tools: [
        // 250–550 and 300–700 run side by side; 650–800 overlaps the second: MCP busy 250–800.
        { tool: 'store_memory', at: 250, ms: 300, server: { at: 260, ms: 280 } },
        { tool: 'search_memories', at: 300, ms: 400, server: { at: 310, ms: 380 } },
        { tool: 'get_memory', at: 650, ms: 150 },
      ],
    });
    expect(turnSplit(spans)).toEqual({ totalMs: 1000, azureMs: 330, mcpMs: 550, clientMs: 120 });
  });

  it('charges nothing outside the turn to it, and never goes negative when Azure and MCP overlap', async () => {
    const spans = await spansOf({
      startMs: T0,
      ms: 500,
      // The summarize call outlives the root by 100 ms; a tool call runs during the intent call.
      chats: [
        { phase: 'intent', at: 0, ms: 300 },
        { phase: 'summarize', at: 400, ms: 200 },
      ],
      tools: [{ tool: 'store_memory', at: 100, ms: 300 }],
    });
    expect(turnSplit(spans)).toEqual({ totalMs: 500, azureMs: 400, mcpMs: 300, clientMs: 0 });
  });

  it('is all client time for a turn that made no calls, and zero for no spans', async () => {
    expect(turnSplit(await spansOf({ startMs: T0, ms: 42 }))).toEqual({ totalMs: 42, azureMs: 0, mcpMs: 0, clientMs: 42 });
    expect(turnSplit([])).toEqual({ totalMs: 0, azureMs: 0, mcpMs: 0, clientMs: 0 });
  });

  it('counts the MCP requests a turn waits on besides tools/call (connecting, listing tools)', async () => {
    const spans = await spansOf({
      startMs: T0,
      ms: 300,
      tools: [
        { tool: 'initialize', method: 'initialize', at: 0, ms: 40 },
        { tool: 'tools/list', method: 'tools/list', at: 40, ms: 10 },
      ],
    });
    expect(turnSplit(spans)).toEqual({ totalMs: 300, azureMs: 0, mcpMs: 50, clientMs: 250 });
  });
});

describe('turnSummary', () => {
  it('collects who, how long, what was called, the tokens and the outcome', async () => {
    const spans = await spansOf({
      startMs: T0,
      ms: 1500,
      user: 'alice',
      turn: 4,
      errorType: 'rate_limited',
      chats: [
        { phase: 'intent', at: 0, ms: 500, input: 300, output: 40, http: [429, 200] },
        { phase: 'summarize', at: 900, ms: 500, input: 420, output: 80 },
      ],
      tools: [
        { tool: 'store_memory', at: 510, ms: 100, server: { at: 515, ms: 90 } },
        { tool: 'store_memory', at: 620, ms: 100, errorType: 'tool_error' },
        { tool: 'tools/list', method: 'tools/list', at: 500, ms: 5 },
      ],
    });
    expect(turnSummary(spans)).toEqual({
      traceId: spans[0]!.traceId,
      startMs: T0,
      durationMs: 1500,
      user: 'alice',
      turnNumber: 4,
      status: 'error',
      errorType: 'rate_limited',
      chatCalls: 2,
      toolCalls: 2,
      tools: ['store_memory', 'store_memory'],
      // The failed calls, counted as `stats` counts them: the client's failed tool call (the
      // root's own status is the turn's outcome; the 429 was an attempt the call retried).
      errorSpans: 1,
      inputTokens: 720,
      outputTokens: 120,
      services: ['memento-client', 'memento-mcp-server'],
      spanCount: spans.length,
      split: { totalMs: 1500, azureMs: 1000, mcpMs: 205, clientMs: 295 },
    });
  });
});

describe('latency', () => {
  it('interpolates percentiles between closest ranks', () => {
    expect(latency([40, 10, 30, 20])).toEqual({ count: 4, p50: 25, p95: 38.5, max: 40, totalMs: 100 });
    expect(latency([7])).toEqual({ count: 1, p50: 7, p95: 7, max: 7, totalMs: 7 });
    expect(latency([])).toEqual({ count: 0, p50: 0, p95: 0, max: 0, totalMs: 0 });
  });
});

describe('stats', () => {
  it('groups chat spans by phase and MCP spans by tool, and lists slow turns slowest first', async () => {
    const spans = (
      await Promise.all([
        spansOf({ startMs: T0, ms: 1000, chats: [{ phase: 'intent', at: 0, ms: 100 }], tools: [{ tool: 'store_memory', at: 100, ms: 10 }] }),
        spansOf({
          startMs: T0 + 10_000,
          ms: 3000,
          errorType: 'timeout',
          chats: [{ phase: 'intent', at: 0, ms: 300, errorType: 'timeout' }],
        }),
        spansOf({
          startMs: T0 + 20_000,
          ms: 2000,
          chats: [
            { phase: 'intent', at: 0, ms: 200 },
            { phase: 'summarize', at: 500, ms: 50 },
          ],
          tools: [
            { tool: 'store_memory', at: 200, ms: 30, errorType: 'tool_error' },
            { tool: 'initialize', method: 'initialize', at: 250, ms: 5 },
          ],
        }),
      ])
    ).flat();
    const result = stats(groupTurns(spans), { slowMs: 1500 });
    expect(result.turns).toBe(3);
    expect(result.fromMs).toBe(T0);
    expect(result.toMs).toBe(T0 + 20_000);
    expect(result.errorTurns).toBe(1);
    expect(result.phases).toEqual([
      { phase: 'intent', count: 3, p50: 200, p95: 290, max: 300, totalMs: 600, errors: 1 },
      { phase: 'summarize', count: 1, p50: 50, p95: 50, max: 50, totalMs: 50, errors: 0 },
    ]);
    expect(result.tools).toEqual([
      { tool: 'store_memory', method: 'tools/call', count: 2, p50: 20, p95: 29, max: 30, totalMs: 40, errors: 1 },
      { tool: 'initialize', method: 'initialize', count: 1, p50: 5, p95: 5, max: 5, totalMs: 5, errors: 0 },
    ]);
    expect(result.slow.map((s) => s.durationMs)).toEqual([3000, 2000]);
    expect(result.slowMs).toBe(1500);
  });

  it('has nothing to say about no turns, without failing', () => {
    const result = stats([], { slowMs: 100 });
    expect(result).toMatchObject({ turns: 0, phases: [], tools: [], slow: [], errorTurns: 0 });
    expect(result).not.toHaveProperty('fromMs');
  });
});
