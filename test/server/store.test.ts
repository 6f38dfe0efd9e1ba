/*
 * The store on its own: layout on disk, atomic never-clobbering writes, the index kept in step,
 * listing by time and tag, search ranking, and recovery from what a crash leaves behind.
 */
import { link, mkdir, readFile, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MemoryInputError,
  MemoryNotFoundError,
  MemoryStore,
  normalizeTags,
  parseBound,
  PREVIEW_CHARS,
} from '../../src/server/store.ts';
import { tempDir } from '../helpers/memento.ts';
import { filesUnder } from './support.ts';

let dir: { path: string; cleanup: () => Promise<void> };
let store: MemoryStore;

beforeEach(async () => {
  dir = await tempDir('memento-store-');
  store = new MemoryStore({ dataDir: dir.path, maxContentBytes: 64 * 1024 });
  await store.init();
});
afterEach(async () => {
  await store.close();
  await dir.cleanup();
});

describe('storing', () => {
  it('writes the content as given beside a metadata sidecar, under a time-stamped name', async () => {
    const content = 'Réunion: budget approved.\r\nNext: hire 2 people.\n';
    const stored = await store.store('alice', {
      content,
      filename: 'meeting_summary.txt',
      description: 'Q3 planning',
      tags: 'work, meetings',
    });
    expect(stored).toEqual({
      id: expect.stringMatching(/^\d{8}-\d{6}-\d{3}-[0-9a-f]{8}$/),
      file: expect.stringMatching(/^\d{8}_\d{6}_meeting_summary\.txt$/),
      description: 'Q3 planning',
      tags: ['work', 'meetings'],
      created: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      size: Buffer.byteLength(content),
      preview: content,
      truncated: false,
    });
    // The name's stamp is the creation time, in UTC.
    const created = new Date(stored.created);
    const stamp = created.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
    expect(stored.file.startsWith(stamp)).toBe(true);
    expect(stored.id.startsWith(stamp.replace('_', '-'))).toBe(true);

    expect(await filesUnder(dir.path)).toEqual([`alice/${stored.file}`, `alice/${stored.file}.meta.json`]);
    expect(await readFile(join(dir.path, 'alice', stored.file), 'utf8')).toBe(content);
    const sidecar = JSON.parse(await readFile(join(dir.path, 'alice', `${stored.file}.meta.json`), 'utf8'));
    expect(sidecar).toEqual({
      version: 1,
      id: stored.id,
      file: stored.file,
      description: 'Q3 planning',
      tags: ['work', 'meetings'],
      created: stored.created,
      size: stored.size,
    });
  });

  it('makes a name from the description or the content when none is given', async () => {
    const a = await store.store('alice', { content: 'x', description: 'Meeting summary, Q3!' });
    const b = await store.store('alice', { content: 'Ça va? Dentist appointment on Friday at 10:30 downtown.' });
    const c = await store.store('alice', { content: '!!! ???' });
    expect(a.file).toMatch(/^\d{8}_\d{6}_meeting_summary_q3\.txt$/);
    expect(b.file).toMatch(/^\d{8}_\d{6}_ca_va_dentist_appointment_on_friday\.txt$/);
    expect(c.file).toMatch(/^\d{8}_\d{6}_memory\.txt$/);
  });

  it('never reuses a name: the same name in the same second gets _2, _3 …', async () => {
    const stored = await Promise.all(
      Array.from({ length: 5 }, (_, i) => store.store('alice', { content: `n${i}`, filename: 'same.md' })),
    );
    const names = stored.map((s) => s.file.replace(/^\d{8}_\d{6}_/, ''));
    expect(new Set(stored.map((s) => s.file)).size).toBe(5);
    expect(new Set(stored.map((s) => s.id)).size).toBe(5);
    for (const name of names) expect(name).toMatch(/^same(_\d)?\.md$/);
    for (const s of stored) expect(await readFile(join(dir.path, 'alice', s.file), 'utf8')).toBe(`n${stored.indexOf(s)}`);
  });

  it('never clobbers a file it did not write: a foreign file with the planned name is kept', async () => {
    const first = await store.store('alice', { content: 'one', filename: 'x.txt' });
    // Someone else puts a file where the next store in the same second would go.
    const stamp = first.file.slice(0, 15);
    for (const n of ['', '_2', '_3']) await writeFile(join(dir.path, 'alice', `${stamp}_y${n}.txt`), 'foreign');
    const second = await store.store('alice', { content: 'two', filename: 'y.txt' });
    const foreign = await readFile(join(dir.path, 'alice', `${stamp}_y.txt`), 'utf8');
    expect(foreign).toBe('foreign');
    expect(await readFile(join(dir.path, 'alice', second.file), 'utf8')).toBe('two');
    const sidecar = JSON.parse(await readFile(join(dir.path, 'alice', `${second.file}.meta.json`), 'utf8'));
    expect(sidecar.file).toBe(second.file);
  });

  it('refuses empty, oversized and malformed input with a clear error and writes nothing', async () => {
    const cases: [Parameters<MemoryStore['store']>[1], RegExp][] = [
      [{ content: '' }, /content is empty/],
      [{ content: ' \n\t ' }, /content is empty/],
      [{ content: 'x'.repeat(64 * 1024 + 1) }, /65537 bytes; this server stores at most 65536 bytes/],
      [{ content: 'é'.repeat(32 * 1024 + 1) }, /65538 bytes/],
      [{ content: 42 as unknown as string }, /content must be a string/],
      [{ content: 'x', filename: '../escape.txt' }, /path separator/],
      [{ content: 'x', filename: 'notes.meta.json' }, /reserved for metadata/],
      [{ content: 'x', description: 'd'.repeat(2001) }, /description is 2001 characters/],
      [{ content: 'x', tags: ['ok', 'x'.repeat(65)] }, /at most 64/],
      [{ content: 'x', tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, /33 tags given/],
      [{ content: 'x', tags: [7 as unknown as string] }, /Each tag must be a string/],
    ];
    for (const [input, message] of cases) {
      await expect(store.store('alice', input)).rejects.toThrow(message);
      await expect(store.store('alice', input)).rejects.toBeInstanceOf(MemoryInputError);
    }
    expect(await filesUnder(dir.path)).toEqual([]);
  });

  it('accepts content of exactly the limit', async () => {
    const stored = await store.store('alice', { content: 'x'.repeat(64 * 1024) });
    expect(stored.size).toBe(64 * 1024);
    expect(stored.truncated).toBe(true);
    expect(stored.preview).toHaveLength(PREVIEW_CHARS);
  });

  it('refuses user ids that are not plain names', async () => {
    for (const bad of ['../bob', '/etc', 'a\0b', '', '.hidden', 'x'.repeat(65), '\uFF41lice']) {
      await expect(store.store(bad, { content: 'x' })).rejects.toBeInstanceOf(MemoryInputError);
    }
    expect(await readdir(dir.path)).toEqual([]);
  });
});

describe('reading back', () => {
  it('creates nothing on disk for a user who only reads', async () => {
    expect((await store.list('nobody')).total).toBe(0);
    expect((await store.search('nobody', 'anything')).total).toBe(0);
    await expect(store.get('nobody', 'x')).rejects.toBeInstanceOf(MemoryNotFoundError);
    expect(await readdir(dir.path)).toEqual([]);
  });


  it('gets by id or by file name, and deletes both files', async () => {
    const stored = await store.store('alice', { content: 'hello', tags: ['a'] });
    expect(await store.get('alice', stored.id)).toEqual({
      id: stored.id,
      file: stored.file,
      description: '',
      tags: ['a'],
      created: stored.created,
      size: 5,
      content: 'hello',
    });
    expect((await store.get('alice', stored.file)).id).toBe(stored.id);
    const deleted = await store.delete('alice', stored.id);
    expect(deleted.id).toBe(stored.id);
    expect(await filesUnder(dir.path)).toEqual([]);
    await expect(store.get('alice', stored.id)).rejects.toBeInstanceOf(MemoryNotFoundError);
    await expect(store.delete('alice', stored.id)).rejects.toThrow(/No memory with id/);
  });

  it('does not echo an unprintable or huge id back', async () => {
    await expect(store.get('alice', 'x\u202Ey')).rejects.toThrow(/^No memory with that id/);
    await expect(store.get('alice', 'x'.repeat(1000))).rejects.toThrow(/^No memory with that id/);
  });

  it('lets only one of two concurrent deletes of the same memory succeed', async () => {
    const stored = await store.store('alice', { content: 'once' });
    const results = await Promise.allSettled([store.delete('alice', stored.id), store.delete('alice', stored.id)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
  });
});

describe('listing', () => {
  async function storeAt(ms: number, content: string, tags: string[] = []) {
    const realNow = Date.now;
    Date.now = () => ms;
    try {
      return await store.store('alice', { content, tags });
    } finally {
      Date.now = realNow;
    }
  }

  it('lists newest first, filters by tag and by day, and pages with a cursor', async () => {
    const day = Date.UTC(2024, 6, 15);
    const before = await storeAt(day - 1, 'the evening before', ['home']);
    const morning = await storeAt(day + 9 * 3600_000, 'morning standup', ['work']);
    const noon = await storeAt(day + 12 * 3600_000, 'lunch with Sam', ['Home']);
    const night = await storeAt(day + 86_400_000 - 1, 'late note', ['work']);
    const after = await storeAt(day + 86_400_000, 'next day', []);

    const all = await store.list('alice');
    expect(all.memories.map((m) => m.id)).toEqual([after, night, noon, morning, before].map((m) => m.id));
    expect(all).toMatchObject({ total: 5, nextCursor: null });

    const that = await store.list('alice', { since: '2024-07-15', until: '2024-07-15' });
    expect(that.memories.map((m) => m.preview)).toEqual(['late note', 'lunch with Sam', 'morning standup']);

    const home = await store.list('alice', { tag: 'HOME' });
    expect(home.memories.map((m) => m.id)).toEqual([noon.id, before.id]);
    expect(home.total).toBe(2);

    const timed = await store.list('alice', { since: '2024-07-15T09:00:00Z', until: '2024-07-15T12:00:00+00:00' });
    expect(timed.memories.map((m) => m.id)).toEqual([noon.id, morning.id]);
    const offset = await store.list('alice', { since: '2024-07-15T11:00:00+02:00', until: '2024-07-15T14:00+0200' });
    expect(offset.memories.map((m) => m.id)).toEqual([noon.id, morning.id]);

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list('alice', { limit: 2, cursor });
      expect(page.total).toBe(5);
      seen.push(...page.memories.map((m) => m.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(all.memories.map((m) => m.id));

    // A cursor stays valid when its memory is deleted meanwhile.
    const first = await store.list('alice', { limit: 2 });
    await store.delete('alice', first.nextCursor!);
    const rest = await store.list('alice', { limit: 10, cursor: first.nextCursor! });
    expect(rest.memories.map((m) => m.id)).toEqual([noon.id, morning.id, before.id]);
  });

  it('explains bad bounds and cursors', async () => {
    await expect(store.list('alice', { since: 'yesterday' })).rejects.toThrow(/since must be an ISO 8601 date/);
    await expect(store.list('alice', { until: '2024-02-30' })).rejects.toThrow(/not a calendar date/);
    await expect(store.list('alice', { since: '2024-07-16', until: '2024-07-15' })).rejects.toThrow(/until is before since/);
    await expect(store.list('alice', { cursor: '../../x' })).rejects.toThrow(/cursor is not one this server handed out/);
  });

  it('parses ISO 8601 bounds as UTC unless they carry an offset', () => {
    expect(parseBound('2024-07-15', 'since')).toBe(Date.UTC(2024, 6, 15));
    expect(parseBound('2024-07-15', 'until')).toBe(Date.UTC(2024, 6, 16));
    expect(parseBound('2024-07-15T10:00:00', 'since')).toBe(Date.UTC(2024, 6, 15, 10));
    expect(parseBound('2024-07-15 10:00', 'since')).toBe(Date.UTC(2024, 6, 15, 10));
    expect(parseBound('2024-07-15T10:00:00.250-05:00', 'until')).toBe(Date.UTC(2024, 6, 15, 15, 0, 0, 251));
  });

  it('normalizes tags given as a list or a comma-separated string', () => {
    expect(normalizeTags(' work, Meetings ,work,,  ')).toEqual(['work', 'Meetings']);
    expect(normalizeTags(['a', 'A', ' b '])).toEqual(['a', 'b']);
    expect(normalizeTags(undefined)).toEqual([]);
  });
});

describe('searching', () => {
  it('finds keywords case-insensitively in content, description, tags and file name, best first', async () => {
    const inContent = await store.store('alice', { content: 'We met on Tuesday and discussed the BUDGET for next year.' });
    const inTags = await store.store('alice', { content: 'numbers', tags: ['budget'] });
    const inName = await store.store('alice', { content: 'see attachment', filename: 'budget_2025.txt' });
    const inDescription = await store.store('alice', { content: 'x', description: 'Budget review notes' });
    await store.store('alice', { content: 'Nothing relevant here.' });
    const { memories, total } = await store.search('alice', 'budget');
    expect(total).toBe(4);
    const ids = memories.map((m) => m.id);
    expect(ids[0]).toBe(inTags.id);
    expect(ids.slice(1, 3).sort()).toEqual([inName.id, inDescription.id].sort());
    expect(ids[3]).toBe(inContent.id);
    expect(memories[0]!.score).toBeGreaterThan(memories[1]!.score);
    expect(memories[2]!.score).toBeGreaterThan(memories[3]!.score);
  });

  it('matches words by prefix and without diacritics, and ranks all-words matches higher', async () => {
    const both = await store.store('alice', { content: 'Réunion about the meeting schedule' });
    const one = await store.store('alice', { content: 'meetings are long' });
    const other = await store.store('alice', { content: 'a reunion of old friends' });
    const found = await store.search('alice', 'meet reunion');
    expect(found.memories[0]!.id).toBe(both.id);
    expect(found.memories.map((m) => m.id).sort()).toEqual([both.id, one.id, other.id].sort());
    expect(found.total).toBe(3);
  });

  it('lets common words count for little (inverse document frequency)', async () => {
    for (let i = 0; i < 20; i++) await store.store('alice', { content: `the note number ${i}` });
    const rare = await store.store('alice', { content: 'the dentist' });
    const found = await store.search('alice', 'the dentist', 3);
    expect(found.memories[0]!.id).toBe(rare.id);
    expect(found.total).toBe(21);
    expect(found.memories).toHaveLength(3);
  });

  it('forgets deleted memories and refuses a query without words', async () => {
    const stored = await store.store('alice', { content: 'ephemeral thought' });
    expect((await store.search('alice', 'ephemeral')).total).toBe(1);
    await store.delete('alice', stored.id);
    expect((await store.search('alice', 'ephemeral')).total).toBe(0);
    await expect(store.search('alice', ' ,;! ')).rejects.toThrow(/no words/);
  });
});

describe('loading a directory', () => {
  it('reads what an earlier run stored, and ignores another user', async () => {
    const a = await store.store('alice', { content: 'persisted', tags: ['t'], description: 'd' });
    await store.store('bob', { content: 'bobs' });
    const again = new MemoryStore({ dataDir: dir.path });
    expect((await again.list('alice')).memories).toEqual([{ ...a }]);
    expect((await again.search('alice', 'persisted')).memories.map((m) => m.id)).toEqual([a.id]);
    expect((await again.search('alice', 'bobs')).total).toBe(0);
  });

  it('removes old leftovers of interrupted writes, keeps recent ones and foreign files, and never lists them', async () => {
    const kept = await store.store('alice', { content: 'complete' });
    const userDir = join(dir.path, 'alice');
    const old = new Date(Date.now() - 3600_000);
    // What a crash can leave: temporary files, and a content file whose sidecar never landed.
    const leftovers = ['.tmp-123-20240101-000000-000-deadbeef.content', '.tmp-123-x.meta', '20240101_000000_half.txt'];
    for (const name of leftovers) {
      await writeFile(join(userDir, name), 'partial');
      await utimes(join(userDir, name), old, old);
    }
    await writeFile(join(userDir, '.tmp-999-recent.content'), 'in flight elsewhere');
    await writeFile(join(userDir, 'README'), 'a file a person put here');
    // A sidecar with no content file (hand-edited directory) is ignored, not trusted.
    await writeFile(join(userDir, '20240101_000001_ghost.txt.meta.json'), '{"broken": true}');

    const again = new MemoryStore({ dataDir: dir.path });
    const listed = await again.list('alice');
    expect(listed.memories.map((m) => m.id)).toEqual([kept.id]);
    expect((await readdir(userDir)).sort()).toEqual(
      ['.tmp-999-recent.content', '20240101_000001_ghost.txt.meta.json', 'README', kept.file, `${kept.file}.meta.json`].sort(),
    );
  });

  it('does not trust a sidecar that names another file', async () => {
    const stored = await store.store('alice', { content: 'real' });
    const userDir = join(dir.path, 'alice');
    await mkdir(join(dir.path, 'bob'));
    await writeFile(join(dir.path, 'bob', 'secret.txt'), 'bob secret');
    const forged = JSON.parse(await readFile(join(userDir, `${stored.file}.meta.json`), 'utf8'));
    forged.file = '../bob/secret.txt';
    forged.id = '20240101-000000-000-00000000';
    await writeFile(join(userDir, '20240101_000000_forged.txt'), 'x');
    await writeFile(join(userDir, '20240101_000000_forged.txt.meta.json'), JSON.stringify(forged));
    const again = new MemoryStore({ dataDir: dir.path });
    expect((await again.list('alice')).memories.map((m) => m.id)).toEqual([stored.id]);
  });

  it('keeps working when hard links are what the directory holds (content shared with a temp name)', async () => {
    // A crash after linking the content but before unlinking its temporary name leaves two
    // names for one inode; the memory must still read correctly and the temp name go away.
    const stored = await store.store('alice', { content: 'linked' });
    const userDir = join(dir.path, 'alice');
    const temp = join(userDir, `.tmp-1-${stored.id}.content`);
    await link(join(userDir, stored.file), temp);
    const old = new Date(Date.now() - 3600_000);
    await utimes(temp, old, old);
    const again = new MemoryStore({ dataDir: dir.path });
    expect((await again.get('alice', stored.id)).content).toBe('linked');
    expect(await readdir(userDir)).not.toContain(`.tmp-1-${stored.id}.content`);
  });
});
