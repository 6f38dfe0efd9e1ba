/*
 * The turn's self-check on turns built from real SDK spans: a whole trace passes, and each
 * piece that goes missing is named with its likely cause.
 */
import { describe, expect, it } from 'vitest';
import { checkTurnTrace } from '../../src/telemetry/self-check.ts';
import { hexId, spansOf, T0, type TurnSpec } from '../traces/fixtures.ts';

const traceId = hexId('5c');
const base: TurnSpec = {
  traceId,
  startMs: T0,
  ms: 1000,
  chats: [
    { phase: 'intent', at: 0, ms: 200, input: 100, output: 10 },
    { phase: 'summarize', at: 400, ms: 200, input: 150, output: 20 },
  ],
  tools: [{ tool: 'store_memory', callId: 'call_1', at: 200, ms: 100, server: { at: 201, ms: 90 } }],
};
const facts = { traceId, chatCalls: 2, toolCalls: [{ name: 'store_memory', callId: 'call_1' }] };

describe('checkTurnTrace', () => {
  it('passes a whole turn: root, chat spans with usage and HTTP, the server span joined', async () => {
    const check = checkTurnTrace(await spansOf(base), facts);
    expect(check).toEqual({ ok: true, found: { root: true, chatSpans: 2, toolCallSpans: 1, serverSpansJoined: 1 }, problems: [] });
  });

  it('takes the server’s own report in _meta when its spans are not in hand', async () => {
    const spans = await spansOf({ ...base, tools: [{ tool: 'store_memory', callId: 'call_1', at: 200, ms: 100, reportedServerSpan: `00-${traceId}-00000000000000aa-01` }] });
    expect(checkTurnTrace(spans, facts).ok).toBe(true);
  });

  it('names a tools/call with no server span, and the likely cause', async () => {
    const spans = await spansOf({ ...base, tools: [{ tool: 'store_memory', callId: 'call_1', at: 200, ms: 100 }] });
    expect(checkTurnTrace(spans, facts).problems).toEqual([
      { missing: 'no server span for tools/call store_memory', cause: 'is the server traced, and does it read `_meta`?' },
    ]);
  });

  it('tells a server that started its own trace from one that is not traced', async () => {
    const other = hexId('07');
    const spans = await spansOf({ ...base, tools: [{ tool: 'store_memory', callId: 'call_1', at: 200, ms: 100, reportedServerSpan: `00-${other}-00000000000000aa-01` }] });
    expect(checkTurnTrace(spans, facts).problems).toEqual([
      {
        missing: `the server span for tools/call store_memory is in another trace (${other})`,
        cause: 'the server did not take its parent from params._meta.traceparent',
      },
    ]);
  });

  it('names chat calls without usage or without their HTTP span', async () => {
    const spans = await spansOf({
      ...base,
      chats: [
        { phase: 'intent', at: 0, ms: 200 },
        { phase: 'summarize', at: 400, ms: 200, input: 1, output: 1, http: [] },
      ],
    });
    expect(checkTurnTrace(spans, facts).problems.map((p) => p.missing)).toEqual([
      'no token usage on chat gpt-4o-mini (intent)',
      'no HTTP span under chat gpt-4o-mini (summarize)',
    ]);
  });

  it('names missing chat spans, a missing tools/call span and a missing root', async () => {
    const spans = (await spansOf({ ...base, chats: [{ phase: 'intent', at: 0, ms: 200, input: 1, output: 1 }], tools: [] })).filter(
      (s) => !s.name.startsWith('invoke_agent'),
    );
    expect(checkTurnTrace(spans, facts).problems.map((p) => p.missing)).toEqual([
      'no root span (invoke_agent memento)',
      '1 of 2 model calls have no chat span',
      'no client span for tools/call store_memory',
    ]);
  });
});
