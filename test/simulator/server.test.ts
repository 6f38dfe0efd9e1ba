/*
 * The simulator in-process, spoken to by the real `openai` package exactly as the Memento
 * client speaks to Azure: AzureOpenAI with endpoint, api-version and deployment, and the
 * plain OpenAI client on …/v1. Tool results are written by hand here; the end-to-end run
 * with a real MCP server belongs to the client's tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI, { AzureOpenAI } from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/simulator/server.ts';
import { simulatorOptionsFromEnv } from '../../src/simulator/env.ts';
import { parseFaults } from '../../src/simulator/faults.ts';
import { MEMENTO_TOOLS, NOW, RENAMED_TOOLS } from './fixtures.ts';

// AzureOpenAI refuses an endpoint when OPENAI_BASE_URL is also set; a developer's shell must not decide this test.
delete process.env.OPENAI_BASE_URL;

const API_VERSION = '2024-10-21';
const DEPLOYMENT = 'gpt-4o-mini';

function azure(sim: RunningSimulator, options: Partial<ConstructorParameters<typeof AzureOpenAI>[0]> = {}) {
  return new AzureOpenAI({ endpoint: sim.url, apiKey: 'test-key', apiVersion: API_VERSION, deployment: DEPLOYMENT, maxRetries: 0, ...options });
}

/** Azure's additions to the OpenAI shapes, which the package's types leave out. */
type AzureExtras = { prompt_filter_results?: unknown[]; choices: { content_filter_results?: unknown }[] };

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** Reassembles streamed tool calls the way a client must: by index, arguments concatenated. */
function toolCallsOf(chunks: ChatCompletionChunk[]) {
  const calls: { id?: string; name?: string; fragments: string[] }[] = [];
  for (const chunk of chunks) {
    for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
      const call = (calls[tc.index] ??= { fragments: [] });
      if (tc.id) call.id = tc.id;
      if (tc.function?.name) call.name = tc.function.name;
      if (tc.function?.arguments) call.fragments.push(tc.function.arguments);
    }
  }
  return calls;
}

let sim: RunningSimulator;
beforeAll(async () => {
  sim = await startSimulator({ now: () => NOW });
});
afterAll(async () => {
  await sim.close();
});

