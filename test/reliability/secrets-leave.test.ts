/*
 * Every byte that leaves (issue 10, items 11 and 12). Secrets are planted through each route
 * they could take — a model endpoint that echoes the API key and a credentialed URL in its
 * error body, credentials in the query of MEMENTO_MCP_URL (api-key, token, key, sig,
 * password), user:password@ in the model URL and in an MCP URL that cannot be reached, the
 * bearer token, a streamed answer that quotes the key split across chunks — and a tool error
 * quotes the argument it refuses. Then every byte that left
 * every process is scanned: the client's and the server's stdout and stderr (with --traffic
 * and debug logs), both trace files, and everything the OTLP receiver got (traces and
 * metrics). Real `memento serve`, real `memento chat`/`ask`, a model endpoint in the test.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runMemento, startMemento, tempDir, type RunResult, type Running } from '../helpers/memento.ts';
import { chunk, ModelEndpoint, reply, toolMessages } from '../helpers/model-endpoint.ts';
import { OtlpReceiver, SPAN_KIND, STATUS } from '../helpers/otlp-receiver.ts';

const KEY = 'sk-planted-api-key-7Q2w9E4r';
const TOKEN = 'mcp-planted-bearer-K8s1Lp0z';
const Q = { apiKey: 'qApiKeyV4lue93', token: 'qTokenV4lue17', key: 'qKeyV4lue55', sig: 'qSigV4lue08', password: 'qPassV4lue61' };
const URL_PASSWORD = 'urlPassw0rdZ3x';
const ECHO_PASSWORD = 'echoPassw0rdM2';
const ECHO_TOKEN = 'echoTok3nR7y';
/** A tool argument the server quotes when it refuses it; no secret, but never on a span without the opt-in. */
const ARGUMENT = 'ARGVAL-7f3e9c21';
const SECRETS = [KEY, TOKEN, ...Object.values(Q), URL_PASSWORD, ECHO_PASSWORD, ECHO_TOKEN];

const receiver = new OtlpReceiver();
const endpoint = new ModelEndpoint();
let root: Awaited<ReturnType<typeof tempDir>>;
let server: Running;
const clientTraces = () => join(root.path, 'client-traces.jsonl');
const serverTraces = () => join(root.path, 'server-traces.jsonl');

beforeAll(async () => {
  await receiver.start();
  await endpoint.start();
  root = await tempDir('memento-secrets-');
  server = await startMemento(['serve', '--port', '0', '--data-dir', join(root.path, 'data')], {
    env: { ...receiver.env(), MEMENTO_MCP_TOKEN: TOKEN, MEMENTO_TRACE_FILE: serverTraces(), MEMENTO_LOG_LEVEL: 'debug' },
  });
});
afterAll(async () => {
  await server?.stop();
  await endpoint.stop();
  await receiver.stop();
  await root?.cleanup();
});

const clientEnv = (extra: Record<string, string>) => ({
  ...receiver.env(),
  OPENAI_BASE_URL: endpoint.baseURL,
  OPENAI_API_KEY: KEY,
  MEMENTO_MCP_TOKEN: TOKEN,
  MEMENTO_TRACE_FILE: clientTraces(),
  MEMENTO_MODEL_MAX_RETRIES: '0',
  MEMENTO_LOG_LEVEL: 'debug',
  ...extra,
});

