/*
 * The tokens file's permissions, through `memento serve --tokens` on real files: a file other
 * accounts can change is refused (they could add a token for anyone), one they can read is
 * served with a warning, and a private one (0600) silently.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemento, startMemento, tempDir } from '../helpers/memento.ts';

let data: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  data = await tempDir('memento-tokens-mode-');
});
afterAll(async () => {
  await data.cleanup();
});

async function tokensFile(name: string, mode: number): Promise<string> {
  const file = join(data.path, name);
  await writeFile(file, JSON.stringify({ 'tok-mode-alice-5e6f7a8b9c0d': 'alice' }));
  await chmod(file, mode);
  return file;
}

describe.skipIf(process.platform === 'win32')('the tokens file mode', () => {
  it('refuses a world-writable tokens file (a local account could add itself a token)', async () => {
    for (const mode of [0o666, 0o602]) {
      const file = await tokensFile(`writable-${mode.toString(8)}.json`, mode);
      const run = await runMemento(['serve', '--port', '0', '--data-dir', join(data.path, 'unused'), '--tokens', file]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`the tokens file ${file} can be changed by any user on this machine (mode 0${mode.toString(8)})`);
      expect(run.stderr).toContain(`chmod 600 ${file}`);
      expect(run.stderr).not.toContain('tok-mode-alice');
    }
  });

  it('warns about a tokens file other accounts can read, and serves', async () => {
    const file = await tokensFile('readable.json', 0o644);
    const server = await startMemento(['serve', '--port', '0', '--data-dir', join(data.path, 'readable'), '--tokens', file]);
    expect(await server.stop()).toBe(0);
    expect(server.stderr()).toMatch(/the tokens file can be read by other users on this machine.*chmod 600/);
    expect(server.stderr()).toMatch(/mode=.?0644/);
    expect(server.stderr()).not.toContain('tok-mode-alice');
  });

  it('says nothing about a private (0600) tokens file', async () => {
    const file = await tokensFile('private.json', 0o600);
    const server = await startMemento(['serve', '--port', '0', '--data-dir', join(data.path, 'private'), '--tokens', file]);
    expect(await server.stop()).toBe(0);
    expect(server.stderr()).not.toMatch(/tokens file can be/);
  });
});
