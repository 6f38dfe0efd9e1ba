/*
 * The REPL driven through stdin, line by line, the way a person (or `expect`) would: every
 * slash command does what /help says, and bad lines cost nothing.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemento, startInteractive, tempDir } from '../helpers/memento.ts';

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(() => dir.cleanup());

const env = () => ({
  MEMENTO_DATA_DIR: join(dir.path, 'data'),
  // Traced, to a file only: /trace draws the last turn.
  OTEL_SDK_DISABLED: 'false',
  OTEL_TRACES_EXPORTER: 'none',
  OTEL_METRICS_EXPORTER: 'none',
  MEMENTO_TRACE_FILE: join(dir.path, 'traces.jsonl'),
});

describe('memento chat', () => {
  it('runs the slash commands', async () => {
    const s = startInteractive(['chat', '--user', 'erin'], { env: env() });
    try {
      s.send('/help');
      await s.waitFor(/\/user NAME[\s\S]*\/quit/);

      s.send('/trace');
      await s.waitFor(/no traced turn yet/);

      let mark = s.stdout().length;
      s.send('remember that the dentist is on Tuesday');
      await s.waitFor(/Stored "the dentist is on Tuesday"[\s\S]*trace ([0-9a-f]{32})/, { since: mark });

      mark = s.stdout().length;
      s.send('/trace');
      // The turn whole, the server's spans included; with no collector, where the trace is kept.
      const drawn = await s.waitFor(/invoke_agent memento[\s\S]*memento traces show [0-9a-f]{8}\n/, { since: mark });
      expect(drawn[0]).toMatch(/chat gpt-4o-mini/);
      expect(drawn[0]).toMatch(/^client ├─ tools\/call store_memory/m);
      expect(drawn[0]).toMatch(/^server │  └─ tools\/call store_memory/m);

      mark = s.stdout().length;
      s.send('/history');
      await s.waitFor(/you: remember that the dentist is on Tuesday\nmemento: Stored/, { since: mark });

      s.send('/user frank');
      await s.waitFor(/now using frank's memories/);
      mark = s.stdout().length;
      s.send('/users');
      await s.waitFor(/ {2}erin\n\* frank\n/, { since: mark });

      s.send('/user ../etc');
      await s.waitFor(/"\.\.\/etc" is not a valid user name/);

      s.send('/user erin');
      mark = s.stdout().length;
      s.send('/clear');
      await s.waitFor(/cleared erin's conversation/, { since: mark });
      s.send('/history');
      await s.waitFor(/no conversation yet for erin/, { since: mark });

      s.send('/frobnicate');
      await s.waitFor(/unknown command \/frobnicate; \/help lists them/);

      // The memory outlives the cleared conversation.
      mark = s.stdout().length;
      s.send('what did I store?');
      await s.waitFor(/You stored 1 memory:[\s\S]*dentist/, { since: mark });

      s.send('/quit');
      expect(await s.end()).toBe(0);
    } finally {
      s.child.kill();
    }
  });

  it('/users lists the user the chat started with, before any turn', async () => {
    const run = await runMemento(['chat', '-u', 'gina'], { input: '/user hank\n/users\n', env: env() });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('  gina\n* hank\n');
  });

  it('leaves cleanly at the end of input (Ctrl-D)', async () => {
    const run = await runMemento(['chat'], { input: '', env: env() });
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
  });

  it('refuses an invalid --user before starting', async () => {
    const run = await runMemento(['chat', '--user', 'a/b'], { env: env() });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/"a\/b" is not a valid user name/);
  });
});
