/*
 * The failures people meet, through the real client against a real simulator process and a
 * real MCP server: each is retried where that helps, explained in one line naming the
 * setting to check where it does not, and never ends a chat session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runMemento, startInteractive, startMemento, tempDir, type Running } from '../helpers/memento.ts';

const KEY = 'sk-azure-test-key-0123456789abcdef';
let data: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  data = await tempDir();
});
afterAll(() => data.cleanup());

async function simulator(...flags: string[]): Promise<Running> {
  return startMemento(['simulator', '--port', '0', '--api-key', KEY, '--deployment', 'gpt-4o-mini', ...flags]);
}

function azureEnv(sim: Running, extra: Record<string, string> = {}) {
  return {
    AZURE_OPENAI_ENDPOINT: sim.url,
    AZURE_OPENAI_API_KEY: KEY,
    AZURE_OPENAI_DEPLOYMENT: 'gpt-4o-mini',
    MEMENTO_DATA_DIR: data.path,
    ...extra,
  };
}

describe('Azure OpenAI failures', () => {
  it('retries a 429 and completes the turn', async () => {
    const sim = await simulator('--faults', '429,429,ok', '--retry-after-ms', '50');
    try {
      const run = await runMemento(['ask', '--json', 'remember that the boiler service is due in June'], { env: azureEnv(sim) });
      expect(run.code).toBe(0);
      const out = JSON.parse(run.stdout);
      expect(out.ok).toBe(true);
      expect(out.answer).toMatch(/Stored "the boiler service is due in June"/);
    } finally {
      await sim.stop();
    }
  });

  it('explains a wrong key in one line naming AZURE_OPENAI_API_KEY, and ask exits non-zero', async () => {
    const sim = await simulator();
    try {
      const run = await runMemento(['ask', 'what did I store?'], { env: azureEnv(sim, { AZURE_OPENAI_API_KEY: 'sk-wrong-key-000000000000000' }) });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/refused the credentials \(401\); check AZURE_OPENAI_API_KEY/);
      expect(run.stdout + run.stderr).not.toContain('sk-wrong-key-000000000000000');
    } finally {
      await sim.stop();
    }
  });

  it('explains an unknown deployment naming AZURE_OPENAI_DEPLOYMENT', async () => {
    const sim = await simulator();
    try {
      const run = await runMemento(['ask', '--json', 'hello'], { env: azureEnv(sim, { AZURE_OPENAI_DEPLOYMENT: 'gpt-nope' }) });
      expect(run.code).toBe(1);
      const out = JSON.parse(run.stdout);
      expect(out.ok).toBe(false);
      expect(out.error).toEqual({ type: '404', message: expect.stringMatching(/no deployment "gpt-nope" \(404\); check AZURE_OPENAI_DEPLOYMENT/) });
    } finally {
      await sim.stop();
    }
  });

  it('gives up on repeated 500s after the retries with a clear message', async () => {
    const sim = await simulator('--faults', '500*10');
    try {
      const run = await runMemento(['ask', '--json', 'hello'], { env: azureEnv(sim, { MEMENTO_MODEL_MAX_RETRIES: '2' }) });
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout).error).toEqual({ type: '500', message: expect.stringMatching(/failed \(500\) after 2 retries/) });
    } finally {
      await sim.stop();
    }
  });

  it('stops waiting for a model slower than the timeout', async () => {
    const sim = await simulator('--faults', 'timeout*10');
    try {
      const run = await runMemento(['ask', '--json', 'hello'], {
        env: azureEnv(sim, { MEMENTO_MODEL_TIMEOUT_MS: '300', MEMENTO_MODEL_MAX_RETRIES: '1' }),
      });
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout).error).toEqual({ type: 'timeout', message: expect.stringMatching(/did not answer in time/) });
    } finally {
      await sim.stop();
    }
  });

  it('reports a failed turn in the REPL and keeps the session going', async () => {
    const sim = await simulator('--faults', '500*4,ok');
    const session = startInteractive(['chat', '--user', 'carol'], { env: azureEnv(sim, { MEMENTO_MODEL_MAX_RETRIES: '3' }) });
    try {
      session.send('what did I store?');
      await session.waitFor(/error: .*failed \(500\) after 3 retries/);
      const mark = session.stdout().length;
      session.send('remember that the REPL survived');
      await session.waitFor(/Stored "the REPL survived"/, { since: mark });
      expect(await session.end()).toBe(0);
    } finally {
      session.child.kill();
      await sim.stop();
    }
  });
});

describe('MCP server failures', () => {
  it('reconnects after the MCP server is killed and restarted between turns', async () => {
    const port = await freePort();
    const serve = () => startMemento(['serve', '--port', String(port), '--data-dir', data.path]);
    let server = await serve();
    const session = startInteractive(['chat', '--user', 'dave'], { env: { MEMENTO_MCP_URL: `http://127.0.0.1:${port}/mcp` } });
    try {
      session.send('remember that the server was up');
      await session.waitFor(/Stored "the server was up"/);
      await server.stop('SIGKILL');

      let mark = session.stdout().length;
      session.send('what did I store?');
      await session.waitFor(/error: cannot use the MCP server at http:\/\/127\.0\.0\.1:\d+\/mcp .*check MEMENTO_MCP_URL/, { since: mark });

      server = await serve();
      mark = session.stdout().length;
      // The old session id is unknown to the new process (404): the client starts a new session.
      session.send('what did I store?');
      await session.waitFor(/You stored 1 memory:[\s\S]*the server was up/, { since: mark });
      expect(await session.end()).toBe(0);
    } finally {
      session.child.kill();
      await server.stop();
    }
  });

  it('tells which setting to check when the MCP server cannot be reached', async () => {
    const port = await freePort();
    const run = await runMemento(['ask', '--json', 'what did I store?'], { env: { MEMENTO_MCP_URL: `http://127.0.0.1:${port}/mcp` } });
    expect(run.code).toBe(1);
    const out = JSON.parse(run.stdout);
    expect(out.error.type).toBe('ECONNREFUSED');
    expect(out.error.message).toMatch(/check MEMENTO_MCP_URL/);
  });
});