describe('Azure chat completions, not streamed', () => {
  it('answers a store request with an Azure-shaped tool call', async () => {
    const { data, response } = await azure(sim)
      .chat.completions.create({ model: DEPLOYMENT, messages: [{ role: 'user', content: 'remember buy milk #shopping' }], tools: MEMENTO_TOOLS })
      .withResponse();
    expect(data).toMatchObject({ object: 'chat.completion', model: 'memento-simulator' });
    expect(data.id).toMatch(/^chatcmpl-\w{29}$/);
    expect(data.created).toBe(Math.floor(NOW.getTime() / 1000));
    const choice = data.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const call = choice.message.tool_calls![0]!;
    expect(call.id).toMatch(/^call_\w{24}$/);
    expect(call.type === 'function' && call.function.name).toBe('store_memory');
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ content: 'buy milk', tags: ['shopping'] });
    expect((data as unknown as AzureExtras).prompt_filter_results).toEqual([
      expect.objectContaining({ prompt_index: 0, content_filter_results: expect.objectContaining({ hate: { filtered: false, severity: 'safe' } }) }),
    ]);
    expect((data as unknown as AzureExtras).choices[0]!.content_filter_results).toEqual({});
    expect(data.usage!.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);
    expect(data.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get('apim-request-id')).toBe(response.headers.get('x-request-id'));
    expect(Number(response.headers.get('x-ratelimit-remaining-requests'))).toBeGreaterThan(0);
    expect(response.headers.get('x-ms-deployment-name')).toBe(DEPLOYMENT);
  });

  it('answers a plain message with text and content filter results', async () => {
    const data = await azure(sim).chat.completions.create({ model: DEPLOYMENT, messages: [{ role: 'user', content: 'hello there' }], tools: MEMENTO_TOOLS });
    expect(data.choices[0]!.finish_reason).toBe('stop');
    expect(data.choices[0]!.message.content).toMatch(/Memento simulator.*not a language model/);
    expect((data as unknown as AzureExtras).choices[0]!.content_filter_results).toMatchObject({ violence: { filtered: false, severity: 'safe' } });
  });

  it('reads dates against its clock: "yesterday" is the whole UTC day before now', async () => {
    const data = await azure(sim).chat.completions.create({
      model: DEPLOYMENT,
      messages: [{ role: 'user', content: 'What did I store yesterday?' }],
      tools: MEMENTO_TOOLS,
    });
    const call = data.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && [call.function.name, JSON.parse(call.function.arguments)]).toEqual([
      'retrieve_memories',
      { since: '2024-07-15T00:00:00.000Z', until: '2024-07-15T23:59:59.999Z' },
    ]);
  });

  it('asks for several stores at once as parallel tool calls', async () => {
    const data = await azure(sim).chat.completions.create({
      model: DEPLOYMENT,
      messages: [{ role: 'user', content: 'remember the plumber comes at 9\nremember to buy bread #food' }],
      tools: MEMENTO_TOOLS,
    });
    const calls = data.choices[0]!.message.tool_calls!.map((c) => (c.type === 'function' ? [c.function.name, JSON.parse(c.function.arguments)] : []));
    expect(calls).toEqual([
      ['store_memory', { content: 'the plumber comes at 9' }],
      ['store_memory', { content: 'to buy bread', tags: ['food'] }],
    ]);
    expect(new Set(data.choices[0]!.message.tool_calls!.map((c) => c.id)).size).toBe(2);
  });

  it('still finds the tools when they are renamed and reworded', async () => {
    const data = await azure(sim).chat.completions.create({ model: DEPLOYMENT, messages: [{ role: 'user', content: 'search for dentist' }], tools: RENAMED_TOOLS });
    const call = data.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && [call.function.name, JSON.parse(call.function.arguments)]).toEqual(['lookup', { phrase: 'dentist' }]);
  });

  it("adds user_id when asked for someone else's memories, although no schema offers it", async () => {
    const data = await azure(sim).chat.completions.create({ model: DEPLOYMENT, messages: [{ role: 'user', content: "show bob's memories" }], tools: MEMENTO_TOOLS });
    const call = data.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ user_id: 'bob' });
  });

  it('deletes in two rounds: search, then delete the best hit, then a summary', async () => {
    const client = azure(sim);
    const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: 'forget the memory about the dentist' }];
    const round = async () => (await client.chat.completions.create({ model: DEPLOYMENT, messages, tools: MEMENTO_TOOLS })).choices[0]!;

    const first = await round();
    const search = first.message.tool_calls![0]!;
    expect(search.type === 'function' && [search.function.name, JSON.parse(search.function.arguments)]).toEqual(['search_memories', { query: 'dentist' }]);
    messages.push(first.message, {
      role: 'tool',
      tool_call_id: search.id,
      content: JSON.stringify({ memories: [{ id: 'm1', content: 'buy milk' }, { id: 'm2', content: 'Dentist on Friday at 9' }] }),
    });

    const second = await round();
    expect(second.finish_reason).toBe('tool_calls');
    const del = second.message.tool_calls![0]!;
    expect(del.type === 'function' && [del.function.name, JSON.parse(del.function.arguments)]).toEqual(['delete_memory', { id: 'm2' }]);
    messages.push(second.message, { role: 'tool', tool_call_id: del.id, content: '{"deleted":true,"id":"m2"}' });

    const third = await round();
    expect(third.finish_reason).toBe('stop');
    expect(third.message.content).toBe('Deleted "Dentist on Friday at 9" (id m2).');
  });

  it('sums up tool results, and a tool error in words', async () => {
    const client = azure(sim);
    const ask = (content: string): ChatCompletionMessageParam[] => [
      { role: 'user', content: 'what did I store yesterday?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'retrieve_memories', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content },
    ];
    const ok = await client.chat.completions.create({
      model: DEPLOYMENT,
      tools: MEMENTO_TOOLS,
      messages: ask(JSON.stringify({ memories: [{ id: 'm1', content: 'Buy milk', created_at: '2024-07-15T08:00:00Z' }, { id: 'm2', content: 'Call mom' }] })),
    });
    expect(ok.choices[0]!.finish_reason).toBe('stop');
    expect(ok.choices[0]!.message.content).toBe('You stored 2 memories yesterday:\n- "Buy milk" (id m1, 2024-07-15 08:00)\n- "Call mom" (id m2)');

    const refused = await client.chat.completions.create({ model: DEPLOYMENT, tools: MEMENTO_TOOLS, messages: ask('Error: user "bob" is not the current user') });
    expect(refused.choices[0]!.message.content).toBe('I couldn\'t do that: user "bob" is not the current user');
  });
});

