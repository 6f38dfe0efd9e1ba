/*
 * The client's model calls against responses shaped exactly as Azure OpenAI sends them,
 * served by a real HTTP server in the test: the empty-choices first chunk that only carries
 * prompt_filter_results, content_filter_results on every choice, tool-call arguments split
 * across chunks, two tool calls streamed interleaved, and the usage chunk.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentFetch, createAgent } from '../../src/client/http.ts';
import { Model } from '../../src/client/model.ts';

const filters = {
  hate: { filtered: false, severity: 'safe' },
  self_harm: { filtered: false, severity: 'safe' },
  sexual: { filtered: false, severity: 'safe' },
  violence: { filtered: false, severity: 'safe' },
};
const promptFilter = [{ prompt_index: 0, content_filter_results: filters }];
const base = { id: 'chatcmpl-AZ1', object: 'chat.completion.chunk', created: 1731000000, model: 'gpt-4o-mini-2024-07-18', system_fingerprint: 'fp_azure' };

const streamedToolCalls = [
  { ...base, id: '', model: '', created: 0, object: '', choices: [], prompt_filter_results: promptFilter },
  { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_one', type: 'function', function: { name: 'store_memory', arguments: '' } }] }, finish_reason: null, content_filter_results: {} }] },
  { ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"cont' } }] }, finish_reason: null, content_filter_results: {} }] },
  { ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 1, id: 'call_two', type: 'function', function: { name: 'store_memory', arguments: '{"content":' } }] }, finish_reason: null, content_filter_results: {} }] },
  { ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: 'ent":"buy milk"}' } }] }, finish_reason: null, content_filter_results: {} }] },
  { ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 1, function: { arguments: '"call mom"}' } }] }, finish_reason: null, content_filter_results: {} }] },
  { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls', content_filter_results: {} }] },
  { ...base, choices: [], usage: { prompt_tokens: 321, completion_tokens: 45, total_tokens: 366 } },
];

const streamedText = [
  { ...base, id: '', model: '', created: 0, object: '', choices: [], prompt_filter_results: promptFilter },
  { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, content_filter_results: {} }] },
  { ...base, choices: [{ index: 0, delta: { content: 'Stored ' }, finish_reason: null, content_filter_results: filters }] },
  { ...base, choices: [{ index: 0, delta: { content: 'both.' }, finish_reason: null, content_filter_results: filters }] },
  { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop', content_filter_results: {} }] },
  { ...base, choices: [], usage: { prompt_tokens: 400, completion_tokens: 3, total_tokens: 403 } },
];

const whole = {
  id: 'chatcmpl-AZ2',
  object: 'chat.completion',
  created: 1731000000,
  model: 'gpt-4o-mini-2024-07-18',
  prompt_filter_results: promptFilter,
  choices: [
    {
      index: 0,
      finish_reason: 'tool_calls',
      logprobs: null,
      content_filter_results: {},
      message: {
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'search_memories', arguments: '{"query":"offsite"}' } },
          { id: 'call_b', type: 'function', function: { name: 'retrieve_memories', arguments: '{"limit":5}' } },
        ],
      },
    },
  ],
  usage: { prompt_tokens: 250, completion_tokens: 30, total_tokens: 280 },
};

let server: Server;
let url = '';
const seen: { path: string; apiKey: string | undefined; body: any }[] = [];
let reply: 'tools' | 'text' = 'tools';

async function body(req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const b = await body(req);
    seen.push({ path: req.url ?? '', apiKey: req.headers['api-key'] as string | undefined, body: b });
    res.setHeader('apim-request-id', 'f1e2d3');
    if (!b.stream) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(whole));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const chunk of reply === 'tools' ? streamedToolCalls : streamedText) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function model(stream: boolean) {
  return Model.connect(
    { provider: 'azure', deployment: 'memento-gpt', endpoint: url, apiKey: 'azure-key-123456', apiVersion: '2024-10-21' },
    { fetch: agentFetch(createAgent(), 'AZURE_OPENAI'), timeoutMs: 5000, maxRetries: 0, stream },
  );
}

const messages = [{ role: 'user' as const, content: 'remember: buy milk; remember: call mom' }];

describe('the model client against Azure-shaped responses', () => {
  it('reassembles parallel tool calls whose arguments are split across stream chunks', async () => {
    reply = 'tools';
    const m = await model(true);
    const answer = await m.chat({ messages, tools: [] });
    expect(answer).toEqual({
      id: 'chatcmpl-AZ1',
      model: 'gpt-4o-mini-2024-07-18',
      content: '',
      toolCalls: [
        { id: 'call_one', name: 'store_memory', arguments: '{"content":"buy milk"}' },
        { id: 'call_two', name: 'store_memory', arguments: '{"content":"call mom"}' },
      ],
      finishReason: 'tool_calls',
      inputTokens: 321,
      outputTokens: 45,
      streamed: true,
      firstChunkMs: expect.any(Number),
      // Five chunks carry tool-call deltas; the prompt-filter and usage chunks carry none.
      chunkGapsMs: [expect.any(Number), expect.any(Number), expect.any(Number), expect.any(Number)],
    });
    expect(answer.firstChunkMs).toBeGreaterThan(0);
    const last = seen.at(-1)!;
    expect(last.path).toBe('/openai/deployments/memento-gpt/chat/completions?api-version=2024-10-21');
    expect(last.apiKey).toBe('azure-key-123456');
    expect(last.body.stream_options).toEqual({ include_usage: true });
  });

  it('streams text deltas to the caller as they arrive', async () => {
    reply = 'text';
    const m = await model(true);
    const deltas: string[] = [];
    const answer = await m.chat({ messages, tools: [], onText: (d) => deltas.push(d) });
    expect(deltas).toEqual(['Stored ', 'both.']);
    expect(answer.content).toBe('Stored both.');
    expect(answer.finishReason).toBe('stop');
    expect(answer.inputTokens).toBe(400);
  });

  it('reads a whole (non-streamed) response with content-filter fields and parallel tool calls', async () => {
    const m = await model(false);
    const answer = await m.chat({ messages, tools: [] });
    expect(answer.toolCalls.map((t) => [t.name, JSON.parse(t.arguments)])).toEqual([
      ['search_memories', { query: 'offsite' }],
      ['retrieve_memories', { limit: 5 }],
    ]);
    expect(answer).toMatchObject({ id: 'chatcmpl-AZ2', finishReason: 'tool_calls', inputTokens: 250, outputTokens: 30, streamed: false });
    // Time to first chunk is a streaming measure only (gen-ai metrics: "SHOULD NOT be reported otherwise").
    expect(answer.firstChunkMs).toBeUndefined();
    expect(seen.at(-1)!.body.stream).toBe(false);
  });
});
