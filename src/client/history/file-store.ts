/*
 * The default history store: one JSON file per user, in a 0700 directory, each file 0600,
 * written whole to a temporary file and renamed, so a crash leaves the old version or the new
 * one, never half of either. Bounded by the caller (History keeps the newest exchanges).
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { USER_ID_PATTERN } from '../../protocol.ts';
import type { Exchange, HistoryStore, StoredConversation } from './store.ts';


function isExchange(e: unknown): e is Exchange {
  return !!e && typeof (e as Exchange).user === 'string' && typeof (e as Exchange).assistant === 'string';
}

export class FileHistoryStore implements HistoryStore {
  readonly description: string;
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.description = dir;
  }

  private path(user: string): string {
    // User names are validated before they get here; this is the file system's own guard.
    if (!USER_ID_PATTERN.test(user)) throw new Error(`"${user}" is not a valid user name for a history file`);
    return join(this.dir, `${user}.json`);
  }

  async load(user: string): Promise<StoredConversation | undefined> {
    let text: string;
    try {
      text = await readFile(this.path(user), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const data = JSON.parse(text) as Partial<StoredConversation>;
    if (typeof data.id !== 'string' || !Array.isArray(data.exchanges)) {
      throw new Error(`${this.path(user)} is not a Memento history file`);
    }
    return { id: data.id, turns: Number.isInteger(data.turns) ? Number(data.turns) : 0, exchanges: data.exchanges.filter(isExchange) };
  }

  async append(user: string, conversation: { id: string; turns: number }, exchange: Exchange, maxExchanges: number): Promise<void> {
    const stored = await this.load(user).catch(() => undefined);
    const same = stored?.id === conversation.id;
    const exchanges = [...(same ? stored!.exchanges : []), exchange].slice(-maxExchanges);
    const turns = Math.max(conversation.turns, same ? stored!.turns : 0);
    await this.write(user, { id: conversation.id, turns, exchanges });
  }

  async clear(user: string): Promise<void> {
    await rm(this.path(user), { force: true });
  }

  async close(): Promise<void> {}

  private async write(user: string, conversation: StoredConversation): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const target = this.path(user);
    const temp = `${target}.${randomUUID()}.tmp`;
    try {
      await writeFile(temp, JSON.stringify(conversation), { mode: 0o600, flag: 'wx' });
      // The mode given to writeFile is reduced by the umask; history is private whatever it is.
      await chmod(temp, 0o600);
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }
}
