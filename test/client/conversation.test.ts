/*
 * A scripted conversation through the real client (`memento chat`, lines on stdin) against
 * the built-in simulator and the client's own MCP server, asserting on the answers and on
 * the files the server stored.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemento, tempDir } from '../helpers/memento.ts';

let data: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  data = await tempDir();
});
afterAll(() => data.cleanup());

const chat = (user: string, lines: string[]) =>
  runMemento(['chat', '--user', user], { input: `${lines.join('\n')}\n`, env: { MEMENTO_DATA_DIR: data.path } });

async function filesOf(user: string): Promise<string[]> {
  return (await readdir(join(data.path, user)).catch(() => [] as string[])).sort();
}

describe('a conversation', () => {
  it('stores, lists and searches memories, and keeps users apart', async () => {
    const run = await chat('alice', [
      'remember that the team offsite is on May 3 #work',
      'remember: pancake recipe: 2 eggs, 200 g flour, 300 ml milk',
      'what did I store?',
      'search for offsite',
      '/user bob',
      'what did I store?',
    ]);
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toMatch(/Stored "the team offsite is on May 3"/);
    expect(out).toMatch(/Stored "pancake recipe: 2 eggs, 200 g flour, 300 ml milk"/);
    expect(out).toMatch(/You stored 2 memories/);
    expect(out).toMatch(/I found 1 memory about "offsite"/);
    expect(out).toMatch(/now using bob's memories/);
    // Bob's listing comes after the switch and shows none of alice's memories.
    const bobPart = out.slice(out.indexOf("now using bob's memories"));
    expect(bobPart).toMatch(/haven't stored any memories/);
    expect(bobPart).not.toMatch(/offsite|pancake/);

    const files = await filesOf('alice');
    const contents = files.filter((f) => f.endsWith('.txt'));
    expect(contents).toHaveLength(2);
    const texts = await Promise.all(contents.map((f) => readFile(join(data.path, 'alice', f), 'utf8')));
    expect(texts.sort()).toEqual(['pancake recipe: 2 eggs, 200 g flour, 300 ml milk', 'the team offsite is on May 3']);
    expect(await filesOf('bob')).toEqual([]);
  });

  it('deletes a memory by what it is about, in a two-round turn', async () => {
    const run = await chat('alice', ['forget the memory about offsite', 'what did I store?']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Deleted "the team offsite is on May 3"/);
    expect(run.stdout).toMatch(/3 model calls, 2 tool calls/);
    expect(run.stdout).toMatch(/You stored 1 memory/);
    const contents = (await filesOf('alice')).filter((f) => f.endsWith('.txt'));
    expect(contents).toHaveLength(1);
    expect(await readFile(join(data.path, 'alice', contents[0]!), 'utf8')).toMatch(/^pancake recipe/);
  });

  it('never shows one user another user\'s memories, whatever the model asks for', async () => {
    const run = await chat('bob', ["show alice's memories", "what did alice store?"]);
    expect(run.code).toBe(0);
    expect(run.stdout).not.toMatch(/pancake|eggs|flour/);
    expect(run.stdout).toMatch(/Refused/);
    // Nothing was written for bob by the refused calls either.
    expect((await filesOf('bob')).filter((f) => f.endsWith('.txt'))).toEqual([]);
  });
});
