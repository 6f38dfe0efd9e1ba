import { describe, expect, it } from 'vitest';
import {
  findTurnRoot,
  groupTraces,
  groupTurns,
  spansFromOtlpJson,
  spansFromReadableSpans,
  type TraceSpan,
} from '../../src/traces/model.ts';
import { buildTurn, hexId, otlpBody, T0 } from './fixtures.ts';

/** 2001-09-09, written by old OTLP transformers as a Long's two 32-bit halves. */
const LONG_NS = 10n ** 18n;
const bySpanId = (a: TraceSpan, b: TraceSpan) => a.spanId.localeCompare(b.spanId);

describe('spansFromOtlpJson', () => {
  it('decodes a span the way the trace file stores it', () => {
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'memento-client' } }] },
          scopeSpans: [
            {
              scope: { name: 'memento' },
              spans: [
                {
                  traceId: hexId('ab'),
                  spanId: 'cd00000000000001',
                  parentSpanId: 'cd00000000000000',
                  name: 'chat gpt-4o-mini',
                  kind: 3,
                  startTimeUnixNano: '1700000000000250000',
                  endTimeUnixNano: '1700000000812750000',
                  attributes: [
                    { key: 'memento.phase', value: { stringValue: 'intent' } },
                    { key: 'gen_ai.usage.input_tokens', value: { intValue: 312 } },
                    { key: 'temperature', value: { doubleValue: 0.5 } },
                    { key: 'stream', value: { boolValue: false } },
                    { key: 'gen_ai.response.finish_reasons', value: { arrayValue: { values: [{ stringValue: 'tool_calls' }] } } },
                  ],
                  status: { code: 2, message: 'boom' },
                },
              ],
            },
          ],
        },
      ],
    };
    expect(spansFromOtlpJson(body)).toEqual([
      {
        traceId: hexId('ab'),
        spanId: 'cd00000000000001',
        parentSpanId: 'cd00000000000000',
        name: 'chat gpt-4o-mini',
        service: 'memento-client',
        kind: 'client',
        startMs: T0 + 0.25,
        endMs: T0 + 812.75,
        durationMs: 812.5,
        attributes: {
          'memento.phase': 'intent',
          'gen_ai.usage.input_tokens': 312,
          temperature: 0.5,
          stream: false,
          'gen_ai.response.finish_reasons': ['tool_calls'],
        },
        status: 'error',
        statusMessage: 'boom',
      },
    ]);
  });

  it("reads protobuf-JSON's other spellings: base64 ids, int64 strings, enum names, Long times", () => {
    const traceId = Buffer.from(hexId('0af7651916cd43dd8448eb211c80319c', '0'), 'hex').toString('base64');
    const spanId = Buffer.from('b7ad6b7169203331', 'hex').toString('base64');
    const [span] = spansFromOtlpJson({
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId,
                  spanId,
                  parentSpanId: '',
                  name: 'tools/call store_memory',
                  kind: 'SPAN_KIND_SERVER',
                  startTimeUnixNano: { low: Number(LONG_NS & 0xffffffffn), high: Number(LONG_NS >> 32n) },
                  endTimeUnixNano: '1000000000500000000',
                  attributes: [{ key: 'memento.memory.count', value: { intValue: '7' } }],
                  status: { code: 'STATUS_CODE_OK' },
                },
              ],
            },
          ],
        },
      ],
    });
    expect(span).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      service: '',
      kind: 'server',
      startMs: 1e12,
      durationMs: 500,
      attributes: { 'memento.memory.count': 7 },
      status: 'ok',
    });
    expect(span).not.toHaveProperty('parentSpanId');
  });

  it('drops spans it cannot place and survives bodies that are not OTLP at all', () => {
    expect(spansFromOtlpJson(null)).toEqual([]);
    expect(spansFromOtlpJson({ resourceSpans: 'nope' })).toEqual([]);
    expect(spansFromOtlpJson({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'no ids' }, null] }] }, null] })).toEqual([]);
  });
});

