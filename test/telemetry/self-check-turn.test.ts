/*
 * The self-check after a real turn: `memento ask` against its own traced server finds its
 * trace whole; against a server that is not traced, the footer and --json say which
 * tools/call has no server span and why that probably is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemento, startMemento, tempDir, type Running } from '../helpers/memento.ts';

let data: { path: string; cleanup: () => Promise<void> };
let untraced: Running;
beforeAll(async () => {
  data = await tempDir('memento-selfcheck-');
  untraced = await startMemento(['serve', '--port', '0', '--data-dir', data.path], { env: { OTEL_SDK_DISABLED: 'true' } });
});
afterAll(async () => {
  await untraced?.stop();
  await data.cleanup();
});

// Traced, exporting nowhere: the check reads the client's spans in memory.
const traced = { OTEL_SDK_DISABLED: 'false', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' };

describe('the trace checks itself', () => {
  it('finds a whole trace with the server span joined (own server over stdio)', async () => {
    const r = await runMemento(['ask', '--json', 'remember that the car is due for inspection'], { env: { ...traced, MEMENTO_DATA_DIR: data.path } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).selfCheck).toEqual({
      ok: true,
      found: { root: true, chatSpans: 2, toolCallSpans: 1, serverSpansJoined: 1 },
      problems: [],
    });
  });

  it('says which tools/call has no server span, in --json and in the footer', async () => {
    const env = { ...traced, MEMENTO_MCP_URL: `${untraced.url}/mcp` };
    const json = await runMemento(['ask', '--json', 'remember that the bins go out on Monday'], { env });
    expect(json.code, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout);
    expect(out.ok).toBe(true);
    expect(out.selfCheck).toMatchObject({
      ok: false,
      found: { root: true, chatSpans: 2, toolCallSpans: 1, serverSpansJoined: 0 },
      problems: [{ missing: 'no server span for tools/call store_memory', cause: 'is the server traced, and does it read `_meta`?' }],
    });
    const text = await runMemento(['ask', 'remember that the bins go out on Monday'], { env });
    expect(text.code, text.stderr).toBe(0);
    // The footer also says when the first token of the answer came.
    expect(text.stdout).toMatch(/ · first token \d+(\.\d+)? m?s\b/);
    expect(text.stdout).toContain('⚠ trace: no server span for tools/call store_memory — is the server traced, and does it read `_meta`?');
  });
});
