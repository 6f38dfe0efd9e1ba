/*
 * `memento traces list|show|stats --jaeger URL` against the real Jaeger gives what the same
 * command gives on the local trace file of the same turns: the same turns in the same order,
 * the same splits (Azure / MCP / client), the same counts and percentiles, the same waterfall.
 * Jaeger is restarted first (its storage is in memory), so it holds exactly these turns.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemento, tempDir } from '../helpers/memento.ts';
import { startProgram, stopProgram } from '../../scripts/stack/run.ts';
import { ask, fileTrace, jaegerTrace, stack, telemetryEnv, waitFor } from './helpers.ts';

let root: Awaited<ReturnType<typeof tempDir>>;
let traceFile: string;
const traceIds: string[] = [];

beforeAll(async () => {
  root = await tempDir('memento-stack-traces-');
  traceFile = join(root.path, 'traces.jsonl');
  const state = stack();
  await stopProgram(state, 'jaeger');
  await startProgram(state, 'jaeger');
  const env = telemetryEnv(traceFile, { MEMENTO_DATA_DIR: join(root.path, 'data'), MEMENTO_USER: 'carol' });
  for (const text of [
    'remember that the Lisbon offsite is on June 3',
    'what do I have about Lisbon?',
    'remember that the badge office opens at 9',
  ]) {
    traceIds.push((await ask(text, env)).traceId);
  }
  // Every turn whole in Jaeger: as many spans as the file holds for it.
  for (const id of traceIds) {
    const expected = (await fileTrace(traceFile, id)).length;
    await waitFor(`turn ${id} whole in Jaeger`, async () => ((await jaegerTrace(id))?.spans.length === expected ? true : undefined));
  }
});

afterAll(async () => {
  await root?.cleanup();
});

async function traces(args: string[]): Promise<string> {
  const result = await runMemento(['traces', ...args], { env: { MEMENTO_TRACE_FILE: traceFile } });
  if (result.code !== 0) throw new Error(`memento traces ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

const both = async (args: string[]) => {
  const jaegerUrl = stack().urls.jaeger;
  const [file, jaeger] = await Promise.all([traces([...args, '--file', traceFile]), traces([...args, '--jaeger', jaegerUrl])]);
  return { file, jaeger };
};

/** The JSON answer without where it came from. */
function content(text: string): unknown {
  const { source: _source, jaegerLink: _link, ...rest } = JSON.parse(text) as Record<string, unknown>;
  return rest;
}

describe('memento traces --jaeger against the real Jaeger', () => {
  it('list: the same turns, newest first, with the same splits', async () => {
    const { file, jaeger } = await both(['list', '--json']);
    const fromJaeger = content(jaeger) as { total: number; turns: { traceId: string }[] };
    expect(fromJaeger.total).toBe(3);
    expect(fromJaeger.turns.map((t) => t.traceId)).toEqual([...traceIds].reverse());
    expect(fromJaeger).toEqual(content(file));
  });

  it('show: the same turn and spans, and the same waterfall', async () => {
    const id = traceIds[0]!;
    const json = await both(['show', id, '--json']);
    expect(content(json.jaeger)).toEqual(content(json.file));
    const text = await both(['show', id]);
    const waterfall = (out: string) => out.split('\n').filter((l) => !l.startsWith('jaeger ')).join('\n');
    expect(waterfall(text.jaeger)).toContain('invoke_agent memento');
    expect(waterfall(text.jaeger)).toBe(waterfall(text.file));
  });

  it('stats: the same counts, percentiles and slow turns', async () => {
    // Only this file's three turns: the collector's tail sampler can still hand Jaeger an older
    // turn of another test file after the restart (it holds traces for its decision wait).
    const { file, jaeger } = await both(['stats', '--json', '--slow', '1', '--limit', '3']);
    const fromJaeger = content(jaeger);
    expect(JSON.stringify(fromJaeger)).toContain(traceIds[1]!);
    expect(fromJaeger).toEqual(content(file));
  });
});
