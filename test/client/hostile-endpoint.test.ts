/*
 * The client against a broken or hostile model endpoint (issue 10, items 7–9, 13): a real
 * HTTP server in the test answers the real `memento chat` / `memento ask` with endless
 * streams, a whole JSON completion or HTML where a stream was asked for, ten thousand tool
 * calls, arguments nested 100,000 deep or 20 MB long, and an answer that never ends. Each
 * turn must come back, bounded, with the answer or the one-line error that says why.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runMemento, tempDir } from '../helpers/memento.ts';
import { chunk, completion, footerMs, ModelEndpoint, reply, toolMessages, turnsOf, type ModelRequest } from '../helpers/model-endpoint.ts';

const endpoint = new ModelEndpoint();
let data: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  await endpoint.start();
  data = await tempDir('memento-hostile-');
});
afterAll(async () => {
  await endpoint.stop();
  await data.cleanup();
});
beforeEach(() => endpoint.reset());

const env = (extra: Record<string, string> = {}) => ({
  OPENAI_BASE_URL: endpoint.baseURL,
  OPENAI_API_KEY: 'sk-hostile-test-0000000000',
  MEMENTO_DATA_DIR: data.path,
  MEMENTO_MODEL_MAX_RETRIES: '0',
  ...extra,
});

const chat = (lines: string[], extra: Record<string, string> = {}) =>
  runMemento(['chat', '--user', 'eve'], { input: `${lines.join('\n')}\n`, env: env(extra), timeoutMs: 90_000 });

/** Writes `write()` every `everyMs` until the client goes away. */
function forever(res: ServerResponse, everyMs: number, write: () => string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const timer = setInterval(() => res.write(write()), everyMs);
  res.on('close', () => clearInterval(timer));
}

