/*
 * `memento traces` over a trace file, through the real command. The recorded turns have
 * round durations so every number `stats` prints can be worked out by hand; percentiles
 * interpolate linearly between closest ranks (p of n sorted values sits at index (n−1)·p).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runMemento, tempDir } from '../helpers/memento.ts';
import { buildTurn, hexId, T0, writeTraceFile, type BuiltTurn, type TurnSpec } from './fixtures.ts';

let dir: { path: string; cleanup: () => Promise<void> };
let file: string;
const built: BuiltTurn[] = [];

/**
 * Five turns, ten seconds apart. Per turn i:
 *   turn        1000 1200 1400 1600 3000 ms (the last one failed: timeout)
 *   intent       100  200  300  400  500 ms
 *   store_memory  10   20   30   40    - ms, right after intent
 *   search_memories                  100 ms
 *   summarize     50  150  250    -    - ms, at 600 ms
 */
const SPECS: TurnSpec[] = [0, 1, 2, 3, 4].map((i) => ({
  traceId: hexId(`c0ffee0${i}`, String(i)),
  startMs: T0 + i * 10_000,
  ms: [1000, 1200, 1400, 1600, 3000][i]!,
  user: i % 2 ? 'bob' : 'alice',
  turn: i + 1,
  ...(i === 4 ? { errorType: 'timeout' } : {}),
  chats: [
    { phase: 'intent' as const, at: 0, ms: (i + 1) * 100, input: 100, output: 10 },
    ...(i < 3 ? [{ phase: 'summarize' as const, at: 600, ms: 50 + i * 100, input: 200, output: 30 }] : []),
  ],
  tools:
    i < 4
      ? [{ tool: 'store_memory', at: (i + 1) * 100, ms: (i + 1) * 10, server: { at: (i + 1) * 100 + 1, ms: (i + 1) * 10 - 2 } }]
      : [{ tool: 'search_memories', at: 500, ms: 100 }],
}));

beforeAll(async () => {
  dir = await tempDir('memento-traces-cli-');
  file = join(dir.path, 'traces.jsonl');
  for (const spec of SPECS) built.push(await buildTurn(spec));
  await writeTraceFile(file, built);
  // A trace the MCP server started on its own (a request with no context) is not a turn,
  // and a torn last line is skipped.
  await appendFile(
    file,
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'memento-mcp-server' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: hexId('5e'),
                  spanId: '5e00000000000001',
                  name: 'tools/list',
                  kind: 2,
                  startTimeUnixNano: String(BigInt(T0 + 60_000) * 1_000_000n),
                  endTimeUnixNano: String(BigInt(T0 + 60_005) * 1_000_000n),
                  attributes: [{ key: 'mcp.method.name', value: { stringValue: 'tools/list' } }],
                  status: {},
                },
              ],
            },
          ],
        },
      ],
    }) + '\n{"resourceSpans":[{"resource":',
  );
});
afterAll(() => dir.cleanup());

const json = (stdout: string) => JSON.parse(stdout);
/** Times print in local time; UTC keeps the expected text fixed. */
const env = { TZ: 'UTC' };

