/*
 * The GenAI spans of a turn, read in-process from an in-memory exporter: a real Session
 * against the simulator and a Memento MCP server in this process (real HTTP on loopback),
 * every span compared whole through one assertion per span kind (test/helpers/assert-span.ts).
 * The child-process tests (turn-trace.test.ts) still check what leaves the processes over OTLP.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Session } from '../../src/client/session.ts';
import { startHttpServer, type RunningHttpServer } from '../../src/server/index.ts';
import { startSimulator } from '../../src/simulator/server.ts';
import type { RunningSimulator } from '../../src/simulator/types.ts';
import { assertChatSpan, assertInvokeAgentSpan, assertStorageSpan, assertToolCallSpan } from '../helpers/assert-span.ts';
import { installInMemoryOtel } from '../helpers/in-memory-otel.ts';
import { tempDir } from '../helpers/memento.ts';

const otel = installInMemoryOtel();
const KEY = 'sk-in-process-test-0000000000';
let data: Awaited<ReturnType<typeof tempDir>>;
let simulator: RunningSimulator;
let server: RunningHttpServer;

beforeAll(async () => {
  data = await tempDir('memento-genai-spans-');
  simulator = await startSimulator({ port: 0 });
  server = await startHttpServer({ dataDir: data.path, port: 0 });
});
afterAll(async () => {
  await server.close();
  await simulator.close();
  await data.cleanup();
  await otel.shutdown();
});
beforeEach(() => otel.reset());
afterEach(() => vi.unstubAllEnvs());

/** One turn of a fresh session; its spans once the session is closed. */
async function turn(text: string, env: Record<string, string> = {}) {
  const session = await Session.open({
    env: {
      AZURE_OPENAI_ENDPOINT: simulator.url,
      AZURE_OPENAI_API_KEY: KEY,
      MEMENTO_MCP_URL: `${server.url}/mcp`,
      MEMENTO_MODEL_MAX_RETRIES: '0',
      ...env,
    },
  });
  try {
    const result = await session.agent.runTurn(text, { user: 'alice' });
    return { result, spans: otel.spans().filter((s) => s.spanContext().traceId === result.traceId) };
  } finally {
    await session.close();
  }
}

const model = () => ({ model: 'gpt-4o-mini', provider: 'azure.ai.openai', port: Number(new URL(simulator.url).port) });
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);

describe('the spans of a turn, in process', () => {
  it('a store turn: invoke_agent, two chat spans, tools/call on both sides, the storage write', async () => {
    const { result, spans } = await turn('remember that spans are compared whole');
    expect(result.ok).toBe(true);
    const root = named(spans, 'invoke_agent memento')[0]!;
    assertInvokeAgentSpan(root, { user: 'alice', turnNumber: 1, counts: { chatCalls: 2, toolCalls: 1, toolRounds: 1 }, model: model() });

    const chats = named(spans, 'chat gpt-4o-mini');
    expect(chats).toHaveLength(2);
    assertChatSpan(chats[0]!, { ...model(), phase: 'intent', finishReasons: ['tool_calls'], responseModel: 'memento-simulator' });
    assertChatSpan(chats[1]!, { ...model(), phase: 'summarize', finishReasons: ['stop'], responseModel: 'memento-simulator' });
    for (const chat of chats) expect(parentOf(chat)).toBe(idOf(root));

    const [client, ...moreClients] = spans.filter((s) => s.name === 'tools/call store_memory' && parentOf(s) === idOf(root));
    expect(moreClients).toEqual([]);
    assertToolCallSpan(client!, { side: 'client', tool: 'store_memory', port: server.port, callId: result.tools[0]!.callId });
    const [served, ...moreServed] = spans.filter((s) => s.name === 'tools/call store_memory' && parentOf(s) === idOf(client!));
    expect(moreServed).toEqual([]);
    assertToolCallSpan(served!, { side: 'server', tool: 'store_memory' });
    expect(served!.attributes['jsonrpc.request.id']).toBe(client!.attributes['jsonrpc.request.id']);

    const storage = spans.filter((s) => s.name.startsWith('memento.storage.'));
    expect(storage.length).toBeGreaterThan(0);
    for (const s of storage) expect(parentOf(s)).toBe(idOf(served!));
    const id = /\(id ([^)]+)\)/.exec(result.answer)?.[1];
    assertStorageSpan(named(spans, 'memento.storage.write')[0]!, 'write', {
      'memento.memory.id': id,
      'memento.memory.content.size': Buffer.byteLength('spans are compared whole'),
    });
  });

  it('with content capture on: prompts, answers and tool arguments are on the spans, exactly those', async () => {
    vi.stubEnv('OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT', 'true');
    const { result, spans } = await turn('search for compared');
    expect(result.ok).toBe(true);
    const [intent, summarize] = named(spans, 'chat gpt-4o-mini');
    const captured = {
      'gen_ai.system_instructions': expect.any(String),
      'gen_ai.input.messages': expect.any(String),
      'gen_ai.output.messages': expect.any(String),
    };
    assertChatSpan(intent!, { ...model(), phase: 'intent', finishReasons: ['tool_calls'], responseModel: 'memento-simulator', content: captured });
    assertChatSpan(summarize!, { ...model(), phase: 'summarize', finishReasons: ['stop'], responseModel: 'memento-simulator', content: captured });
    expect(JSON.parse(String(intent!.attributes['gen_ai.input.messages']))).toContainEqual({
      role: 'user',
      parts: [{ type: 'text', content: 'search for compared' }],
    });

    const tool = { 'gen_ai.tool.call.arguments': JSON.stringify({ query: 'compared' }), 'gen_ai.tool.call.result': expect.any(String) };
    const client = spans.find((s) => s.name === 'tools/call search_memories' && parentOf(s) === idOf(named(spans, 'invoke_agent memento')[0]!))!;
    assertToolCallSpan(client, { side: 'client', tool: 'search_memories', port: server.port, callId: result.tools[0]!.callId, content: tool });
    const served = spans.find((s) => s.name === 'tools/call search_memories' && parentOf(s) === idOf(client))!;
    assertToolCallSpan(served, { side: 'server', tool: 'search_memories', content: tool });
  });

  it('a refused model call: the chat span and the turn are ERROR with the same error.type, no response attributes', async () => {
    const strict = await startSimulator({ port: 0, apiKey: KEY });
    try {
      const { result, spans } = await turn('remember that this fails', {
        AZURE_OPENAI_ENDPOINT: strict.url,
        AZURE_OPENAI_API_KEY: 'sk-wrong-key-000000000000',
      });
      expect(result.ok).toBe(false);
      expect(result.error?.type).toBe('401');
      const refused = { ...model(), port: Number(new URL(strict.url).port) };
      assertInvokeAgentSpan(named(spans, 'invoke_agent memento')[0]!, {
        user: 'alice',
        turnNumber: 1,
        // The counts are of calls made, the refused one included, as a cancelled turn counts
        // the call that was in flight: seconds in Azure never sit beside "0 model calls".
        counts: { chatCalls: 1, toolCalls: 0, toolRounds: 0 },
        model: refused,
        errorType: '401',
      });
      assertChatSpan(named(spans, 'chat gpt-4o-mini')[0]!, { ...refused, phase: 'intent', errorType: '401' });
    } finally {
      await strict.close();
    }
  });
});
