/*
 * The embedded backend's own promises, beyond the contract: the files on disk (named as
 * always, content exactly as written, metadata alongside, 0700/0600 whatever the umask), the
 * index rebuilt from them when missing, corrupt or outdated, hand edits picked up, symbolic
 * links never followed, and no file Memento did not create ever deleted or changed.
 */
import { chmod, link, lstat, mkdir, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setLogSink } from '../../../src/log.ts';
import { EmbeddedStorage, MemoryNotFoundError } from '../../../src/server/storage/index.ts';
import { tempDir } from '../../helpers/memento.ts';
import { filesUnder } from '../support.ts';

let dir: Awaited<ReturnType<typeof tempDir>>;
const opened: EmbeddedStorage[] = [];
let logs: string[] = [];

async function open(options: { reconcileAtStart?: boolean; dataDir?: string } = {}): Promise<EmbeddedStorage> {
  const s = new EmbeddedStorage({ dataDir: options.dataDir ?? dir.path, maxContentBytes: 64 * 1024, reconcileAtStart: options.reconcileAtStart ?? false });
  await s.init();
  opened.push(s);
  return s;
}

/** Runs the start-up pass a server runs (full reconciliation and leftover removal) and waits for it. */
async function restart(): Promise<EmbeddedStorage> {
  const s = await open({ reconcileAtStart: true });
  await s.started;
  return s;
}

/** Names, sizes and times of every file under `root`, to show nothing changed. */
async function snapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of await filesUnder(root)) {
    const info = await lstat(join(root, f));
    out.push(`${f} ${info.size} ${info.mtimeMs} ${info.mode.toString(8)}`);
  }
  return out;
}

beforeEach(async () => {
  dir = await tempDir('memento-embedded-');
  logs = [];
  setLogSink((line) => logs.push(line));
});
afterEach(async () => {
  setLogSink((line) => process.stderr.write(line));
  await Promise.all(opened.splice(0).map((s) => s.close()));
  await dir.cleanup();
});

describe('files on disk', () => {
  it('writes the content as given beside a metadata sidecar, under a time-stamped name', async () => {
    const store = await open();
    const content = 'Réunion: budget approved.\r\nNext: hire 2 people.\n';
    const stored = await store.store('alice', { content, filename: 'meeting_summary.txt', description: 'Q3 planning', tags: 'work, meetings' });
    expect(await filesUnder(dir.path)).toEqual([`alice/${stored.file}`, `alice/${stored.file}.meta.json`]);
    expect(await readFile(join(dir.path, 'alice', stored.file), 'utf8')).toBe(content);
    expect(JSON.parse(await readFile(join(dir.path, 'alice', `${stored.file}.meta.json`), 'utf8'))).toEqual({
      version: 1,
      id: stored.id,
      file: stored.file,
      description: 'Q3 planning',
      tags: ['work', 'meetings'],
      created: stored.created,
      size: stored.size,
    });
  });

  it('keeps other local accounts out: directories 0700 and files 0600 even under umask 000', async () => {
    const previous = process.umask(0);
    try {
      const store = await open({ dataDir: join(dir.path, 'new', 'data') });
      const stored = await store.store('alice', { content: 'private' });
      const mode = async (p: string) => (await stat(p)).mode & 0o777;
      expect(await mode(join(dir.path, 'new'))).toBe(0o700);
      expect(await mode(join(dir.path, 'new', 'data'))).toBe(0o700);
      expect(await mode(join(dir.path, 'new', 'data', 'alice'))).toBe(0o700);
      expect(await mode(join(dir.path, 'new', 'data', 'alice', stored.file))).toBe(0o600);
      expect(await mode(join(dir.path, 'new', 'data', 'alice', `${stored.file}.meta.json`))).toBe(0o600);
      expect(await mode(join(dir.path, 'new', 'data', '.memento-index.sqlite'))).toBe(0o600);
    } finally {
      process.umask(previous);
    }
  });

  it('never clobbers a file it did not write: a foreign file with the planned name is kept', async () => {
    const store = await open();
    const first = await store.store('alice', { content: 'one', filename: 'x.txt' });
    const stamp = first.file.slice(0, 15);
    for (const n of ['', '_2', '_3']) await writeFile(join(dir.path, 'alice', `${stamp}_y${n}.txt`), 'foreign');
    // A stray sidecar name too: the store must skip that name as well.
    await writeFile(join(dir.path, 'alice', `${stamp}_y_4.txt.meta.json`), 'not ours');
    const second = await store.store('alice', { content: 'two', filename: 'y.txt' });
    for (const n of ['', '_2', '_3']) expect(await readFile(join(dir.path, 'alice', `${stamp}_y${n}.txt`), 'utf8')).toBe('foreign');
    expect(await readFile(join(dir.path, 'alice', `${stamp}_y_4.txt.meta.json`), 'utf8')).toBe('not ours');
    if (second.file.startsWith(stamp)) expect(second.file).toBe(`${stamp}_y_5.txt`);
    expect(await readFile(join(dir.path, 'alice', second.file), 'utf8')).toBe('two');
  });

  it('creates nothing in the user directories for a user who only reads', async () => {
    const store = await open();
    expect((await store.list('nobody')).total).toBe(0);
    expect((await store.search('nobody', 'anything')).total).toBe(0);
    await expect(store.get('nobody', 'x')).rejects.toBeInstanceOf(MemoryNotFoundError);
    expect(await filesUnder(dir.path)).toEqual([]);
    expect((await readdir(dir.path)).filter((n) => !n.startsWith('.memento-index'))).toEqual([]);
  });
});

