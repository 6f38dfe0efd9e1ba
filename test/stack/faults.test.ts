/*
 * The collector stopped mid-run and started again, with a `memento serve` (Streamable HTTP)
 * that lives through it and `memento ask` clients before, during and after: every turn works
 * and every process exits on time, the turns made meanwhile are in the local trace file, and
 * export resumes after the restart. What Jaeger lacks of the outage's turns is asserted here
 * exactly as README.md ("The stack without Docker") states it.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemento, tempDir, type Running } from '../helpers/memento.ts';
import { isAlive, startProgram, stopProgram } from '../../scripts/stack/run.ts';
import { ask, fileTrace, jaegerTrace, stack, telemetryEnv, waitFor, type AskResult } from './helpers.ts';

let root: Awaited<ReturnType<typeof tempDir>>;
let server: Running;
let traceFile: string;
let env: Record<string, string | undefined>;
const before: AskResult[] = [];
const during: AskResult[] = [];
const after: AskResult[] = [];

beforeAll(async () => {
  root = await tempDir('memento-stack-faults-');
  traceFile = join(root.path, 'traces.jsonl');
  server = await startMemento(['serve', '--port', '0', '--data-dir', join(root.path, 'data')], { env: telemetryEnv(traceFile) });
  env = telemetryEnv(traceFile, { MEMENTO_MCP_URL: `${server.url}/mcp`, MEMENTO_USER: 'frank' });
});

afterAll(async () => {
  // Leave the shared stack as found, even when a test failed while the collector was down.
  if (!isAlive(stack().processes.collector.pid)) await startProgram(stack(), 'collector');
  await server?.stop('SIGKILL');
  await root?.cleanup();
});

async function wholeInJaeger(turn: AskResult): Promise<void> {
  await waitFor(`turn ${turn.traceId} whole in Jaeger`, async () => {
    const file = await fileTrace(traceFile, turn.traceId);
    const t = await jaegerTrace(turn.traceId);
    return file.some((s) => s.service === 'memento-mcp-server') && t?.spans.length === file.length ? true : undefined;
  });
}

describe('the collector stopped mid-run and started again', () => {
  it('turns before the outage reach Jaeger', async () => {
    for (let i = 0; i < 2; i++) before.push(await ask(`remember that before note ${i} is filed`, env));
    for (const turn of before) await wholeInJaeger(turn);
  });

  it('while it is down, turns still work, each client exits on time, and the turns are in the local file', async () => {
    await stopProgram(stack(), 'collector');
    for (let i = 0; i < 3; i++) {
      const turn = await ask(`remember that outage note ${i} is filed`, env);
      // The turn itself never waits on export; the client's shutdown gives its export a
      // short grace, then exits regardless.
      expect(turn.json.durationMs, 'the turn did not wait for the collector').toBeLessThan(5000);
      expect(turn.durationMs, 'the process exited on time').toBeLessThan(15_000);
      during.push(turn);
    }
    for (const turn of during) {
      await waitFor(`turn ${turn.traceId} with its server spans in the local file`, async () => {
        const spans = await fileTrace(traceFile, turn.traceId);
        return spans.some((s) => s.service === 'memento-mcp-server' && s.name === 'tools/call store_memory') &&
          spans.some((s) => s.name === 'invoke_agent memento') ? true : undefined;
      });
    }
  });

  it('after the restart, export resumes for the clients and for the server that lived through it', async () => {
    await startProgram(stack(), 'collector');
    for (let i = 0; i < 2; i++) after.push(await ask(`remember that after note ${i} is filed`, env));
    for (const turn of after) await wholeInJaeger(turn);
  });

  it("loses the outage's client spans (those processes have exited), as the README says", async () => {
    // By now the server has exported the later turns, so whatever it kept of the outage's
    // spans would have gone out too.
    for (const turn of during) {
      const t = await jaegerTrace(turn.traceId);
      const clientSpans = (t?.spans ?? []).filter((s) => s.service === 'memento-client');
      expect(clientSpans, `turn ${turn.traceId}`).toEqual([]);
    }
  });

  it('the server, which lived through the outage, still stops promptly and cleanly', async () => {
    const stopping = performance.now();
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(performance.now() - stopping).toBeLessThan(10_000);
  });
});
