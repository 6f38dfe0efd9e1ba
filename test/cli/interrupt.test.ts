/*
 * Ctrl-C: in `ask` it ends the turn and the command (exit 130); in the REPL it cancels the
 * running turn and the session goes on. The model endpoint here (a server in the test) holds
 * its first request without answering, so there is a turn to interrupt, and the signal is
 * sent once that request has observably arrived — not after a guessed delay.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startInteractive, tempDir } from '../helpers/memento.ts';
import { ModelEndpoint, reply, type Handler } from '../helpers/model-endpoint.ts';

const endpoint = new ModelEndpoint();
let held = 0;
/** Never answers; the client going away ends it. */
const hang: Handler = () => {
  held += 1;
};

beforeAll(() => endpoint.start());
afterAll(() => endpoint.stop());
beforeEach(() => {
  endpoint.reset();
  held = 0;
});

const env = (dataDir: string) => ({ OPENAI_BASE_URL: endpoint.baseURL, OPENAI_API_KEY: 'sk-interrupt-0000000000', MEMENTO_DATA_DIR: dataDir });

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Ctrl-C', () => {
  it('ends `memento ask` with status 130', async () => {
    const data = await tempDir();
    endpoint.next(hang);
    const ask = startInteractive(['ask', 'what did I store?'], { env: env(data.path) });
    try {
      await until(() => held === 1, 'the model call to be under way');
      ask.child.kill('SIGINT');
      expect(await ask.end()).toBe(130);
    } finally {
      ask.child.kill('SIGKILL');
      await data.cleanup();
    }
  });

  it('cancels the running turn in the REPL, which then takes the next one', async () => {
    const data = await tempDir();
    endpoint.next(
      hang,
      (req, res) => reply(req, res, { toolCalls: [{ id: 'call_store', name: 'store_memory', arguments: '{"content":"Ctrl-C only cancels the turn"}' }] }),
      (req, res) => reply(req, res, { content: 'Stored "Ctrl-C only cancels the turn".' }),
    );
    const chat = startInteractive(['chat'], { env: env(data.path) });
    try {
      chat.send('what did I store?');
      await until(() => held === 1, 'the model call to be under way');
      chat.child.kill('SIGINT');
      await chat.waitFor(/cancelled/);
      const mark = chat.stdout().length;
      chat.send('remember that Ctrl-C only cancels the turn');
      await chat.waitFor(/Stored "Ctrl-C only cancels the turn"/, { since: mark });
      expect(await chat.end()).toBe(0);
    } finally {
      chat.child.kill('SIGKILL');
      await data.cleanup();
    }
  });
});