describe('the index', () => {
  /** Writes a memory the way the previous version did: two files, no index. */
  async function legacyMemory(user: string, file: string, id: string, content: string, tags: string[] = []) {
    await mkdir(join(dir.path, user), { recursive: true });
    await writeFile(join(dir.path, user, file), content);
    const created = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}.${id.slice(16, 19)}Z`;
    await writeFile(
      join(dir.path, user, `${file}.meta.json`),
      JSON.stringify({ version: 1, id, file, description: '', tags, created, size: Buffer.byteLength(content) }, null, 2),
    );
  }

  it('picks up a data directory written by the previous version with nothing lost', async () => {
    await legacyMemory('alice', '20240101_100000_old.txt', '20240101-100000-000-0000000a', 'from the old days', ['legacy']);
    await legacyMemory('alice', '20240102_100000_newer.txt', '20240102-100000-000-0000000b', 'a bit newer');
    await legacyMemory('bob', '20240103_100000_bob.txt', '20240103-100000-000-0000000c', 'bob was here');
    const store = await open();
    expect((await store.list('alice')).memories.map((m) => m.id)).toEqual(['20240102-100000-000-0000000b', '20240101-100000-000-0000000a']);
    expect((await store.list('alice', { tag: 'legacy' })).total).toBe(1);
    expect((await store.search('bob', 'here')).memories.map((m) => m.file)).toEqual(['20240103_100000_bob.txt']);
    expect((await store.get('alice', '20240101_100000_old.txt')).content).toBe('from the old days');
  });

  it('is rebuilt from the files when missing, corrupt or from another version', async () => {
    const first = await open();
    const a = await first.store('alice', { content: 'survives every index loss', tags: ['keep'] });
    await first.close();
    const index = join(dir.path, '.memento-index.sqlite');

    await rm(index);
    expect((await (await open()).list('alice')).memories.map((m) => m.id)).toEqual([a.id]);
    await Promise.all(opened.splice(0).map((s) => s.close()));

    for (const suffix of ['-wal', '-shm']) await rm(index + suffix, { force: true });
    await writeFile(index, 'this is not a database at all, just garbage bytes '.repeat(100));
    expect((await (await open()).search('alice', 'survives')).memories.map((m) => m.id)).toEqual([a.id]);
    expect(logs.join('')).toMatch(/index database is corrupt; rebuilding/);
    await Promise.all(opened.splice(0).map((s) => s.close()));

    const db = new DatabaseSync(index);
    db.exec('PRAGMA user_version = 0');
    db.close();
    expect((await (await open()).list('alice', { tag: 'keep' })).memories.map((m) => m.id)).toEqual([a.id]);
    expect(logs.join('')).toMatch(/from another version; rebuilding/);
  });

  it('reports progress in the log while it indexes many files', async () => {
    await mkdir(join(dir.path, 'alice'));
    const n = 1000;
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const id = `20240101-1000${String(Math.floor(i / 100)).padStart(2, '0')}-${String(i % 100).padStart(3, '0')}-${i.toString(16).padStart(8, '0')}`;
        const file = `20240101_1000${String(Math.floor(i / 100)).padStart(2, '0')}_n${i}.txt`;
        await writeFile(join(dir.path, 'alice', file), `note ${i}`);
        await writeFile(join(dir.path, 'alice', `${file}.meta.json`), JSON.stringify({ version: 1, id, file, description: '', tags: [], created: '2024-01-01T10:00:00.000Z', size: `note ${i}`.length }));
      }),
    );
    const store = await open();
    expect((await store.list('alice')).total).toBe(n);
    expect(logs.join('')).toMatch(/indexing memory files user=alice files=1000/);
    expect(logs.join('')).toMatch(/indexing memory files.*done=500 of=1000/);
    expect(logs.join('')).toMatch(/indexing memory files.*done=1000 of=1000/);
  }, 120_000);

  it('picks up files added or removed by hand at the next call, and in-place edits at the next start', async () => {
    const store = await open();
    const a = await store.store('alice', { content: 'original text' });
    const b = await store.store('alice', { content: 'to be removed by hand' });
    // Added by hand: a pair copied in from a backup.
    await legacyMemory('alice', '20240101_100000_restored.txt', '20240101-100000-000-0000000d', 'restored from backup');
    expect((await store.list('alice')).memories.map((m) => m.preview)).toContain('restored from backup');
    // Removed by hand.
    await rm(join(dir.path, 'alice', `${b.file}.meta.json`));
    await rm(join(dir.path, 'alice', b.file));
    expect((await store.list('alice')).memories.map((m) => m.id)).not.toContain(b.id);
    // Edited in place (the directory does not change): seen at the next start.
    await writeFile(join(dir.path, 'alice', a.file), 'edited by a person with grep in mind');
    await utimes(join(dir.path, 'alice', a.file), new Date(), new Date(Date.now() + 5000));
    const again = await restart();
    expect((await again.search('alice', 'grep')).memories.map((m) => m.id)).toEqual([a.id]);
    expect((await again.get('alice', a.id)).content).toBe('edited by a person with grep in mind');
  });

  it('after a burst of its own concurrent stores the index still matches the directory, so the next call reads no directory', async () => {
    const store = await open();
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.store('alice', { content: `burst ${i}` })));
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.store('alice', { content: `second burst ${i}` })));
    const db = new DatabaseSync(join(dir.path, '.memento-index.sqlite'), { readOnly: true });
    const recorded = (db.prepare("SELECT mtime FROM dirs WHERE user = 'alice'").get() as { mtime: string }).mtime;
    db.close();
    expect(recorded).toBe(String((await lstat(join(dir.path, 'alice'), { bigint: true })).mtimeNs));
    // And a change by anyone else still differs from the record: the next call sees it.
    await writeFile(join(dir.path, 'alice', 'a person was here.txt'), 'x');
    expect(String((await lstat(join(dir.path, 'alice'), { bigint: true })).mtimeNs)).not.toBe(recorded);
  });

  it('after closed-loop writers (each store starts as the last one ends, bursts back to back) the index still matches the directory', async () => {
    const store = await open();
    let next = 0;
    // 16 writers like 16 sessions: a burst ends and the next begins in the same tick, so the
    // record must have moved before the new burst looks at it.
    const writer = async () => {
      while (next < 400) {
        const i = next++;
        if (i % 10 === 9) await store.delete('dave', (await store.store('dave', { content: `to delete ${i}` })).id);
        else await store.store('dave', { content: `closed loop ${i}` });
      }
    };
    await Promise.all(Array.from({ length: 16 }, writer));
    const db = new DatabaseSync(join(dir.path, '.memento-index.sqlite'), { readOnly: true });
    const recorded = (db.prepare("SELECT mtime FROM dirs WHERE user = 'dave'").get() as { mtime: string }).mtime;
    db.close();
    expect(recorded).toBe(String((await lstat(join(dir.path, 'dave'), { bigint: true })).mtimeNs));
    expect((await store.list('dave')).total).toBe(360);
  });

  it('after single stores and deletes one at a time (the record moved inside their own index transaction) the index still matches the directory', async () => {
    const store = await open();
    const recorded = () => {
      const db = new DatabaseSync(join(dir.path, '.memento-index.sqlite'), { readOnly: true });
      try {
        return (db.prepare("SELECT mtime FROM dirs WHERE user = 'carol'").get() as { mtime: string }).mtime;
      } finally {
        db.close();
      }
    };
    const stamp = async () => String((await lstat(join(dir.path, 'carol'), { bigint: true })).mtimeNs);
    // A new user's first store, then more stores and a delete, each alone.
    const first = await store.store('carol', { content: 'first' });
    expect(recorded()).toBe(await stamp());
    await store.store('carol', { content: 'second' });
    expect(recorded()).toBe(await stamp());
    await store.delete('carol', first.id);
    expect(recorded()).toBe(await stamp());
    // A store made after the user directory was removed by hand makes it again.
    await rm(join(dir.path, 'carol'), { recursive: true });
    const again = await store.store('carol', { content: 'after the directory was removed' });
    expect((await store.get('carol', again.id)).content).toBe('after the directory was removed');
    expect((await store.list('carol')).memories.map((m) => m.id)).toEqual([again.id]);
  });

  it('checkpoints the index WAL in its own thread: the WAL stays bounded under many stores, and close() leaves no WAL behind', async () => {
    const store = await open();
    const wal = join(dir.path, '.memento-index.sqlite-wal');
    let largest = 0;
    for (let round = 0; round < 15; round++) {
      await Promise.all(Array.from({ length: 40 }, (_, i) => store.store(`u${i % 4}`, { content: `round ${round} note ${i} `.repeat(40), tags: ['a', 'b'] })));
      largest = Math.max(largest, (await stat(wal)).size);
    }
    // 600 stores: with the WAL started over after each caught-up checkpoint it stays ~5 MiB;
    // without (only the 10,000-page backstop) it reached ~18 MiB.
    expect(largest).toBeLessThan(10 * 1024 * 1024);
    expect((await store.list('u1')).total).toBe(150);
    await store.close();
    await expect(stat(wal)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('does not trust a sidecar that names another file', async () => {
    const store = await open();
    const stored = await store.store('alice', { content: 'real' });
    await mkdir(join(dir.path, 'bob'));
    await writeFile(join(dir.path, 'bob', 'secret.txt'), 'bob secret');
    const forged = JSON.parse(await readFile(join(dir.path, 'alice', `${stored.file}.meta.json`), 'utf8'));
    forged.file = '../bob/secret.txt';
    forged.id = '20240101-000000-000-00000000';
    await writeFile(join(dir.path, 'alice', '20240101_000000_forged.txt'), 'x');
    await writeFile(join(dir.path, 'alice', '20240101_000000_forged.txt.meta.json'), JSON.stringify(forged));
    expect((await store.list('alice')).memories.map((m) => m.id)).toEqual([stored.id]);
  });
});

describe('symbolic links are never followed', () => {
  it('refuses a user directory that is a link to a directory elsewhere, writing and deleting nothing there', async () => {
    const elsewhere = join(dir.path, 'elsewhere');
    await mkdir(elsewhere);
    await writeFile(join(elsewhere, '20200101_000000_victim.txt'), 'not memento data');
    await utimes(join(elsewhere, '20200101_000000_victim.txt'), new Date(0), new Date(0));
    const data = join(dir.path, 'data');
    await mkdir(data);
    await symlink(elsewhere, join(data, 'mallory'));
    const store = await open({ dataDir: data, reconcileAtStart: true });
    await expect(store.store('mallory', { content: 'x' })).rejects.toThrow(/symbolic link, and Memento never follows links/);
    await expect(store.list('mallory')).rejects.toThrow(/symbolic link/);
    await expect(store.search('mallory', 'victim')).rejects.toThrow(/symbolic link/);
    await store.close();
    expect(await readdir(elsewhere)).toEqual(['20200101_000000_victim.txt']);
    expect(logs.join('')).toMatch(/refusing to follow a symbolic link in the data directory.*mallory/);
  });

  it('never reads a content file or sidecar that is a link, and never returns what it points at', async () => {
    const store = await open();
    const stored = await store.store('alice', { content: 'harmless' });
    await writeFile(join(dir.path, 'outside-secret'), 'root password');
    // A memory whose content file was swapped for a link after it was indexed.
    await rm(join(dir.path, 'alice', stored.file));
    await symlink(join(dir.path, 'outside-secret'), join(dir.path, 'alice', stored.file));
    await expect(store.get('alice', stored.id)).rejects.toThrow(/symbolic link/);
    // A planted pair whose content is a link, and one whose sidecar is a link.
    await symlink(join(dir.path, 'outside-secret'), join(dir.path, 'alice', '20240101_000000_planted.txt'));
    await writeFile(
      join(dir.path, 'alice', '20240101_000000_planted.txt.meta.json'),
      JSON.stringify({ version: 1, id: '20240101-000000-000-0000000e', file: '20240101_000000_planted.txt', description: '', tags: [], created: '2024-01-01T00:00:00.000Z', size: 13 }),
    );
    await writeFile(join(dir.path, 'sidecar-elsewhere.json'), JSON.stringify({ version: 1, id: '20240101-000000-000-0000000f', file: '20240101_000001_x.txt', description: '', tags: [], created: '2024-01-01T00:00:00.000Z', size: 1 }));
    await writeFile(join(dir.path, 'alice', '20240101_000001_x.txt'), 'y');
    await symlink(join(dir.path, 'sidecar-elsewhere.json'), join(dir.path, 'alice', '20240101_000001_x.txt.meta.json'));
    const again = await restart();
    const listed = await again.list('alice');
    expect(listed.memories.map((m) => m.preview)).not.toContain('root password');
    expect(listed.memories.map((m) => m.id)).not.toContain('20240101-000000-000-0000000e');
    expect(listed.memories.map((m) => m.id)).not.toContain('20240101-000000-000-0000000f');
    expect((await again.search('alice', 'password')).total).toBe(0);
    expect(await readFile(join(dir.path, 'outside-secret'), 'utf8')).toBe('root password');
    expect(logs.join('')).toMatch(/refusing to follow a symbolic link/);
  });
});

describe('files Memento did not create', () => {
  it('are never deleted or changed, by read-only tools or at start, however old and however named', async () => {
    const store = await open();
    const kept = await store.store('alice', { content: 'complete' });
    const userDir = join(dir.path, 'alice');
    const old = new Date(Date.now() - 3600_000);
    // A person's file named like a memory with no sidecar, a README, a half-looking temp name.
    const foreign = ['20240101_000000_half.txt', 'README', '.tmp-notes', '.tmp-12-not-an-id.content', '20240101_000001_ghost.txt.meta.json'];
    for (const name of foreign) {
      await writeFile(join(userDir, name), 'a file a person put here');
      await utimes(join(userDir, name), old, old);
    }
    const before = await snapshot(dir.path);
    expect((await store.search('alice', 'person')).total).toBe(0);
    expect((await store.list('alice')).memories.map((m) => m.id)).toEqual([kept.id]);
    await expect(store.get('alice', '20240101_000000_half.txt')).rejects.toBeInstanceOf(MemoryNotFoundError);
    expect(await snapshot(dir.path)).toEqual(before);
    const again = await restart();
    expect((await again.list('alice')).memories.map((m) => m.id)).toEqual([kept.id]);
    expect((await readdir(userDir)).sort()).toEqual([...foreign, kept.file, `${kept.file}.meta.json`].sort());
  });

  it("removes only its own leftovers: old temporary files and the content a crash left hard-linked to one", async () => {
    const store = await open();
    const kept = await store.store('alice', { content: 'complete' });
    const userDir = join(dir.path, 'alice');
    const old = new Date(Date.now() - 3600_000);
    // A crash between the two links: content linked to its final name, temp files still there.
    const id = '20240101-000000-000-deadbeef';
    await writeFile(join(userDir, `.tmp-123-${id}.content`), 'partial');
    await writeFile(join(userDir, `.tmp-123-${id}.meta`), '{}');
    await link(join(userDir, `.tmp-123-${id}.content`), join(userDir, '20240101_000000_half.txt'));
    // A crash after the commit, before the temp name went: the memory stays, the temp goes.
    await link(join(userDir, kept.file), join(userDir, `.tmp-1-${kept.id}.content`));
    for (const name of [`.tmp-123-${id}.content`, `.tmp-123-${id}.meta`, `.tmp-1-${kept.id}.content`]) await utimes(join(userDir, name), old, old);
    // Another process's write in flight: too recent to touch.
    await writeFile(join(userDir, '.tmp-999-20240101-000000-000-00000001.content'), 'in flight elsewhere');
    const again = await restart();
    expect((await readdir(userDir)).sort()).toEqual(['.tmp-999-20240101-000000-000-00000001.content', kept.file, `${kept.file}.meta.json`].sort());
    expect((await again.get('alice', kept.id)).content).toBe('complete');
  });
});

describe('health', () => {
  it('is degraded, naming the path and what to do, when the data directory is gone', async () => {
    const data = join(dir.path, 'data');
    const store = await open({ dataDir: data });
    expect((await store.health()).status).toBe('ok');
    await rm(data, { recursive: true });
    await writeFile(data, 'a file now');
    const health = await store.health();
    expect(health.status).toBe('degraded');
    expect(health.problem).toContain(data);
    expect(health.problem).toMatch(/restart the server with another --data-dir/);
    await chmod(data, 0o600);
  });
});