describe('Azure chat completions, streamed', () => {
  it('streams a tool call as Azure does: filter chunk first, arguments in fragments, usage last', async () => {
    const stream = await azure(sim).chat.completions.create({
      model: DEPLOYMENT,
      messages: [{ role: 'user', content: 'remember that the dentist is on Friday #health' }],
      tools: MEMENTO_TOOLS,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = await collect(stream);

    const first = chunks[0]! as unknown as ChatCompletionChunk & AzureExtras;
    expect(first.choices).toEqual([]);
    expect(first.prompt_filter_results).toEqual([expect.objectContaining({ prompt_index: 0 })]);

    const [call] = toolCallsOf(chunks);
    expect(call!.id).toMatch(/^call_/);
    expect(call!.name).toBe('store_memory');
    expect(call!.fragments.length).toBeGreaterThanOrEqual(2);
    expect(JSON.parse(call!.fragments.join(''))).toEqual({ content: 'the dentist is on Friday', tags: ['health'] });

    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finish.map((c) => c.choices[0]!.finish_reason)).toEqual(['tool_calls']);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage!.total_tokens).toBe(last.usage!.prompt_tokens + last.usage!.completion_tokens);
    expect(chunks.slice(1).every((c) => c.model === 'memento-simulator' && c.id === chunks[1]!.id)).toBe(true);
  });

  it('streams parallel tool calls by index', async () => {
    const stream = await azure(sim).chat.completions.create({
      model: DEPLOYMENT,
      messages: [{ role: 'user', content: 'remember A; remember B' }],
      tools: MEMENTO_TOOLS,
      stream: true,
    });
    const chunks = await collect(stream);
    const calls = toolCallsOf(chunks);
    expect(calls.map((c) => [c.name, JSON.parse(c.fragments.join(''))])).toEqual([
      ['store_memory', { content: 'A' }],
      ['store_memory', { content: 'B' }],
    ]);
    expect(calls.every((c) => c.fragments.length >= 2)).toBe(true);
    // Without include_usage there is no usage chunk.
    expect(chunks.some((c) => c.usage)).toBe(false);
  });

  it('streams text word by word and it adds up to the non-streamed answer', async () => {
    const messages: ChatCompletionMessageParam[] = [
      { role: 'user', content: 'search for milk' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'search_memories', arguments: '{"query":"milk"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"results":[{"id":"m1","content":"Buy milk"}]}' },
    ];
    const client = azure(sim);
    const whole = await client.chat.completions.create({ model: DEPLOYMENT, messages, tools: MEMENTO_TOOLS });
    const chunks = await collect(await client.chat.completions.create({ model: DEPLOYMENT, messages, tools: MEMENTO_TOOLS, stream: true }));
    const deltas = chunks.map((c) => c.choices[0]?.delta.content).filter((d): d is string => typeof d === 'string' && d !== '');
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join('')).toBe(whole.choices[0]!.message.content);
    expect(chunks.find((c) => c.choices[0]?.delta.role)?.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
  });
});

describe('the /v1 forms', () => {
  it('answers the OpenAI client on /v1 and on /openai/v1, taking the model from the body', async () => {
    for (const path of ['/v1', '/openai/v1']) {
      const client = new OpenAI({ baseURL: `${sim.url}${path}`, apiKey: 'sk-anything', maxRetries: 0 });
      const data = await client.chat.completions.create({ model: 'my-deployment', messages: [{ role: 'user', content: 'list my memories' }], tools: MEMENTO_TOOLS });
      expect(data.model).toBe('memento-simulator');
      const call = data.choices[0]!.message.tool_calls![0]!;
      expect(call.type === 'function' && call.function.name).toBe('retrieve_memories');
    }
  });
});

