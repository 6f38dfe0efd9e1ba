/*
 * `--traffic`: one line per completed network exchange, on stderr so answers stay clean —
 * Azure OpenAI calls and MCP requests, over HTTP and over the pipe to our own server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemento, startMemento, tempDir, type Running } from '../helpers/memento.ts';

let data: { path: string; cleanup: () => Promise<void> };
let server: Running;
beforeAll(async () => {
  data = await tempDir();
  server = await startMemento(['serve', '--port', '0', '--data-dir', data.path]);
});
afterAll(async () => {
  await server.stop();
  await data.cleanup();
});

const AZURE = /⇄ AZURE_OPENAI POST \/openai\/deployments\/gpt-4o-mini\/chat\/completions 200 \S+ m?s ↑[\d.]+ k?B ↓[\d.]+ k?B/;

describe('memento ask --traffic', () => {
  it('shows the Azure calls and the MCP requests over the pipe to its own server', async () => {
    const run = await runMemento(['ask', '--traffic', 'remember that traffic is visible'], { env: { MEMENTO_DATA_DIR: data.path } });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Stored "traffic is visible"/);
    expect(run.stdout).not.toMatch(/⇄/);
    const lines = run.stderr.split('\n').filter((l) => l.includes('⇄'));
    expect(lines.filter((l) => AZURE.test(l))).toHaveLength(2);
    expect(lines.some((l) => /⇄ MCP_SERVER stdio initialize ok/.test(l))).toBe(true);
    expect(lines.some((l) => /⇄ MCP_SERVER stdio tools\/call store_memory ok/.test(l))).toBe(true);
  });

  it('shows MCP requests over HTTP with their status', async () => {
    const run = await runMemento(['ask', '--traffic', 'what did I store?'], { env: { MEMENTO_MCP_URL: `${server.url}/mcp` } });
    expect(run.code).toBe(0);
    const lines = run.stderr.split('\n').filter((l) => l.includes('⇄'));
    expect(lines.filter((l) => AZURE.test(l))).toHaveLength(2);
    expect(lines.filter((l) => /⇄ MCP_SERVER POST \/mcp 20[02] /.test(l)).length).toBeGreaterThanOrEqual(3);
  });
});