describe('every byte that leaves', () => {
  it('carries no planted secret, whatever route it took; tool errors leave the argument off the spans', { timeout: 120_000 }, async () => {
    const mcpUrl = `${server.url}/mcp?api-key=${Q.apiKey}&token=${Q.token}&key=${Q.key}&sig=${Q.sig}&password=${Q.password}`;
    endpoint.next(
      // 1. The endpoint echoes the key, and a URL with credentials, in its error body.
      (_req, res) =>
        res.writeHead(400, { 'content-type': 'application/json' }).end(
          JSON.stringify({ error: { message: `invalid api key ${KEY} (see http://admin:${ECHO_PASSWORD}@example.test/keys?token=${ECHO_TOKEN})`, type: 'invalid_request_error' } }),
        ),
      // 2. A tool call the server refuses, quoting its argument.
      (req, res) => reply(req, res, { toolCalls: [{ id: 'call_get', name: 'get_memory', arguments: JSON.stringify({ id: ARGUMENT }) }] }),
      (req, res) => reply(req, res, { content: 'There is no such memory.' }),
      // 5. The answer itself quotes the key, split across stream chunks.
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const piece of ['Your key is ', KEY.slice(0, 9), KEY.slice(9), ' and that is all.']) res.write(`data: ${JSON.stringify(chunk({ content: piece }))}\n\n`);
        res.end(`data: ${JSON.stringify(chunk({}, 'stop'))}\n\ndata: [DONE]\n\n`);
      },
    );
    const [chat, unreachable, credentialed] = await Promise.all([
      runMemento(['chat', '--traffic', '--user', 'sam'], { input: 'hello\nget that memory\nwhat is my key?\n', env: clientEnv({ MEMENTO_MCP_URL: mcpUrl }), timeoutMs: 90_000 }),
      // 3. An MCP URL that cannot be reached, with user:password@ and a token in the query.
      runMemento(['ask', '--traffic', '--user', 'sam', 'hello'], {
        env: clientEnv({ MEMENTO_MCP_URL: `http://sam:${URL_PASSWORD}@127.0.0.1:${await freePort()}/mcp?token=${Q.token}` }),
      }),
      // 4. A model URL with user:password@.
      runMemento(['ask', '--traffic', '--user', 'sam', 'hello'], {
        env: clientEnv({ OPENAI_BASE_URL: endpoint.baseURL.replace('http://', `http://sam:${URL_PASSWORD}@`), MEMENTO_MCP_URL: mcpUrl }),
      }),
    ]);

    // The routes were taken: each run failed or answered the way the plant intended.
    expect(chat.code, chat.stderr).toBe(0);
    expect(chat.stdout).toContain('error: the model endpoint rejected the request (400): invalid api key [REDACTED] (see http://[REDACTED]@example.test/keys?token=[REDACTED]');
    expect(chat.stdout).toContain('There is no such memory.');
    expect(chat.stdout).toContain('Your key is [REDACTED] and that is all.');
    expect(toolMessages(endpoint.requests[2]!)[0]!.content).toContain(`No memory with id "${ARGUMENT}"`);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/memento: cannot use the MCP server at http:\/\/\[REDACTED\]@127\.0\.0\.1:\d+\/mcp\?token=\[REDACTED\]/);
    expect(credentialed.code).toBe(1);
    expect(credentialed.stderr).toMatch(/^memento: /m);

    await server.stop();
    await receiver.waitFor((spans) => spans.some((s) => s.service === 'memento-mcp-server' && s.name === 'tools/call get_memory'));

    // The spans that carry URLs were made, and say [REDACTED] where the credentials were.
    const clientHttp = receiver.spans.filter((s) => s.kind === SPAN_KIND.CLIENT && String(s.attributes['url.full'] ?? '').includes('/mcp'));
    expect(clientHttp.length).toBeGreaterThan(0);
    expect(String(clientHttp[0]!.attributes['url.full'])).toContain('token=[REDACTED]');
    const serverHttp = receiver.spans.filter((s) => s.kind === SPAN_KIND.SERVER && s.service === 'memento-mcp-server' && /^POST/.test(s.name));
    expect(serverHttp.length).toBeGreaterThan(0);
    expect(JSON.stringify(serverHttp[0]!.attributes)).toContain('sig=[REDACTED]');
    const chatSpan = receiver.spans.find((s) => s.status.code === STATUS.ERROR && String(s.status.message).includes('rejected the request (400)'));
    expect(chatSpan?.status.message).toContain('invalid api key [REDACTED]');

    // Item 12: the refused argument is in the tool result the model read, not on the spans.
    for (const service of ['memento-mcp-server', 'memento-client']) {
      const span = receiver.spans.find((s) => s.service === service && s.name === 'tools/call get_memory');
      expect(span, service).toBeDefined();
      expect(span!.attributes['error.type']).toBe('tool_error');
      expect(span!.status).toEqual({ code: STATUS.ERROR, message: 'the tool reported an error' });
    }

    const left: Record<string, string> = {
      'chat stdout': chat.stdout,
      'chat stderr': chat.stderr,
      ...outputs('unreachable', unreachable),
      ...outputs('credentialed', credentialed),
      'server stderr': server.stderr(),
      'client trace file': await readFile(clientTraces(), 'utf8'),
      'server trace file': await readFile(serverTraces(), 'utf8'),
      OTLP: receiver.rawText(),
    };
    for (const [where, bytes] of Object.entries(left)) {
      for (const secret of [...SECRETS, ARGUMENT]) {
        const at = bytes.indexOf(secret);
        expect(at < 0 ? '' : bytes.slice(Math.max(0, at - 300), at + 100), `${secret} in ${where}`).toBe('');
      }
    }
    expect(receiver.metrics.length).toBeGreaterThan(0);
  });
});

function outputs(name: string, run: RunResult): Record<string, string> {
  return { [`${name} stdout`]: run.stdout, [`${name} stderr`]: run.stderr };
}
