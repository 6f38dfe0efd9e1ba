/*
 * Ctrl-C: in `ask` it ends the turn and the command (exit 130, "interrupted"); in the REPL it
 * cancels the running turn and the session goes on. The model here hangs on its first
 * request (the simulator's "timeout" fault), so there is a turn to interrupt. The signal is
 * sent once the turn is observably under way — the `--traffic` line of the MCP `tools/list`
 * that precedes the model call — never after a fixed sleep. A cancelled turn is `cancelled`
 * in `traces list` and `stats`, not `ok`, and counts the model call that was in flight.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemento, startInteractive, tempDir } from '../helpers/memento.ts';

const hangingModel = { MEMENTO_SIMULATOR_FAULTS: 'timeout,ok' };
/** The turn has connected and listed the tools; the model call comes next, and hangs. */
const UNDER_WAY = /MCP_SERVER stdio tools\/list ok/;

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(() => dir.cleanup());

const traced = (file: string) => ({
  ...hangingModel,
  MEMENTO_DATA_DIR: join(dir.path, 'data'),
  OTEL_SDK_DISABLED: 'false',
  OTEL_TRACES_EXPORTER: 'none',
  OTEL_METRICS_EXPORTER: 'none',
  MEMENTO_TRACE_FILE: join(dir.path, file),
});

interface ListedTurn {
  status: string;
  chatCalls: number;
  user?: string;
}

async function listed(file: string): Promise<ListedTurn[]> {
  const run = await runMemento(['traces', 'list', '--json', '--file', join(dir.path, file)]);
  expect(run.code, run.stderr).toBe(0);
  return (JSON.parse(run.stdout) as { turns: ListedTurn[] }).turns;
}

describe('Ctrl-C', () => {
  it('ends `memento ask` with status 130, says "interrupted", and the turn is cancelled in traces', async () => {
    const ask = startInteractive(['ask', '--traffic', '--user', 'ivy', 'what did I store?'], { env: traced('ask.jsonl') });
    try {
      await ask.waitFor(UNDER_WAY, { stream: 'stderr' });
      ask.child.kill('SIGINT');
      expect(await ask.end()).toBe(130);
      expect(ask.stderr()).toContain('memento: interrupted');
    } finally {
      ask.child.kill('SIGKILL');
    }
    const [turn] = await listed('ask.jsonl');
    expect(turn).toMatchObject({ user: 'ivy', status: 'cancelled', chatCalls: 1 });
    const stats = await runMemento(['traces', 'stats', '--file', join(dir.path, 'ask.jsonl')]);
    expect(stats.stdout).toMatch(/1 turn.*\(1 cancelled\)/);
    expect(stats.stdout).not.toMatch(/failed/);
  });

  it('`ask --json` interrupted: the JSON says cancelled, on stdout, exit 130', async () => {
    const ask = startInteractive(['ask', '--json', '--traffic', 'what did I store?'], { env: traced('json.jsonl') });
    try {
      await ask.waitFor(UNDER_WAY, { stream: 'stderr' });
      ask.child.kill('SIGINT');
      expect(await ask.end()).toBe(130);
    } finally {
      ask.child.kill('SIGKILL');
    }
    const out = JSON.parse(ask.stdout()) as Record<string, unknown>;
    expect(out).toMatchObject({ ok: false, cancelled: true, chatCalls: 1, error: { type: 'cancelled', message: 'interrupted' } });
  });

  it('cancels the running turn in the REPL, which then takes the next one', async () => {
    const chat = startInteractive(['chat', '--traffic', '--user', 'jon'], { env: traced('chat.jsonl') });
    try {
      chat.send('what did I store?');
      await chat.waitFor(UNDER_WAY, { stream: 'stderr' });
      chat.child.kill('SIGINT');
      await chat.waitFor(/cancelled/);
      const mark = chat.stdout().length;
      chat.send('remember that Ctrl-C only cancels the turn');
      await chat.waitFor(/Stored "Ctrl-C only cancels the turn"/, { since: mark });
      expect(await chat.end()).toBe(0);
    } finally {
      chat.child.kill('SIGKILL');
    }
    const turns = await listed('chat.jsonl');
    expect(turns.map((t) => t.status)).toEqual(['ok', 'cancelled']);
    expect(turns[1]!.chatCalls).toBe(1);
  });
});