describe('refusals as Azure words them', () => {
  let strict: RunningSimulator;
  beforeAll(async () => {
    strict = await startSimulator({ apiKey: 'right-key-1234', deployments: [DEPLOYMENT] });
  });
  afterAll(() => strict.close());

  it('401 for a wrong key, without echoing either key', async () => {
    const err = await azure(strict, { apiKey: 'wrong-key-5678' })
      .chat.completions.create({ model: DEPLOYMENT, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as InstanceType<typeof OpenAI.AuthenticationError>).status).toBe(401);
    expect((err as Error).message).toMatch(/Access denied due to invalid subscription key/);
    expect((err as Error).message).not.toMatch(/right-key|wrong-key/);
  });

  it('accepts the right key as a bearer token too', async () => {
    const client = new OpenAI({ baseURL: `${strict.url}/openai/v1`, apiKey: 'right-key-1234', maxRetries: 0 });
    const data = await client.chat.completions.create({ model: DEPLOYMENT, messages: [{ role: 'user', content: 'hi' }] });
    expect(data.choices[0]!.finish_reason).toBe('stop');
  });

  it('404 DeploymentNotFound for an unknown deployment', async () => {
    const err = await azure(strict, { apiKey: 'right-key-1234', deployment: 'gpt-nope' })
      .chat.completions.create({ model: 'gpt-nope', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('DeploymentNotFound');
  });

  it('400 without api-version on the deployment path, 400 for a malformed body', async () => {
    const url = `${sim.url}/openai/deployments/${DEPLOYMENT}/chat/completions`;
    const headers = { 'api-key': 'k', 'content-type': 'application/json' };
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] });
    const noVersion = await fetch(url, { method: 'POST', headers, body });
    expect(noVersion.status).toBe(400);
    expect(await noVersion.json()).toEqual({ error: { code: 'MissingApiVersionParameter', message: expect.stringContaining('api-version') } });

    const noMessages = await fetch(`${url}?api-version=${API_VERSION}`, { method: 'POST', headers, body: '{}' });
    expect(noMessages.status).toBe(400);
    expect(await noMessages.json()).toMatchObject({ error: { message: "'messages' is a required property", type: 'invalid_request_error', param: 'messages' } });

    const notJson = await fetch(`${url}?api-version=${API_VERSION}`, { method: 'POST', headers, body: '{' });
    expect(notJson.status).toBe(400);
  });

  it('401 when no key is sent at all, 404 for an unknown path', async () => {
    const res = await fetch(`${sim.url}/openai/deployments/${DEPLOYMENT}/chat/completions?api-version=${API_VERSION}`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    const unknown = await fetch(`${sim.url}/openai/deployments/${DEPLOYMENT}/embeddings?api-version=${API_VERSION}`, { method: 'POST', body: '{}' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { code: '404', message: 'Resource not found' } });
  });
});

