/*
 * Conversations against the real Jaeger: two turns of one conversation (`ask`, then
 * `ask --continue`, history kept in a file) and a turn of another, exported through the real
 * collector. Jaeger's api_v3 attribute search and its own tag search (what the UI's Search
 * page sends) both find a conversation's turns by gen_ai.conversation.id, and
 * `memento traces conversations` / `show --conversation` read the same from Jaeger as from
 * the local trace file.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JaegerClient } from '../../src/traces/jaeger.ts';
import { groupTraces } from '../../src/traces/model.ts';
import { runMemento, tempDir } from '../helpers/memento.ts';
import { fileTrace, getJson, jaegerTrace, stack, telemetryEnv, waitFor } from './helpers.ts';

let root: Awaited<ReturnType<typeof tempDir>>;
let traceFile: string;
let env: Record<string, string | undefined>;
let conversationId = '';
let otherId = '';
const traceIds: string[] = [];

async function ask(args: string[]): Promise<{ traceId: string; conversationId: string; turn: number }> {
  const r = await runMemento(['ask', '--json', ...args], { env, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`memento ask exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  root = await tempDir('memento-stack-conversations-');
  traceFile = join(root.path, 'traces.jsonl');
  env = telemetryEnv(traceFile, {
    MEMENTO_DATA_DIR: join(root.path, 'data'),
    MEMENTO_USER: 'dana',
    MEMENTO_HISTORY: 'on',
    MEMENTO_HISTORY_DIR: join(root.path, 'history'),
  });
  const first = await ask(['remember that the Porto workshop is on May 12']);
  const second = await ask(['--continue', 'what do I have about Porto?']);
  const other = await ask(['what did I store?']);
  expect(second).toMatchObject({ conversationId: first.conversationId, turn: 2 });
  expect(other.conversationId).not.toBe(first.conversationId);
  conversationId = first.conversationId;
  otherId = other.conversationId;
  traceIds.push(first.traceId, second.traceId, other.traceId);
  for (const id of traceIds) {
    const expected = (await fileTrace(traceFile, id)).length;
    await waitFor(`turn ${id} whole in Jaeger`, async () => ((await jaegerTrace(id))?.spans.length === expected ? true : undefined));
  }
});

afterAll(async () => {
  await root?.cleanup();
});

const jaegerUrl = () => stack().urls.jaeger;

describe('conversations in the real Jaeger', () => {
  it('api_v3 search with query.attributes answers with its turns (Jaeger 2.13 does not filter; the client does)', async () => {
    const now = Date.now();
    const spans = await new JaegerClient(jaegerUrl()).findTraces({
      service: 'memento-client',
      startMin: new Date(now - 3_600_000),
      startMax: new Date(now + 60_000),
      limit: 100,
      attributes: { 'gen_ai.conversation.id': conversationId },
    });
    const answered = groupTraces(spans);
    expect(answered.map((t) => t.traceId)).toEqual(expect.arrayContaining([traceIds[0], traceIds[1]]));
    const mine = answered.filter((t) => t.spans.some((s) => s.attributes['gen_ai.conversation.id'] === conversationId));
    expect(mine.map((t) => t.traceId).sort()).toEqual([traceIds[0], traceIds[1]].sort());
  });

  it("Jaeger's own tag search (the UI's Search page) finds them too", async () => {
    const end = Date.now() * 1000;
    const tags = encodeURIComponent(JSON.stringify({ 'gen_ai.conversation.id': conversationId }));
    const { status, body } = await getJson(
      `${jaegerUrl()}/api/traces?service=memento-client&tags=${tags}&start=${end - 3_600_000_000}&end=${end + 60_000_000}&limit=50`,
    );
    expect(status).toBe(200);
    expect((body.data as { traceID: string }[]).map((t) => t.traceID).sort()).toEqual([traceIds[0], traceIds[1]].sort());
  });

  it('traces show --conversation reads from Jaeger what it reads from the trace file', async () => {
    const run = async (source: string[]) => {
      const r = await runMemento(['traces', 'show', '--conversation', conversationId, '--json', ...source], { env: { MEMENTO_TRACE_FILE: traceFile } });
      if (r.code !== 0) throw new Error(r.stderr);
      const { source: _s, ...rest } = JSON.parse(r.stdout);
      return rest as { turns: number; turnList: { traceId: string; turnNumber: number }[] };
    };
    const [file, jaeger] = await Promise.all([run(['--file', traceFile]), run(['--jaeger', jaegerUrl()])]);
    expect(jaeger.turns).toBe(2);
    expect(jaeger.turnList.map((t) => [t.turnNumber, t.traceId])).toEqual([
      [1, traceIds[0]],
      [2, traceIds[1]],
    ]);
    expect(jaeger).toEqual(file);
    // The time to the first answer token survives the collector (whose redaction drops keys ending in "token").
    expect(jaeger.turnList.every((t) => typeof (t as { firstTokenMs?: number }).firstTokenMs === 'number')).toBe(true);
  });

  it('traces conversations lists both conversations from Jaeger', async () => {
    const r = await runMemento(['traces', 'conversations', '--json', '--jaeger', jaegerUrl()], { env: {} });
    expect(r.code, r.stderr).toBe(0);
    const listed = JSON.parse(r.stdout).conversations as { conversationId: string; turns: number; user: string }[];
    expect(listed.find((c) => c.conversationId === conversationId)).toMatchObject({ turns: 2, user: 'dana' });
    expect(listed.find((c) => c.conversationId === otherId)).toMatchObject({ turns: 1, user: 'dana' });
  });
});
