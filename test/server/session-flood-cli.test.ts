/*
 * The session cap and the memory hand-back through `memento serve` as people run it (the flags,
 * and the V8 flag bin/memento gives serve): `--max-sessions` refuses a session past the cap with
 * 503, and once the sessions have expired the server returns their memory to the system.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemento, tempDir } from '../helpers/memento.ts';
import { waitFor } from '../helpers/wait.ts';
import { INITIALIZE, post } from './support.ts';

let data: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  data = await tempDir('memento-flood-cli-');
});
afterAll(async () => {
  await data.cleanup();
});

describe('memento serve under a session flood', () => {
  it('refuses sessions past --max-sessions, and returns the memory once they have expired', async () => {
    const server = await startMemento(['serve', '--port', '0', '--data-dir', join(data.path, 'd'), '--max-sessions', '2', '--session-timeout', '1'], {
      env: { MEMENTO_LOG_LEVEL: 'debug' },
    });
    try {
      expect((await post(`${server.url}/mcp`, INITIALIZE)).status).toBe(200);
      expect((await post(`${server.url}/mcp`, INITIALIZE)).status).toBe(200);
      const refused = await post(`${server.url}/mcp`, INITIALIZE);
      expect(refused.status).toBe(503);
      expect(refused.json.error.message).toMatch(/limit of 2 MCP sessions \(--max-sessions\)/);
      // Both expire after a second idle; the last one's end triggers the hand-back.
      await waitFor('the "returned memory" log line', () => (/returned memory after sessions ended/.test(server.stderr()) ? true : undefined), { timeoutMs: 30_000 });
      expect(server.stderr()).toMatch(/returned memory after sessions ended sessions=2/);
      expect((await post(`${server.url}/mcp`, INITIALIZE)).status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