describe('injected faults', () => {
  const withSim = async (options: SimulatorOptions, body: (s: RunningSimulator) => Promise<void>) => {
    const s = await startSimulator(options);
    try {
      await body(s);
    } finally {
      await s.close();
    }
  };
  const hello = (client: OpenAI) => client.chat.completions.create({ model: DEPLOYMENT, messages: [{ role: 'user', content: 'hi' }] });

  it('429 then ok: the openai client waits as told by retry-after-ms and succeeds', async () => {
    await withSim({ faults: parseFaults('429,ok'), retryAfterMs: 20 }, async (s) => {
      const { data, response } = await hello(azure(s, { maxRetries: 2 })).withResponse();
      expect(data.choices[0]!.finish_reason).toBe('stop');
      expect(response.status).toBe(200);
      expect(s.stats).toMatchObject({ requests: 2, completions: 1, faults: { 429: 1 }, statuses: { 200: 1, 429: 1 } });
    });
  });

  it("429 carries Azure's headers and body", async () => {
    await withSim({ faults: parseFaults('429'), retryAfterMs: 1500 }, async (s) => {
      const res = await fetch(`${s.url}/openai/deployments/${DEPLOYMENT}/chat/completions?api-version=${API_VERSION}`, {
        method: 'POST',
        headers: { 'api-key': 'k', 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(res.headers.get('retry-after-ms')).toBe('1500');
      expect(await res.json()).toEqual({ error: { code: '429', message: expect.stringMatching(/exceeded call rate limit.*retry after 2 seconds/) } });
    });
  });

  it('500 reaches a client that does not retry', async () => {
    await withSim({ faults: parseFaults('500') }, async (s) => {
      const err = await hello(azure(s)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect((err as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(500);
    });
  });

  it('a timeout holds the request until the client gives up, then lets go', async () => {
    await withSim({ faults: parseFaults('timeout,ok') }, async (s) => {
      const err = await hello(azure(s, { timeout: 300 })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
      // The next request is answered: the held one did not wedge the server.
      const data = await hello(azure(s));
      expect(data.choices[0]!.finish_reason).toBe('stop');
      expect(s.stats.faults).toEqual({ timeout: 1 });
    });
  });

  it('with timeoutMs a "timeout" is only a slow answer', async () => {
    await withSim({ faults: parseFaults('timeout'), timeoutMs: 150 }, async (s) => {
      const started = performance.now();
      const data = await hello(azure(s));
      expect(data.choices[0]!.finish_reason).toBe('stop');
      expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    });
  });

  it('close() does not wait for a held request', async () => {
    const s = await startSimulator({ faults: parseFaults('timeout') });
    const pending = hello(azure(s)).catch((e: unknown) => e);
    while (s.stats.faults.timeout !== 1) await new Promise((r) => setTimeout(r, 10));
    await s.close();
    expect(await pending).toBeInstanceOf(OpenAI.APIConnectionError);
  });

  it('reset drops the connection', async () => {
    await withSim({ faults: parseFaults('reset') }, async (s) => {
      expect(await hello(azure(s)).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.APIConnectionError);
    });
  });

  it('fail-rate fails that share of requests with 429 or 500, by the random source', async () => {
    const draws = [0.1, 0.2, 0.1, 0.9, 0.9];
    await withSim({ failRate: 0.5, random: () => draws.shift() ?? 0.99 }, async (s) => {
      const status = (p: Promise<unknown>) => p.then(() => 200, (e: { status?: number }) => e.status);
      expect(await status(hello(azure(s)))).toBe(429);
      expect(await status(hello(azure(s)))).toBe(500);
      expect(await status(hello(azure(s)))).toBe(200);
    });
  });

  it('latency delays the answer without holding up other requests', async () => {
    await withSim({ latencyMs: 400 }, async (s) => {
      const started = performance.now();
      await Promise.all([hello(azure(s)), hello(azure(s)), hello(azure(s))]);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(390);
      // Waits in a row would take at least 1200 ms; side by side they take about 400.
      expect(elapsed).toBeLessThan(1150);
    });
  });
});

describe('simulatorOptionsFromEnv', () => {
  it('reads the MEMENTO_SIMULATOR_* knobs', () => {
    const options = simulatorOptionsFromEnv({
      MEMENTO_SIMULATOR_LATENCY_MS: '25',
      MEMENTO_SIMULATOR_JITTER_MS: '5',
      MEMENTO_SIMULATOR_FAIL_RATE: '0.1',
      MEMENTO_SIMULATOR_FAULTS: '429*2, ok, timeout',
      MEMENTO_SIMULATOR_DEPLOYMENTS: 'a, b',
      MEMENTO_SIMULATOR_NOW: '2024-07-16T10:00:00Z',
    });
    expect(options).toMatchObject({
      latencyMs: 25,
      jitterMs: 5,
      failRate: 0.1,
      faults: [{ status: 429 }, { status: 429 }, 'ok', 'timeout'],
      deployments: ['a', 'b'],
    });
    expect(options.now?.().toISOString()).toBe('2024-07-16T10:00:00.000Z');
    expect(simulatorOptionsFromEnv({})).toEqual({});
  });

  it('names the variable that is wrong', () => {
    expect(() => simulatorOptionsFromEnv({ MEMENTO_SIMULATOR_FAIL_RATE: '2' })).toThrow(/MEMENTO_SIMULATOR_FAIL_RATE/);
    expect(() => simulatorOptionsFromEnv({ MEMENTO_SIMULATOR_FAULTS: '429,boom' })).toThrow(/MEMENTO_SIMULATOR_FAULTS: unknown fault "boom"/);
    expect(() => simulatorOptionsFromEnv({ MEMENTO_SIMULATOR_LATENCY_MS: '-1' })).toThrow(/MEMENTO_SIMULATOR_LATENCY_MS/);
  });
});
