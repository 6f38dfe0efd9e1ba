/*
 * History that survives, in the default store: a file per user, 0600 in a 0700 directory,
 * bounded, erased by /clear, continued by `ask --continue`. Real files in a temp dir and the
 * real command.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { History } from '../../src/client/history.ts';
import { FileHistoryStore } from '../../src/client/history/file-store.ts';
import { runMemento, startInteractive, tempDir } from '../helpers/memento.ts';

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir('memento-history-');
});
afterAll(() => dir.cleanup());

const historyDir = () => join(dir.path, 'history');
const env = () => ({ MEMENTO_HISTORY: 'on', MEMENTO_HISTORY_DIR: historyDir(), MEMENTO_DATA_DIR: join(dir.path, 'data') });
const stored = async (user: string) => JSON.parse(await readFile(join(historyDir(), `${user}.json`), 'utf8'));

describe('history in a file per user', () => {
  it('ask keeps the turn; ask --continue continues that conversation; a plain ask starts a new one', async () => {
    const first = await runMemento(['ask', '--json', '--user', 'hana', 'remember that the plumber comes Friday'], { env: env() });
    expect(first.code, first.stderr).toBe(0);
    const a = JSON.parse(first.stdout);
    expect(a.turn).toBe(1);

    const file = join(historyDir(), 'hana.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(historyDir())).mode & 0o777).toBe(0o700);
    expect(await stored('hana')).toEqual({
      id: a.conversationId,
      turns: 1,
      exchanges: [{ user: 'remember that the plumber comes Friday', assistant: a.answer }],
    });

    const next = await runMemento(['ask', '--json', '--continue', '--user', 'hana', 'what did I store?'], { env: env() });
    expect(next.code, next.stderr).toBe(0);
    const b = JSON.parse(next.stdout);
    expect(b).toMatchObject({ conversationId: a.conversationId, turn: 2 });
    expect((await stored('hana')).exchanges.map((e: { user: string }) => e.user)).toEqual([
      'remember that the plumber comes Friday',
      'what did I store?',
    ]);

    const fresh = await runMemento(['ask', '--json', '--user', 'hana', 'what did I store?'], { env: env() });
    const c = JSON.parse(fresh.stdout);
    expect(c.conversationId).not.toBe(a.conversationId);
    expect(c.turn).toBe(1);
    expect(await stored('hana')).toMatchObject({ id: c.conversationId, turns: 1 });
  }, 150_000);

  it('the chat resumes the conversation, and /clear erases it', async () => {
    await runMemento(['ask', '--user', 'ivan', 'remember that the keys are in the drawer'], { env: env() });
    const s = startInteractive(['chat', '--user', 'ivan'], { env: env() });
    try {
      s.send('/history');
      await s.waitFor(/you: remember that the keys are in the drawer\nmemento: /);
      s.send('/clear');
      await s.waitFor(/cleared ivan's conversation/);
      s.send('/quit');
      expect(await s.end()).toBe(0);
    } finally {
      s.child.kill();
    }
    expect(await readdir(historyDir())).not.toContain('ivan.json');
  });

  it('is bounded: only the newest exchanges are kept, in memory and in the file', async () => {
    const store = new FileHistoryStore(join(dir.path, 'bounded'));
    const h = new History(3, 1_000_000, { store, resume: true });
    for (let i = 0; i < 8; i++) {
      await h.sync('u');
      h.of('u').turns += 1;
      h.add('u', { user: `q${i}`, assistant: `a${i}` });
    }
    await h.close();
    const loaded = await store.load('u');
    expect(loaded?.exchanges.map((e) => e.user)).toEqual(['q5', 'q6', 'q7']);
    expect(loaded?.turns).toBe(8);
    // A second process resumes it where it was.
    const again = new History(3, 1_000_000, { store, resume: true });
    await again.sync('u');
    expect(again.of('u')).toEqual({ id: loaded!.id, turns: 8, exchanges: loaded!.exchanges });
  });

  it('a history file that is not one costs a warning, not the turn', async () => {
    const { writeFile, mkdir } = await import('node:fs/promises');
    await mkdir(historyDir(), { recursive: true });
    await writeFile(join(historyDir(), 'jo.json'), 'not json');
    const r = await runMemento(['ask', '--continue', '--user', 'jo', 'what did I store?'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^memento: could not read the conversation history at .*history \(.*\); going on with the history in memory$/)]);
  });
});
