import { describe, expect, it } from 'vitest';
import type { TraceSpan } from '../../src/traces/model.ts';
import { renderWaterfall } from '../../src/traces/waterfall.ts';
import { hexId, spansOf, T0, type TurnSpec } from './fixtures.ts';

const columns = (line: string) => [...line].length;
/** The span rows: the lines between the axis line and the notes. */
const rowsOf = (text: string) =>
  text.split('\n').filter((l) => /\d( ms| s|s)$/.test(l) && !l.startsWith('trace ') && !l.startsWith(' '));
const rowFor = (text: string, name: string) => rowsOf(text).find((l) => l.includes(name)) ?? '';
/** Column where a row's bar begins. */
const barStart = (row: string) => [...row].indexOf('█');

const storeTurn: TurnSpec = {
  startMs: T0,
  ms: 1840,
  user: 'alice',
  chats: [
    { phase: 'intent', at: 5, ms: 820, input: 312, output: 48, http: [429, 200] },
    { phase: 'summarize', at: 1200, ms: 600, input: 400, output: 60 },
  ],
  tools: [
    { tool: 'store_memory', at: 880, ms: 300, server: { at: 890, ms: 280 } },
    { tool: 'search_memories', at: 900, ms: 250, server: { at: 910, ms: 200 }, errorType: 'tool_error' },
  ],
};

describe('renderWaterfall', () => {
  it('draws one row per span in tree order, within 80 columns', async () => {
    const spans = await spansOf(storeTurn);
    const text = renderWaterfall(spans, { width: 80 });
    for (const line of text.trimEnd().split('\n')) expect(columns(line)).toBeLessThanOrEqual(80);
    const names = rowsOf(text).map((l) => /^[│├└─ ]*(\S+(?: \S+)?)/.exec(l.slice(7))?.[1]);
    expect(names).toEqual([
      'invoke_agent memento',
      'chat gpt-4o-mini',
      'POST 429',
      'POST 200',
      'tools/call store_memory',
      'tools/call store_memory',
      'tools/call search_memories',
      'tools/call search_memories',
      'chat gpt-4o-mini',
      'POST 200',
    ]);
    expect(rowFor(text, 'intent')).toMatch(/^client ├─ chat gpt-4o-mini intent 312→48 tok/);
    expect(rowFor(text, 'POST 429')).toContain('✗');
    expect(rowsOf(text).filter((l) => l.startsWith('server')).map((l) => l.slice(7, 17))).toEqual(['│  └─ tool', '│  └─ tool']);
    expect(text).toMatch(/^trace [0-9a-f]{32} {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}1\.84 s {2}10 spans\n/);
    expect(text.trimEnd().split('\n').at(-1)).toBe('1.84 s = Azure 1.42 s (77%) · MCP 300 ms (16%) · client 120 ms (7%)');
    expect(text).not.toContain('\x1b[');
  });

  it('places bars on one time axis', async () => {
    const spans = await spansOf(storeTurn);
    const text = renderWaterfall(spans, { width: 200 });
    const root = rowFor(text, 'invoke_agent');
    const summarize = rowFor(text, 'summarize');
    const barWidth = [...root].filter((ch) => ch === '█').length;
    expect(barWidth).toBe(60);
    // The summarize call starts 1200 ms into a 1840 ms turn.
    expect(barStart(summarize) - barStart(root)).toBe(Math.floor((1200 / 1840) * barWidth));
    expect(rowFor(text, 'POST 200').length).toBeGreaterThan(0);
  });

  it("moves a server span whose clock runs early back inside its parent, and marks it", async () => {
    // The server's clock is 30 ms behind: its span appears to start before the request was sent.
    const spans = await spansOf({
      startMs: T0,
      ms: 1000,
      tools: [{ tool: 'store_memory', at: 500, ms: 100, server: { at: 470, ms: 80 } }],
    });
    const text = renderWaterfall(spans, { width: 200 });
    const [client, server] = rowsOf(text).filter((l) => l.includes('tools/call'));
    expect(client).toBeDefined();
    expect(server).toMatch(/~[·█]/);
    expect(client).not.toMatch(/~[·█]/);
    expect(barStart(server!)).toBeGreaterThanOrEqual(barStart(client!));
    // Its own duration is still what was recorded.
    expect(server).toMatch(/80 ms$/);
    expect(text).toContain("~ moved to fit inside its parent: that service's clock differs from the caller's");
  });

  it('clamps a server span longer than its parent to the parent', async () => {
    const spans = await spansOf({
      startMs: T0,
      ms: 1000,
      tools: [{ tool: 'store_memory', at: 500, ms: 100, server: { at: 450, ms: 300 } }],
    });
    const text = renderWaterfall(spans, { width: 200 });
    const [client, server] = rowsOf(text).filter((l) => l.includes('tools/call'));
    expect(barStart(server!)).toBe(barStart(client!));
    expect([...server!].lastIndexOf('█')).toBe([...client!].lastIndexOf('█'));
    expect(server).toMatch(/300 ms$/);
  });

  it('draws orphans at the top level with a mark instead of losing them', async () => {
    const spans = await spansOf({ startMs: T0, ms: 400, chats: [{ phase: 'intent', at: 0, ms: 300 }] });
    const orphan: TraceSpan = {
      ...spans.find((s) => s.name === 'POST')!,
      spanId: 'aaaaaaaaaaaaaaaa',
      parentSpanId: 'bbbbbbbbbbbbbbbb',
      name: 'storage write',
      service: 'memento-mcp-server',
    };
    const text = renderWaterfall([...spans, orphan], { width: 80 });
    expect(rowsOf(text).at(-1)).toMatch(/^server ⋯ storage write/);
    expect(text).toContain('⋯ parent span not in this trace');
  });

  it('draws a one-span trace and a zero-length span without dividing by zero', () => {
    const only: TraceSpan = {
      traceId: hexId('1'),
      spanId: '1000000000000000',
      name: 'tools/list',
      service: 'memento-mcp-server',
      kind: 'server',
      startMs: T0,
      endMs: T0,
      durationMs: 0,
      attributes: {},
      status: 'unset',
    };
    const text = renderWaterfall([only], { width: 80 });
    expect(text).not.toMatch(/NaN|Infinity/);
    expect(rowsOf(text)).toHaveLength(1);
    expect(rowsOf(text)[0]).toMatch(/^server tools\/list +█{24} +0 ms$/);
    expect(renderWaterfall([], { width: 80 })).toBe('no spans\n');
  });

  it('keeps to the width it is given, down to 40 columns', async () => {
    const spans = await spansOf(storeTurn);
    for (const width of [40, 60, 100, 160]) {
      for (const line of renderWaterfall(spans, { width }).split('\n')) expect(columns(line)).toBeLessThanOrEqual(width);
    }
    for (const line of renderWaterfall(spans, { width: 10 }).split('\n')) expect(columns(line)).toBeLessThanOrEqual(40);
  });

  it('colours bars and errors only when asked', async () => {
    const spans = await spansOf(storeTurn);
    const coloured = renderWaterfall(spans, { width: 80, color: true });
    expect(coloured).toContain('\x1b[');
    // eslint-disable-next-line no-control-regex
    const plain = coloured.replace(/\x1b\[\d+m/g, '');
    expect(plain).toBe(renderWaterfall(spans, { width: 80, color: false }));
  });
});
