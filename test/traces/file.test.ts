import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readTraceFile } from '../../src/traces/file.ts';
import { groupTurns } from '../../src/traces/model.ts';
import { tempDir } from '../helpers/memento.ts';
import { buildTurn, otlpBody, T0, writeTraceFile } from './fixtures.ts';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir('memento-traces-');
});
afterEach(() => dir.cleanup());

describe('readTraceFile', () => {
  it('reads every batch the exporter wrote, client and server lines joined into their turns', async () => {
    const a = await buildTurn({ startMs: T0, ms: 500, tools: [{ tool: 'store_memory', at: 10, ms: 100, server: { at: 12, ms: 90 } }] });
    const b = await buildTurn({ startMs: T0 + 1000, ms: 300 });
    const path = join(dir.path, 'traces.jsonl');
    await writeTraceFile(path, [a, b]);
    expect((await readFile(path, 'utf8')).trimEnd().split('\n')).toHaveLength(3);

    const contents = await readTraceFile(path);
    expect(contents).toMatchObject({ files: [path], skippedLines: 0 });
    const turns = groupTurns(contents.spans);
    expect(turns.map((t) => [t.traceId, t.spans.length])).toEqual([
      [b.traceId, 1],
      [a.traceId, 3],
    ]);
  });

  it('skips a torn last line and lines that are not OTLP/JSON, and counts them', async () => {
    const a = await buildTurn({ startMs: T0, ms: 500, chats: [{ phase: 'intent', at: 0, ms: 100 }] });
    const b = await buildTurn({ startMs: T0 + 1000, ms: 300 });
    const path = join(dir.path, 'traces.jsonl');
    await writeTraceFile(path, [a]);
    const whole = JSON.stringify(otlpBody(b.client));
    await appendFile(path, 'not json at all\n{"some":"other json"}\n\n[1,2,3]\n' + whole.slice(0, whole.length / 2));

    const contents = await readTraceFile(path);
    expect(contents.skippedLines).toBe(4);
    expect(groupTurns(contents.spans).map((t) => t.traceId)).toEqual([a.traceId]);
  });

  it('reads the rotated file first, then the current one', async () => {
    const big = await buildTurn({
      startMs: T0,
      ms: 900,
      chats: [
        { phase: 'intent', at: 0, ms: 100 },
        { phase: 'summarize', at: 200, ms: 100 },
      ],
    });
    const small = await buildTurn({ startMs: T0 + 5000, ms: 100 });
    const path = join(dir.path, 'traces.jsonl');
    // A cap just under the first batch: writing it rotates the file to .1, the second stays.
    const cap = JSON.stringify(otlpBody(big.client)).length;
    await writeTraceFile(path, [big, small], cap);
    expect((await stat(`${path}.1`)).size).toBeGreaterThan(cap);
    expect((await stat(path)).size).toBeLessThanOrEqual(cap);

    const contents = await readTraceFile(path);
    expect(contents.files).toEqual([`${path}.1`, path]);
    expect(groupTurns(contents.spans).map((t) => t.traceId)).toEqual([small.traceId, big.traceId]);
  });

  it('is empty, not an error, when there is no file yet', async () => {
    expect(await readTraceFile(join(dir.path, 'nothing-here.jsonl'))).toEqual({ spans: [], files: [], skippedLines: 0 });
  });

  it('names the path when the file cannot be read', async () => {
    const path = join(dir.path, 'a-directory');
    await mkdir(path);
    await expect(readTraceFile(path)).rejects.toThrow(`cannot read the trace file ${path}: EISDIR`);
  });

  it('streams a large file', async () => {
    const turn = await buildTurn({
      startMs: T0,
      ms: 1000,
      chats: [{ phase: 'intent', at: 0, ms: 400, input: 10, output: 2 }],
      tools: [{ tool: 'store_memory', at: 400, ms: 100 }],
    });
    const line = JSON.stringify(otlpBody(turn.client));
    const count = 4000;
    // The same batch again and again under fresh trace ids: about 10 MB of real lines.
    const lines: string[] = [];
    for (let i = 0; i < count; i++) lines.push(line.replaceAll(turn.traceId, i.toString(16).padStart(32, '0')));
    const path = join(dir.path, 'traces.jsonl');
    await writeFile(path, lines.join('\n') + '\n');
    expect((await stat(path)).size).toBeGreaterThan(4 * 1024 * 1024);

    const contents = await readTraceFile(path);
    expect(contents.skippedLines).toBe(0);
    expect(groupTurns(contents.spans)).toHaveLength(count);
  });
});
