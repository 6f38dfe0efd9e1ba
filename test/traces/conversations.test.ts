/*
 * `memento traces conversations` and `memento traces show --conversation ID`, through the
 * real command, over a trace file and over Jaeger's api_v3 (the in-repo stand-in, which
 * answers `query.attributes` searches as Jaeger v2 does). Turn times are round so the totals
 * and the p95 can be worked out by hand: p95 of 1000, 2000, 3000 ms sits at index 1.9 → 2900.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { runMemento, tempDir } from '../helpers/memento.ts';
import { FakeJaeger } from './fake-jaeger.ts';
import { buildTurn, hexId, writeTraceFile, type BuiltTurn } from './fixtures.ts';

const ALICE = '11111111-2222-4333-8444-555555555555';
const BOB = '99999999-8888-4777-8666-555555555555';
let dir: { path: string; cleanup: () => Promise<void> };
let file: string;
const jaeger = new FakeJaeger();
const built: BuiltTurn[] = [];
const env = { TZ: 'UTC' };

beforeAll(async () => {
  dir = await tempDir('memento-conversations-');
  file = join(dir.path, 'traces.jsonl');
  // Recent times, so that Jaeger's 7-day search window holds them.
  const t0 = Date.now() - 3_600_000;
  const chat = (input: number, output: number) => ({ phase: 'intent' as const, at: 0, ms: 200, input, output });
  built.push(
    await buildTurn({ traceId: hexId('a1'), startMs: t0, ms: 1000, user: 'alice', turn: 1, conversationId: ALICE, firstTokenMs: 400, chats: [chat(100, 10)], tools: [{ tool: 'store_memory', at: 200, ms: 100, server: { at: 201, ms: 98 } }] }),
    await buildTurn({ traceId: hexId('a2'), startMs: t0 + 10_000, ms: 2000, user: 'alice', turn: 2, conversationId: ALICE, firstTokenMs: 600, chats: [chat(200, 20)] }),
    await buildTurn({ traceId: hexId('a3'), startMs: t0 + 20_000, ms: 3000, user: 'alice', turn: 3, conversationId: ALICE, errorType: 'timeout', chats: [chat(300, 0)], tools: [{ tool: 'search_memories', at: 200, ms: 50 }, { tool: 'get_memory', at: 250, ms: 50 }] }),
    await buildTurn({ traceId: hexId('b1'), startMs: t0 + 30_000, ms: 500, user: 'bob', turn: 1, conversationId: BOB, chats: [chat(50, 5)] }),
    // A turn from before conversation ids: it belongs to no conversation.
    await buildTurn({ traceId: hexId('c1'), startMs: t0 + 40_000, ms: 700, user: 'carol', turn: 1, chats: [chat(1, 1)] }),
  );
  await writeTraceFile(file, built);
  await jaeger.add(...built).start();
});
afterAll(async () => {
  await jaeger.stop();
  await dir.cleanup();
});

describe('memento traces conversations (trace file)', () => {
  it('lists each conversation with its turns, times, tokens, tool calls and errors', async () => {
    const r = await runMemento(['traces', 'conversations', '--file', file, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.total).toBe(2);
    expect(out.conversations).toEqual([
      expect.objectContaining({ conversationId: BOB, user: 'bob', turns: 1, totalMs: 500, p95Ms: 500, inputTokens: 50, outputTokens: 5, toolCalls: 0, errors: 0 }),
      expect.objectContaining({
        conversationId: ALICE,
        user: 'alice',
        turns: 3,
        firstMs: expect.any(Number),
        totalMs: 6000,
        p95Ms: 2900,
        inputTokens: 600,
        outputTokens: 30,
        toolCalls: 3,
        errors: 1,
        firstTokenP95Ms: 590,
      }),
    ]);
    expect(out.conversations[1].lastMs - out.conversations[1].firstMs).toBe(20_000);
  });

  it('prints a table, most recently active first', async () => {
    const r = await runMemento(['traces', 'conversations', '--file', file], { env });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^CONVERSATION\s+USER\s+TURNS\s+FIRST\s+LAST\s+TOTAL\s+P95 TURN\s+TOKENS IN→OUT\s+TOOLS\s+ERRORS$/);
    expect(lines[1]).toMatch(/^99999999\s+bob\s+1\s.*500 ms\s+500 ms\s+50→5\s+0\s+0$/);
    expect(lines[2]).toMatch(/^11111111\s+alice\s+3\s.*6\.00 s\s+2\.90 s\s+600→30\s+3\s+1$/);
    expect(lines.at(-1)).toBe(`2 conversations from ${file}`);
  });

  it('shows one conversation’s turns in order with each turn’s split, by a unique prefix', async () => {
    const r = await runMemento(['traces', 'show', '--conversation', '1111', '--file', file], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`conversation ${ALICE}  alice  3 turns`);
    expect(r.stdout).toContain('total 6.00 s · p95 turn 2.90 s · p95 first token 590 ms · tokens 600→30 · 3 tool calls · 1 failed');
    const rows = r.stdout.split('\n').filter((l) => /^#\d/.test(l));
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(['#1', '#2', '#3']);
    // Turn 1: 1 s, first token 400 ms, Azure 200 ms, MCP 100 ms, the rest in the client.
    expect(rows[0]).toMatch(/^#1\s.*a1000000\s+1\.00 s\s+400 ms\s+200 ms\s+100 ms\s+700 ms\s+ok\s+store_memory$/);
    expect(rows[2]).toMatch(/✗ timeout\s+search_memories, get_memory$/);
  });

  it('says so when the conversation is unknown, and refuses a malformed id', async () => {
    const none = await runMemento(['traces', 'conversations', '--conversation', 'ffff', '--file', file], { env });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`memento: no conversation ffff in ${file}`);
    const bad = await runMemento(['traces', 'show', '--conversation', 'a b', '--file', file], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"a b" is not a conversation id');
  });
});

describe('memento traces … --jaeger (api_v3)', () => {
  it('finds a conversation by gen_ai.conversation.id with an attribute search', async () => {
    jaeger.requests.length = 0;
    const r = await runMemento(['traces', 'show', '--conversation', ALICE, '--jaeger', jaeger.url, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const search = jaeger.requests.find((u) => u.pathname === '/api/v3/traces');
    expect(JSON.parse(search?.searchParams.get('query.attributes') ?? '{}')).toEqual({ 'gen_ai.conversation.id': ALICE });
    const out = JSON.parse(r.stdout);
    expect(out.source).toEqual({ kind: 'jaeger', url: jaeger.url });
    expect(out.turnList.map((t: { traceId: string }) => t.traceId)).toEqual([hexId('a1'), hexId('a2'), hexId('a3')]);
    expect(out.turnList[0].split).toEqual({ totalMs: 1000, azureMs: 200, mcpMs: 100, clientMs: 700 });
  });

  it('lists the conversations Jaeger holds', async () => {
    const r = await runMemento(['traces', 'conversations', '--jaeger', jaeger.url, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).conversations.map((c: { conversationId: string; turns: number }) => [c.conversationId, c.turns])).toEqual([
      [BOB, 1],
      [ALICE, 3],
    ]);
  });
});
