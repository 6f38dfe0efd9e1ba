/*
 * The turn loop against a scripted model: an OpenAI-compatible endpoint in the test answers
 * with exactly the mistakes real models make — arguments that are not JSON, a tool that does
 * not exist, a model that never stops calling tools — and records what the client sends
 * back. Run through the real `memento ask` (OPENAI_BASE_URL) and its own MCP server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runMemento, tempDir } from '../helpers/memento.ts';

type Reply = { content?: string; toolCalls?: { id: string; name: string; arguments: string }[] };

let server: Server;
let baseURL = '';
let script: Reply[] = [];
let received: any[] = [];
let data: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  data = await tempDir();
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    received.push({ path: req.url, auth: req.headers.authorization, body });
    // Past the script, the model keeps asking for a tool: the round limit must stop it.
    const reply = script.shift() ?? { toolCalls: [{ id: `call_${received.length}`, name: 'retrieve_memories', arguments: '{}' }] };
    const message = {
      role: 'assistant',
      content: reply.content ?? null,
      tool_calls: reply.toolCalls?.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } })),
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        id: `chatcmpl-${received.length}`,
        object: 'chat.completion',
        created: 1,
        model: 'scripted-model',
        choices: [{ index: 0, message, finish_reason: reply.toolCalls ? 'tool_calls' : 'stop' }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await data.cleanup();
});
beforeEach(() => {
  received = [];
});

const ask = (text: string) =>
  runMemento(['ask', '--json', '--user', 'hana', text], {
    env: { OPENAI_BASE_URL: baseURL, OPENAI_API_KEY: 'sk-scripted-0000000000000000', MEMENTO_DATA_DIR: data.path, MEMENTO_STREAM: 'off' },
  });

const toolMessages = (i: number) => received[i].body.messages.filter((m: { role: string }) => m.role === 'tool');

describe('the turn loop', () => {
  it('sends invalid JSON arguments and unknown tools back to the model as tool errors', async () => {
    script = [
      {
        toolCalls: [
          { id: 'call_bad_json', name: 'store_memory', arguments: '{"content": "half' },
          { id: 'call_no_tool', name: 'launch_rockets', arguments: '{}' },
          { id: 'call_ok', name: 'store_memory', arguments: '{"content":"the good one"}' },
        ],
      },
      { content: 'Two of those did not work, one was stored.' },
    ];
    const run = await ask('store three things');
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.ok).toBe(true);
    expect(out.answer).toBe('Two of those did not work, one was stored.');
    expect(out.tools).toEqual([
      { name: 'store_memory', callId: 'call_bad_json', ok: false, errorType: 'invalid_arguments' },
      { name: 'launch_rockets', callId: 'call_no_tool', ok: false, errorType: 'unknown_tool' },
      { name: 'store_memory', callId: 'call_ok', ok: true },
    ]);
    const replies = toolMessages(1);
    expect(replies.map((m: { tool_call_id: string }) => m.tool_call_id)).toEqual(['call_bad_json', 'call_no_tool', 'call_ok']);
    expect(replies[0].content).toMatch(/^Error: the arguments for store_memory are not valid JSON/);
    expect(replies[1].content).toMatch(/^Error: there is no tool named "launch_rockets"\. Available tools: .*store_memory/);
    expect(JSON.parse(replies[2].content)).toMatchObject({ file: expect.stringMatching(/_the_good_one\.txt$/), size: 12 });
  });

  it('speaks the OpenAI-compatible protocol: bearer key, model in the body, tools from the server without user_id', async () => {
    script = [{ content: 'Hello.' }];
    const run = await ask('hello');
    expect(run.code).toBe(0);
    const [first] = received;
    expect(first.path).toBe('/v1/chat/completions');
    expect(first.auth).toBe('Bearer sk-scripted-0000000000000000');
    expect(first.body.model).toBe('gpt-4o-mini');
    const names = first.body.tools.map((t: { function: { name: string } }) => t.function.name).sort();
    expect(names).toEqual(['delete_memory', 'get_memory', 'retrieve_memories', 'search_memories', 'store_memory']);
    for (const tool of first.body.tools) {
      expect(Object.keys(tool.function.parameters.properties ?? {})).not.toContain('user_id');
      expect(tool.function.parameters.required ?? []).not.toContain('user_id');
      expect(tool.function.description.length).toBeGreaterThan(10);
    }
  });

  it('stops a model that never stops calling tools, and asks it for an answer without tools', async () => {
    script = [];
    const run = await ask('what did I store?');
    const out = JSON.parse(run.stdout);
    expect(out.toolRounds).toBe(5);
    expect(out.chatCalls).toBe(6);
    expect(out.answer).toMatch(/could not finish that within 5 rounds of tool calls/);
    // The last call offers no tools, so the model has to answer; this one answers with
    // another tool call, which is not executed.
    expect(received.at(-1).body.tools).toBeUndefined();
    expect(received.slice(0, -1).every((r) => r.body.tools?.length === 5)).toBe(true);
  });
});
