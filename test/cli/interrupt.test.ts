/*
 * Ctrl-C: in `ask` it ends the turn and the command (exit 130); in the REPL it cancels the
 * running turn and the session goes on. The model here hangs on its first request (the
 * simulator's "timeout" fault), so there is a turn to interrupt.
 */
import { describe, expect, it } from 'vitest';
import { startInteractive, tempDir } from '../helpers/memento.ts';

const hangingModel = { MEMENTO_SIMULATOR_FAULTS: 'timeout,ok' };

describe('Ctrl-C', () => {
  it('ends `memento ask` with status 130', async () => {
    const data = await tempDir();
    const ask = startInteractive(['ask', 'what did I store?'], { env: { ...hangingModel, MEMENTO_DATA_DIR: data.path } });
    try {
      // Long enough for the MCP server to start and the model call to be under way.
      await new Promise((r) => setTimeout(r, 1500));
      ask.child.kill('SIGINT');
      expect(await ask.end()).toBe(130);
    } finally {
      ask.child.kill('SIGKILL');
      await data.cleanup();
    }
  });

  it('cancels the running turn in the REPL, which then takes the next one', async () => {
    const data = await tempDir();
    const chat = startInteractive(['chat'], { env: { ...hangingModel, MEMENTO_DATA_DIR: data.path } });
    try {
      chat.send('what did I store?');
      await new Promise((r) => setTimeout(r, 1500));
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
