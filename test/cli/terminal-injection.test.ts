/*
 * Terminal injection (issue 10, item 10): escape and control sequences in a model's answer,
 * in an endpoint's error message and in a stored memory the model quotes back must reach the
 * terminal as inert text — no colours, window titles, clipboard writes (OSC 52), screen
 * clears or carriage-return overwrites — while newlines and tabs stay, and `--json` stays
 * exact. Through the real `memento chat` and `memento ask` against a model endpoint in the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemento, tempDir } from '../helpers/memento.ts';
import { ModelEndpoint, reply, toolMessages, turnsOf } from '../helpers/model-endpoint.ts';
import { buildTurn, hexId, T0, writeTraceFile } from '../traces/fixtures.ts';
import { join } from 'node:path';

const ESC = '\x1b';
const BEL = '\x07';
/** Clipboard write, window title, screen clear, colour, a C1 CSI, a carriage return and a bidi override. */
const HOSTILE = `${ESC}]52;c;cm0gLXJmIH4=${BEL}${ESC}]0;pwned${BEL}${ESC}[2J${ESC}[31mred\u009b1mX\rfake\u202egnp.exe`;
const SHOWN = '^[]52;c;cm0gLXJmIH4=^G^[]0;pwned^G^[[2J^[[31mred<U+009B>1mX^Mfake<U+202E>gnp.exe';
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

const endpoint = new ModelEndpoint();
let data: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  await endpoint.start();
  data = await tempDir('memento-injection-');
});
afterAll(async () => {
  await endpoint.stop();
  await data.cleanup();
});

const env = {
  OPENAI_BASE_URL: '',
  OPENAI_API_KEY: 'sk-injection-test-000000',
  MEMENTO_MODEL_MAX_RETRIES: '0',
};

/** The first string anywhere in a JSON value that contains an escape character. */
function hostileString(value: unknown): string | undefined {
  if (typeof value === 'string') return value.includes(ESC) ? value : undefined;
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) {
      const found = hostileString(v);
      if (found) return found;
    }
  }
  return undefined;
}

describe('terminal injection', () => {
  it('neutralises control sequences from answers, error messages and stored memories; keeps tabs and newlines', { timeout: 90_000 }, async () => {
    endpoint.next(
      (req, res) => reply(req, res, { content: `${HOSTILE}\ncol1\tcol2\nend` }),
      (_req, res) => res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `bad request ${HOSTILE}`, type: 'invalid_request_error' } })),
      (req, res) => reply(req, res, { toolCalls: [{ id: 'call_store', name: 'store_memory', arguments: JSON.stringify({ content: `note ${HOSTILE}` }) }] }),
      (req, res) => reply(req, res, { content: 'Stored.' }),
      (req, res) => reply(req, res, { toolCalls: [{ id: 'call_list', name: 'retrieve_memories', arguments: '{}' }] }),
      // A model that quotes the memory back as it is.
      (req, res) => reply(req, res, { content: `You stored: ${hostileString(JSON.parse(toolMessages(req)[0]!.content)) ?? 'nothing'}` }),
    );
    const run = await runMemento(['chat', '--user', 'mallory'], {
      input: 'say something\nfail please\nremember this\nwhat did I store?\n/history\n',
      env: { ...env, OPENAI_BASE_URL: endpoint.baseURL, MEMENTO_DATA_DIR: data.path },
      timeoutMs: 90_000,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).not.toMatch(RAW);
    expect(run.stderr).not.toMatch(RAW);
    const turns = turnsOf(run.stdout);
    expect(turns).toHaveLength(4);
    expect(turns[0]).toMatch(new RegExp(`^${escapeRe(SHOWN)}\ncol1\tcol2\nend\n`));
    expect(turns[1]).toContain(`error: the model endpoint rejected the request (400): bad request ${SHOWN}`);
    expect(turns[3]).toContain(`You stored: note ${SHOWN}`);
    // /history shows the same exchanges, as inert.
    expect(run.stdout).toContain(`memento: You stored: note ${SHOWN}`);
  });

  it('--json stays exact', { timeout: 60_000 }, async () => {
    endpoint.next((req, res) => reply(req, res, { content: HOSTILE }));
    const run = await runMemento(['ask', '--json', '--user', 'mallory', 'say something'], {
      env: { ...env, OPENAI_BASE_URL: endpoint.baseURL, MEMENTO_DATA_DIR: data.path },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).answer).toBe(HOSTILE);
    // JSON escapes the C0 controls (ESC, BEL, CR) itself.
    expect(run.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f]/);
  });
});

describe('terminal injection from a trace file', () => {
  it('traces list and show print names, users and error types from the file inert', { timeout: 60_000 }, async () => {
    const file = join(data.path, 'hostile-traces.jsonl');
    const traceId = hexId('badc0de1');
    const turn = await buildTurn({
      traceId,
      startMs: T0,
      ms: 500,
      user: `${ESC}[2Jmallory`,
      errorType: `${ESC}]0;owned${BEL}`,
      chats: [{ phase: 'intent', at: 0, ms: 100, input: 10, output: 1 }],
      tools: [{ tool: `${ESC}[31mstore_memory`, at: 100, ms: 10 }],
    });
    await writeTraceFile(file, [turn]);
    const [list, show] = await Promise.all([
      runMemento(['traces', 'list', '--file', file]),
      runMemento(['traces', 'show', traceId.slice(0, 8), '--file', file]),
    ]);
    expect(list.code, list.stderr).toBe(0);
    expect(show.code, show.stderr).toBe(0);
    for (const out of [list.stdout, show.stdout]) expect(out).not.toMatch(RAW);
    expect(list.stdout).toContain('^[[2Jmallory');
    expect(show.stdout).toContain('^[[31mstore_memory');
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