describe('memento traces stats', () => {
  it('gives the right numbers for known spans', async () => {
    const run = await runMemento(['traces', 'stats', '--file', file, '--slow', '1500', '--json'], { env });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('skipped 1 line');
    expect(json(run.stdout)).toEqual({
      source: { kind: 'file', path: file, files: [file] },
      skippedLines: 1,
      turns: 5,
      fromMs: T0,
      toMs: T0 + 40_000,
      // [1000 1200 1400 1600 3000]: p50 = 1400; p95 at index 3.8 = 1600 + 0.8·1400
      turn: { count: 5, p50: 1400, p95: 2720, max: 3000, totalMs: 8200 },
      // intent + summarize: [150 350 550 400 500] → sorted [150 350 400 500 550]
      azure: { count: 5, p50: 400, p95: 540, max: 550, totalMs: 1950 },
      // [10 20 30 40 100]
      mcp: { count: 5, p50: 30, p95: 88, max: 100, totalMs: 200 },
      // turn − azure − mcp: [840 830 820 1160 2400] → sorted [820 830 840 1160 2400]
      client: { count: 5, p50: 840, p95: 2152, max: 2400, totalMs: 6050 },
      phases: [
        // [100 200 300 400 500]: p95 at index 3.8 = 400 + 0.8·100
        { phase: 'intent', count: 5, p50: 300, p95: 480, max: 500, totalMs: 1500, errors: 0 },
        // [50 150 250]: p95 at index 1.9 = 150 + 0.9·100
        { phase: 'summarize', count: 3, p50: 150, p95: 240, max: 250, totalMs: 450, errors: 0 },
      ],
      tools: [
        // [10 20 30 40]: p50 at index 1.5 = 25; p95 at index 2.85 = 30 + 0.85·10
        { tool: 'store_memory', method: 'tools/call', count: 4, p50: 25, p95: 38.5, max: 40, totalMs: 100, errors: 0 },
        { tool: 'search_memories', method: 'tools/call', count: 1, p50: 100, p95: 100, max: 100, totalMs: 100, errors: 0 },
      ],
      errorTurns: 1,
      cancelledTurns: 0,
      slowMs: 1500,
      slow: [
        expect.objectContaining({ traceId: built[4]!.traceId, durationMs: 3000, status: 'error', errorType: 'timeout' }),
        expect.objectContaining({ traceId: built[3]!.traceId, durationMs: 1600, status: 'ok', user: 'bob' }),
      ],
    });
  });

  it('prints the same as a table', async () => {
    const run = await runMemento(['traces', 'stats', '--file', file, '--slow', '1500'], { env });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(
      [
        '5 turns, 11-14 22:13:20 → 11-14 22:14:00 (1 failed)',
        '',
        'Turn             count     p50     p95     max   total',
        '  whole turn         5  1.40 s  2.72 s  3.00 s  8.20 s',
        '  in Azure           5  400 ms  540 ms  550 ms  1.95 s',
        '  in MCP             5   30 ms   88 ms  100 ms  200 ms',
        '  in the client      5  840 ms  2.15 s  2.40 s  6.05 s',
        '',
        'Azure by phase  count     p50     p95     max  errors',
        '  intent            5  300 ms  480 ms  500 ms       0',
        '  summarize         3  150 ms  240 ms  250 ms       0',
        '',
        'MCP by tool        count     p50     p95     max  errors',
        '  store_memory         4   25 ms   39 ms   40 ms       0',
        '  search_memories      1  100 ms  100 ms  100 ms       0',
        '',
        'Time across all turns: Azure 1.95 s (24%) · MCP 200 ms (2%) · client 6.05 s (74%)',
        '',
        'Slow turns (over 1.50 s): 2',
        '  TIME            TRACE     USER     TURN   AZURE     MCP  CLIENT  STATUS     TOOLS',
        `  11-14 22:14:00  ${built[4]!.traceId.slice(0, 8)}  alice  3.00 s  500 ms  100 ms  2.40 s  ✗ timeout  search_memories`,
        `  11-14 22:13:50  ${built[3]!.traceId.slice(0, 8)}  bob    1.60 s  400 ms   40 ms  1.16 s  ok         store_memory`,
        '',
      ].join('\n'),
    );
  });

  it('takes only the newest turns with --limit', async () => {
    const run = await runMemento(['traces', 'stats', '--file', file, '--limit', '2', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(json(run.stdout).turn).toMatchObject({ count: 2, p50: 2300, max: 3000 });
  });
});

describe('memento traces list', () => {
  it('lists turns newest first, with the split, tools and status', async () => {
    const run = await runMemento(['traces', 'list', '--file', file, '--limit', '3'], { env });
    expect(run.code, run.stderr).toBe(0);
    const id = (i: number) => built[i]!.traceId.slice(0, 8);
    expect(run.stdout).toBe(
      [
        'TIME            TRACE     USER     TURN   AZURE     MCP  CLIENT  STATUS     TOOLS',
        `11-14 22:14:00  ${id(4)}  alice  3.00 s  500 ms  100 ms  2.40 s  ✗ timeout  search_memories`,
        `11-14 22:13:50  ${id(3)}  bob    1.60 s  400 ms   40 ms  1.16 s  ok         store_memory`,
        `11-14 22:13:40  ${id(2)}  alice  1.40 s  550 ms   30 ms  820 ms  ok         store_memory`,
        `3 turns from ${file} (newest 3 of 5; --limit N for more)`,
        '',
      ].join('\n'),
    );
  });

  it('gives every turn as JSON', async () => {
    const run = await runMemento(['traces', 'list', '--file', file, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = json(run.stdout);
    expect(out.total).toBe(5);
    expect(out.skippedLines).toBe(1);
    expect(out.turns[4]).toEqual({
      traceId: built[0]!.traceId,
      startMs: T0,
      durationMs: 1000,
      user: 'alice',
      turnNumber: 1,
      status: 'ok',
      chatCalls: 2,
      toolCalls: 1,
      tools: ['store_memory'],
      errorSpans: 0,
      inputTokens: 300,
      outputTokens: 40,
      services: ['memento-client', 'memento-mcp-server'],
      spanCount: 7,
      split: { totalMs: 1000, azureMs: 150, mcpMs: 10, clientMs: 840 },
    });
  });

  it('reads MEMENTO_TRACE_FILE when no --file is given', async () => {
    const run = await runMemento(['traces', 'list', '--json'], { env: { MEMENTO_TRACE_FILE: file } });
    expect(run.code, run.stderr).toBe(0);
    expect(json(run.stdout).turns).toHaveLength(5);
  });

  it('says how to record turns when there are none, and succeeds', async () => {
    const missing = join(dir.path, 'none.jsonl');
    const run = await runMemento(['traces', 'list', '--file', missing]);
    expect(run).toMatchObject({ code: 0, stdout: '' });
    expect(run.stderr).toContain(`No turns in ${missing} yet.`);
    expect(run.stderr).toContain('memento ask "');

    const asJson = await runMemento(['traces', 'stats', '--file', missing, '--json']);
    expect(asJson.code).toBe(0);
    expect(json(asJson.stdout)).toMatchObject({ turns: 0, slow: [] });

    const off = await runMemento(['traces', 'list'], { env: { MEMENTO_TRACE_FILE: 'off' } });
    expect(off.code).toBe(0);
    expect(off.stderr).toContain('The trace file is off (MEMENTO_TRACE_FILE=off)');
  });
});

describe('memento traces show', () => {
  it('draws the waterfall of a turn found by a unique prefix, with its Jaeger link', async () => {
    const turn = built[0]!;
    const run = await runMemento(['traces', 'show', turn.traceId.slice(0, 8), '--file', file], {
      env: { ...env, MEMENTO_JAEGER_URL: 'http://jaeger.example:16686/' },
    });
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`trace ${turn.traceId}  2023-11-14 22:13:20  1.00 s  7 spans`);
    expect(lines.slice(2, 9).map((l) => l.slice(0, 40).trimEnd())).toEqual([
      'client invoke_agent memento',
      'client ├─ chat gpt-4o-mini intent 100→10',
      'client │  └─ POST 200',
      'client ├─ tools/call store_memory',
      'server │  └─ tools/call store_memory',
      'client └─ chat gpt-4o-mini summarize 200',
      'client    └─ POST 200',
    ]);
    expect(lines.at(-2)).toBe('1.00 s = Azure 150 ms (15%) · MCP 10 ms (1%) · client 840 ms (84%)');
    expect(lines.at(-1)).toBe(`jaeger  http://jaeger.example:16686/trace/${turn.traceId}`);
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(80);
  });

  it('shows any trace, not only turns, and gives the spans as JSON', async () => {
    const run = await runMemento(['traces', 'show', '5e', '--file', file, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = json(run.stdout);
    expect(out).toMatchObject({ traceId: hexId('5e'), turn: null, jaegerLink: `http://localhost:16686/trace/${hexId('5e')}` });
    expect(out.spans).toEqual([
      {
        traceId: hexId('5e'),
        spanId: '5e00000000000001',
        name: 'tools/list',
        service: 'memento-mcp-server',
        kind: 'server',
        startMs: T0 + 60_000,
        endMs: T0 + 60_005,
        durationMs: 5,
        attributes: { 'mcp.method.name': 'tools/list' },
        status: 'unset',
      },
    ]);
  });

  it('refuses an ambiguous, unknown or malformed id', async () => {
    const ambiguous = await runMemento(['traces', 'show', 'c0ffee0', '--file', file]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('trace id c0ffee0 is ambiguous');
    expect(ambiguous.stderr).toContain(`  ${built[0]!.traceId}`);

    const unknown = await runMemento(['traces', 'show', 'deadbeef', '--file', file]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`memento: no trace deadbeef in ${file}`);

    const malformed = await runMemento(['traces', 'show', 'not-hex', '--file', file]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('"not-hex" is not a trace id');

    const empty = await runMemento(['traces', 'show', 'abc', '--file', join(dir.path, 'none.jsonl')]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('No turns in');
  });
});
