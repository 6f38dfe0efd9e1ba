/*
 * The README's default: tracing on, no collector listening. Each process says so at most
 * once, on one quiet line (where the traces are, how to point at a collector or stop
 * exporting), prints no export errors, and a refused connection does not hold up exit —
 * neither the client's nor its own stdio server's. The shutdown deadline is set to a minute
 * here, so a process that waited on its exports would be unmistakable.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTraceFile } from '../../src/traces/file.ts';
import { baseEnv, freePort, MEMENTO_BIN, runMemento, startInteractive, startMemento, tempDir } from '../helpers/memento.ts';

const DEADLINE_MS = 60_000;
let dir: { path: string; cleanup: () => Promise<void> };
let endpoint: string;
beforeAll(async () => {
  dir = await tempDir();
  endpoint = `http://127.0.0.1:${await freePort()}`;
});
afterAll(() => dir.cleanup());

const env = (extra: Record<string, string> = {}) => ({
  OTEL_SDK_DISABLED: undefined,
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
  MEMENTO_TELEMETRY_SHUTDOWN_MS: String(DEADLINE_MS),
  MEMENTO_TRACE_FILE: join(dir.path, 'traces.jsonl'),
  MEMENTO_DATA_DIR: join(dir.path, 'data'),
  ...extra,
});

/** Lines an export failure would print: the SDK's JSON-encoded errors, stack frames. */
const NOISE = /^\s*\{|^\s+at |Error:|ECONNREFUSED/m;

describe('no collector listening', () => {
  it('`memento ask`: one quiet line naming the trace file, no export errors, no wait at exit', async () => {
    const run = await runMemento(['ask', 'remember that the collector is down'], { env: env(), timeoutMs: DEADLINE_MS * 2 });
    expect(run.code, run.stderr).toBe(0);
    expect(run.durationMs, 'exit did not wait for the shutdown deadline').toBeLessThan(DEADLINE_MS / 2);
    const notes = run.stderr.split('\n').filter((l) => l.includes('no collector at'));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain(endpoint);
    expect(notes[0]).toContain(join(dir.path, 'traces.jsonl'));
    expect(notes[0]).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT.*OTEL_TRACES_EXPORTER=none/);
    expect(run.stderr).not.toMatch(NOISE);
    // With no collector, the footer points at the local trace, not at a Jaeger that is not there.
    expect(run.stdout).toMatch(/^trace [0-9a-f]{32} {2}memento traces show [0-9a-f]{8}$/m);
    expect(run.stdout).not.toContain('localhost:16686');
  });

  it('`memento ask` against a `memento serve` over HTTP: both sides of the turn are in the trace file', async () => {
    // The OTLP export fails at once here, and NodeSDK's shutdown gives up at the first failure:
    // the client used to exit before its trace-file write landed (its own stdio server's slower
    // close had hidden that). Both processes write the same file.
    const file = join(dir.path, 'http-turn.jsonl');
    const server = await startMemento(['serve', '--port', '0'], { env: env({ MEMENTO_TRACE_FILE: file }) });
    try {
      const run = await runMemento(['ask', '--json', 'remember that the file keeps both sides'], {
        env: env({ MEMENTO_TRACE_FILE: file, MEMENTO_MCP_URL: `${server.url}/mcp` }),
        timeoutMs: DEADLINE_MS * 2,
      });
      expect(run.code, run.stderr).toBe(0);
      const { traceId } = JSON.parse(run.stdout) as { traceId: string };
      // The client has exited, so its spans are in the file now or never.
      const spans = (await readTraceFile(file)).spans.filter((s) => s.traceId === traceId);
      expect(spans.some((s) => s.service === 'memento-client' && s.name === 'invoke_agent memento')).toBe(true);
    } finally {
      await server.stop('SIGKILL');
    }
  });

  it('the stdio server the client starts exits at once when its input ends', async () => {
    const child = spawn(MEMENTO_BIN, ['serve', '--stdio'], { env: baseEnv(env({ MEMENTO_LOG_LEVEL: 'info' })), stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const started = performance.now();
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
    child.stdin.write(`${JSON.stringify(initialize)}\n`);
    // Answered: the server ran, made a span, and has something to export.
    await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS * 2);
    expect(await exited).toBe(0);
    clearTimeout(timer);
    expect(performance.now() - started, 'exit did not wait for the shutdown deadline').toBeLessThan(DEADLINE_MS / 2);
    expect(stderr.split('\n').filter((l) => l.includes('no collector at'))).toHaveLength(1);
    expect(stderr).not.toMatch(NOISE);
  });

  it('the chat: the note comes once, after a footer (never over the prompt), and no export errors follow', async () => {
    // Exports every 50 ms with a 200 ms export timeout: an exporter that tried the dead
    // endpoint would have failed, and reported it, several times during this chat.
    const chat = startInteractive(['chat', '--user', 'kim'], { env: env({ OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_EXPORTER_OTLP_TIMEOUT: '200' }) });
    try {
      chat.send('remember that the first turn ran');
      await chat.waitFor(/model calls?, \d+ tool calls?\n/);
      await chat.waitFor(/no collector at/, { stream: 'stderr' });
      const mark = chat.stdout().length;
      chat.send('remember that the second turn ran');
      await chat.waitFor(/Stored "the second turn ran"[\s\S]*tool calls?\n/, { since: mark });
      expect(await chat.end()).toBe(0);
    } finally {
      chat.child.kill('SIGKILL');
    }
    expect(chat.stderr().split('\n').filter((l) => l.includes('no collector at'))).toHaveLength(1);
    expect(chat.stderr()).not.toMatch(NOISE);
  });
});