describe('a model endpoint that never finishes', () => {
  it('an endless stream of keep-alives, of content, or one that goes silent: each turn times out with one line', { timeout: 120_000 }, async () => {
    endpoint.next(
      (_req, res) => forever(res, 100, () => ': keep-alive\n\n'),
      (_req, res) => forever(res, 50, () => `data: ${JSON.stringify(chunk({ content: 'la ' }))}\n\n`),
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: ${JSON.stringify(chunk({ role: 'assistant', content: 'Let me think' }))}\n\n`);
        // …and nothing more, with the connection left open.
      },
    );
    const run = await chat(['keep alive', 'sing forever', 'go silent'], { MEMENTO_MODEL_TIMEOUT_MS: '2500', MEMENTO_MODEL_IDLE_TIMEOUT_MS: '1000' });
    expect(run.code, run.stderr).toBe(0);
    const turns = turnsOf(run.stdout);
    expect(turns).toHaveLength(3);
    const total = 'error: the model endpoint did not finish its answer in time (no complete answer within 2500 ms); check OPENAI_BASE_URL or raise MEMENTO_MODEL_TIMEOUT_MS.';
    expect(turns[0]).toContain(total);
    expect(turns[1]).toMatch(/^(la )+\n/);
    expect(turns[1]).toContain(total);
    expect(turns[2]).toContain(
      'error: the model endpoint did not finish its answer in time (nothing arrived for 1000 ms); check OPENAI_BASE_URL or raise MEMENTO_MODEL_IDLE_TIMEOUT_MS.',
    );
    // Bounded by the settings, not by the endpoint: each turn ends soon after its limit.
    expect(footerMs(turns[0]!, 'Azure')).toBeLessThan(2500 + 1500);
    expect(footerMs(turns[1]!, 'Azure')).toBeLessThan(2500 + 1500);
    expect(footerMs(turns[2]!, 'Azure')).toBeLessThan(1000 + 1500);
  });
});

describe('a 200 that is not a stream', () => {
  it('a JSON completion is the answer; HTML or an empty stream is an error naming the endpoint', { timeout: 90_000 }, async () => {
    endpoint.next(
      (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion({ content: 'A whole answer, not streamed.' }))),
      (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Welcome to nginx!</body></html>'),
      (_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: [DONE]\n\n'),
    );
    const run = await chat(['hello', 'hello again', 'and again']);
    expect(run.code, run.stderr).toBe(0);
    const turns = turnsOf(run.stdout);
    expect(turns).toHaveLength(3);
    expect(turns[0]).toMatch(/^A whole answer, not streamed\.\n/);
    const url = `${endpoint.baseURL}/chat/completions`;
    expect(turns[1]).toContain(`error: the model endpoint at ${url} answered 200 with text/html (43 bytes) instead of a chat completion; check OPENAI_BASE_URL.`);
    expect(turns[2]).toContain(`error: the model endpoint at ${endpoint.baseURL} sent no answer (no choices); check that it is an OpenAI-compatible chat completions endpoint.`);
  });

  it('ask --json on an HTML answer: ok false, exit 1, never an empty success', { timeout: 60_000 }, async () => {
    endpoint.next((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<h1>Login</h1>'));
    const run = await runMemento(['ask', '--json', '--user', 'eve', 'hello'], { env: env() });
    expect(run.code).toBe(1);
    const out = JSON.parse(run.stdout);
    expect(out).toMatchObject({ ok: false, answer: '', error: { type: 'invalid_response' } });
    expect(out.error.message).toContain(`${endpoint.baseURL}/chat/completions answered 200 with text/html`);
  });
});

describe('model output past its bounds', () => {
  it('10,000 tool calls, arguments 100,000 deep, 20 MB long or over the tool’s own limit go back to the model as tool errors; an endless answer is cut at its bound', { timeout: 150_000 }, async () => {
    let sent = 0;
    const answerAfterTools = (text: string) => (req: ModelRequest, res: ServerResponse) => reply(req, res, { content: text });
    endpoint.next(
      (req, res) =>
        reply(req, res, {
          toolCalls: Array.from({ length: 10_000 }, (_, i) => ({ id: `call_${i}`, name: 'retrieve_memories', arguments: '{"limit":1}' })),
        }),
      answerAfterTools('ran some of them'),
      (req, res) =>
        reply(req, res, { toolCalls: [{ id: 'call_deep', name: 'store_memory', arguments: `{"content":${'['.repeat(100_000)}${']'.repeat(100_000)}}` }] }),
      answerAfterTools('that was too deep'),
      (req, res) => reply(req, res, { toolCalls: [{ id: 'call_big', name: 'store_memory', arguments: JSON.stringify({ content: 'x'.repeat(20 * 1024 * 1024) }) }] }),
      answerAfterTools('that was too big'),
      // Under the client's bound but over the server's: the tool's own limit, in its words.
      (req, res) => reply(req, res, { toolCalls: [{ id: 'call_5mb', name: 'store_memory', arguments: JSON.stringify({ content: 'x'.repeat(5 * 1024 * 1024) }) }] }),
      answerAfterTools('the server said no'),
      (_req, res) => {
        // 400 MB of answer, as fast as the client takes it, unless it stops reading.
        const piece = `data: ${JSON.stringify(chunk({ content: 'y'.repeat(64 * 1024) }))}\n\n`;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const pump = () => {
          while (sent < 400 * 1024 * 1024 && !res.destroyed) {
            sent += piece.length;
            if (!res.write(piece)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      },
    );
    const run = await chat(['list everything ten thousand times', 'store a deep thing', 'store a big thing', 'store a 5 MB thing', 'say a lot']);
    expect(run.code, run.stderr).toBe(0);
    const turns = turnsOf(run.stdout);
    expect(turns).toHaveLength(5);

    // Ten thousand calls: the first 16 ran, every other one was answered as an error.
    const replies = toolMessages(endpoint.requests[1]!);
    expect(replies).toHaveLength(10_000);
    expect(replies.slice(0, 16).every((m) => !m.content.startsWith('Error:'))).toBe(true);
    expect(replies.slice(16).every((m) => m.content.startsWith('Error: only the first 16 tool calls of a message are run (MEMENTO_MAX_TOOL_CALLS=16)'))).toBe(true);
    expect(turns[0]).toMatch(/^ran some of them\n/);

    const deep = toolMessages(endpoint.requests[3]!);
    expect(deep).toEqual([
      {
        role: 'tool',
        tool_call_id: 'call_deep',
        content: 'Error: the arguments for store_memory are nested more than 64 levels deep (MEMENTO_MAX_TOOL_ARGUMENT_DEPTH). Send a flatter JSON object.',
      },
    ]);
    expect(turns[1]).toMatch(/^that was too deep\n/);

    const big = toolMessages(endpoint.requests[5]!);
    expect(big).toHaveLength(1);
    expect(big[0]!.content).toMatch(/^Error: the arguments for store_memory are \d+ bytes; tools take at most 8388608 bytes of arguments \(MEMENTO_MAX_TOOL_ARGUMENT_BYTES\)/);
    expect(big[0]!.content).not.toContain('MEMENTO_MCP_URL');
    // The refused 20 MB is not sent back to the model with the rest of the turn.
    expect(JSON.stringify(endpoint.requests[5]!.body).length).toBeLessThan(1024 * 1024);
    expect(turns[2]).toMatch(/^that was too big\n/);

    const server = toolMessages(endpoint.requests[7]!);
    expect(server[0]!.content).toMatch(/^Error: content is 5242880 bytes; this server stores at most 4194304 bytes/);
    expect(server[0]!.content).not.toContain('MEMENTO_MCP_URL');
    expect(turns[3]).toMatch(/^the server said no\n/);

    expect(turns[4]).toContain("error: the model's answer passed 33554432 bytes (MEMENTO_MODEL_MAX_ANSWER_BYTES); the turn was stopped there.");
    // The client stopped reading near its bound: far from the 400 MB on offer.
    expect(sent).toBeLessThan(48 * 1024 * 1024);
    // Only the endless answer cost its turn; the bad tool calls never did.
    expect(run.stdout.match(/error:/g)).toHaveLength(1);
  });
});

describe('ask --user', () => {
  it('refuses an invalid name with exit 2 and the same message as /user', { timeout: 60_000 }, async () => {
    const [asked, chatted] = await Promise.all([
      runMemento(['ask', '--user', 'no such/user', 'hello'], { env: env() }),
      runMemento(['chat', '--user', 'eve'], { input: '/user no such/user\n', env: env() }),
    ]);
    expect(asked.code).toBe(2);
    expect(endpoint.requests).toHaveLength(0);
    const message = '"no such/user" is not a valid user name (letters, digits, . _ -; up to 64).';
    expect(asked.stderr).toBe(`memento: ${message}\n`);
    expect(chatted.stdout).toContain(`${message}\n`);
  });
});