describe('spansFromReadableSpans', () => {
  it('gives the same spans as encoding them to OTLP/JSON and decoding that', async () => {
    const turn = await buildTurn({
      startMs: T0,
      ms: 900,
      user: 'alice',
      turn: 3,
      chats: [{ phase: 'intent', at: 1, ms: 300, input: 20, output: 5, http: [429, 200] }],
      tools: [{ tool: 'store_memory', at: 320, ms: 200, errorType: 'tool_error' }],
    });
    const direct = spansFromReadableSpans(turn.client).sort(bySpanId);
    const viaFile = spansFromOtlpJson(otlpBody(turn.client)).sort(bySpanId);
    expect(direct).toEqual(viaFile);
    expect(direct.find((s) => s.name === 'invoke_agent memento')).toMatchObject({
      traceId: turn.traceId,
      service: 'memento-client',
      kind: 'internal',
      startMs: T0,
      endMs: T0 + 900,
      durationMs: 900,
    });
  });
});

describe('grouping into turns', () => {
  it('keeps the MCP server spans in their turn, skips traces that are not turns, newest first', async () => {
    const older = await buildTurn({ startMs: T0, ms: 500, tools: [{ tool: 'get_memory', at: 10, ms: 100, server: { at: 20, ms: 80 } }] });
    const newer = await buildTurn({ startMs: T0 + 5000, ms: 400 });
    // A request that carried no trace context: the server starts a trace of its own.
    const serverOnly = spansFromReadableSpans(older.server).map(({ parentSpanId: _none, ...s }) => ({ ...s, traceId: hexId('5e') }));
    const spans = [...spansFromReadableSpans([...older.server, ...older.client, ...newer.client]), ...serverOnly];
    const turns = groupTurns(spans);
    expect(turns.map((t) => t.traceId)).toEqual([newer.traceId, older.traceId]);
    expect(turns[1]!.spans.map((s) => s.service).sort()).toEqual(['memento-client', 'memento-client', 'memento-mcp-server']);
    expect(turns[1]!.root.name).toBe('invoke_agent memento');
    expect(groupTraces(spans).map((t) => t.traceId)).toContain(hexId('5e'));
  });

  it('orders spans that start in the same microsecond the same way whatever order a source returned them in: parent first, then by span id', async () => {
    const turn = await buildTurn({ startMs: T0, ms: 500, tools: [{ tool: 'get_memory', at: 10, ms: 100, server: { at: 10, ms: 80 } }] });
    // As Jaeger gives them: start times cut to microseconds, so the tool call and the server span it caused tie.
    const spans = spansFromReadableSpans([...turn.client, ...turn.server]).map((s) => ({ ...s, startMs: Math.floor(s.startMs * 1000) / 1000 }));
    const orders = [spans, [...spans].reverse()].map((list) => groupTraces(list)[0]!.spans.map((s) => s.spanId));
    expect(orders[1]).toEqual(orders[0]);
    const tool = spans.find((s) => s.kind === 'client' && s.name.includes('get_memory'))!;
    const server = spans.find((s) => s.parentSpanId === tool.spanId)!;
    expect(server.startMs).toBe(tool.startMs);
    expect(orders[0]!.indexOf(tool.spanId)).toBeLessThan(orders[0]!.indexOf(server.spanId));
  });

  it('counts a span read twice once', async () => {
    const turn = await buildTurn({ startMs: T0, ms: 100, chats: [{ phase: 'intent', at: 0, ms: 50 }] });
    const spans = spansFromReadableSpans(turn.client);
    const [trace] = groupTraces([...spans, ...spans]);
    expect(trace!.spans).toHaveLength(spans.length);
  });

  it('finds the root even when the caller gave the turn a parent of its own', async () => {
    const turn = await buildTurn({ startMs: T0, ms: 100 });
    const [root] = spansFromReadableSpans(turn.client).map((s) => ({ ...s, parentSpanId: 'ffffffffffffffff' }));
    expect(findTurnRoot([root!])).toBe(root);
  });
});
