/*
 * The storage contract, run against every backend (describe.each): what the five tools rely
 * on — storing, reading back, listing by time and tag with a cursor, search, delete — plus
 * user isolation, limits, bad input, 500 concurrent stores for one user, and a server killed
 * with SIGKILL in the middle of a burst (every acknowledged store readable afterwards).
 * Layout on disk and the index are the embedded backend's own business: embedded.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  MemoryInputError,
  MemoryNotFoundError,
  normalizeTags,
  parseBound,
  PREVIEW_CHARS,
  type Storage,
  type StoreInput,
} from '../../../src/server/storage/index.ts';
import { startMemento } from '../../helpers/memento.ts';
import { allMemories } from '../../helpers/memories.ts';
import { connect, storeUntilKilled } from '../support.ts';
import { embeddedBackend, postgresBackend, type BackendUnderTest } from './backends.ts';

const backends: BackendUnderTest[] = [embeddedBackend(), postgresBackend()];

afterAll(async () => {
  for (const b of backends) await b.shutdown?.();
});

describe.each(backends)('storage contract: $name', (backend) => {
  let store: Storage;
  beforeAll(async () => {
    await backend.setup?.();
  }, 120_000);
  const fresh = async (maxContentBytes = 64 * 1024) => {
    store = await backend.open({ maxContentBytes });
    return store;
  };
  afterEach(async () => {
    await backend.cleanup();
  });

  async function storeAt(ms: number, content: string, tags: string[] = []) {
    const realNow = Date.now;
    Date.now = () => ms;
    try {
      return await store.store('alice', { content, tags });
    } finally {
      Date.now = realNow;
    }
  }

  describe('storing', () => {
    it('keeps the content as given with its metadata, under a time-stamped name', async () => {
      await fresh();
      const content = 'Réunion: budget approved.\r\nNext: hire 2 people.\n';
      const stored = await store.store('alice', { content, filename: 'meeting_summary.txt', description: 'Q3 planning', tags: 'work, meetings' });
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
      const stamp = stored.created.replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
      expect(stored.file.startsWith(stamp)).toBe(true);
      expect(stored.id.startsWith(stamp.replace('_', '-'))).toBe(true);
      expect((await store.get('alice', stored.id)).content).toBe(content);
    });

    it('makes a name from the description or the content when none is given', async () => {
      await fresh();
      const a = await store.store('alice', { content: 'x', description: 'Meeting summary, Q3!' });
      const b = await store.store('alice', { content: 'Ça va? Dentist appointment on Friday at 10:30 downtown.' });
      const c = await store.store('alice', { content: '!!! ???' });
      expect(a.file).toMatch(/^\d{8}_\d{6}_meeting_summary_q3\.txt$/);
      expect(b.file).toMatch(/^\d{8}_\d{6}_ca_va_dentist_appointment_on_friday\.txt$/);
      expect(c.file).toMatch(/^\d{8}_\d{6}_memory\.txt$/);
    });

    it('never reuses a name: the same name in the same second gets _2, _3 …', async () => {
      await fresh();
      const stored = await Promise.all(Array.from({ length: 5 }, (_, i) => store.store('alice', { content: `n${i}`, filename: 'same.md' })));
      expect(new Set(stored.map((s) => s.file)).size).toBe(5);
      expect(new Set(stored.map((s) => s.id)).size).toBe(5);
      for (const s of stored) expect(s.file.replace(/^\d{8}_\d{6}_/, '')).toMatch(/^same(_\d)?\.md$/);
      for (const [i, s] of stored.entries()) expect((await store.get('alice', s.id)).content).toBe(`n${i}`);
    });

    it('refuses empty, oversized and malformed input with a clear error and stores nothing', async () => {
      await fresh();
      const cases: [StoreInput, RegExp][] = [
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
      expect((await store.list('alice')).total).toBe(0);
    });

    it('accepts content of exactly the limit', async () => {
      await fresh();
      const stored = await store.store('alice', { content: 'x'.repeat(64 * 1024) });
      expect(stored.size).toBe(64 * 1024);
      expect(stored.truncated).toBe(true);
      expect(stored.preview).toHaveLength(PREVIEW_CHARS);
    });

    it('refuses user ids that are not plain names', async () => {
      await fresh();
      for (const bad of ['../bob', '/etc', 'a\0b', '', '.hidden', 'x'.repeat(65), '\uFF41lice']) {
        await expect(store.store(bad, { content: 'x' })).rejects.toBeInstanceOf(MemoryInputError);
        await expect(store.list(bad)).rejects.toBeInstanceOf(MemoryInputError);
      }
    });

    it('500 concurrent stores for one user give 500 distinct memories, all listed and readable', { timeout: 60_000 }, async () => {
      await fresh();
      const stored = await Promise.all(
        Array.from({ length: 500 }, (_, i) => store.store('alice', { content: `note ${i}`, ...(i % 2 ? { filename: 'same.txt' } : {}) })),
      );
      expect(new Set(stored.map((s) => s.id)).size).toBe(500);
      expect(new Set(stored.map((s) => s.file)).size).toBe(500);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list('alice', { limit: 100, cursor });
        expect(page.total).toBe(500);
        seen.push(...page.memories.map((m) => m.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen.sort()).toEqual(stored.map((s) => s.id).sort());
      const again = await Promise.all(stored.map((s) => store.get('alice', s.id)));
      expect(again.map((m) => m.content)).toEqual(stored.map((_, i) => `note ${i}`));
      expect((await store.search('alice', 'note', 50)).total).toBe(500);
    });
  });

  describe('reading back', () => {
    it('gets by id or by file name, and deletes', async () => {
      await fresh();
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
      await expect(store.get('alice', stored.id)).rejects.toBeInstanceOf(MemoryNotFoundError);
      await expect(store.delete('alice', stored.id)).rejects.toThrow(/No memory with id/);
      expect((await store.list('alice')).total).toBe(0);
    });

    it('does not echo an unprintable or huge id back', async () => {
      await fresh();
      await expect(store.get('alice', 'x\u202Ey')).rejects.toThrow(/^No memory with that id/);
      await expect(store.get('alice', 'x'.repeat(1000))).rejects.toThrow(/^No memory with that id/);
    });

    it('lets only one of two concurrent deletes of the same memory succeed', async () => {
      await fresh();
      const stored = await store.store('alice', { content: 'once' });
      const results = await Promise.allSettled([store.delete('alice', stored.id), store.delete('alice', stored.id)]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    });

    it('keeps users apart: no listing, search, get or delete reaches another user', async () => {
      await fresh();
      const a = await store.store('alice', { content: 'alice secret plan' });
      await store.store('bob', { content: 'bob secret plan' });
      expect((await store.list('bob')).memories.map((m) => m.preview)).toEqual(['bob secret plan']);
      expect((await store.search('bob', 'secret')).memories.map((m) => m.preview)).toEqual(['bob secret plan']);
      await expect(store.get('bob', a.id)).rejects.toBeInstanceOf(MemoryNotFoundError);
      await expect(store.get('bob', a.file)).rejects.toBeInstanceOf(MemoryNotFoundError);
      await expect(store.delete('bob', a.id)).rejects.toBeInstanceOf(MemoryNotFoundError);
      expect((await store.get('alice', a.id)).content).toBe('alice secret plan');
      expect((await store.list('carol')).total).toBe(0);
    });

    it('shows every store and delete to a second handle at once (another process, another replica)', async () => {
      await fresh();
      const other = await backend.reopen();
      const a = await store.store('alice', { content: 'written by one' });
      expect((await other.list('alice')).memories.map((m) => m.id)).toEqual([a.id]);
      expect((await other.search('alice', 'written')).total).toBe(1);
      await other.delete('alice', a.id);
      expect((await store.list('alice')).total).toBe(0);
      await expect(store.get('alice', a.id)).rejects.toBeInstanceOf(MemoryNotFoundError);
    });
  });

  describe('listing', () => {
    it('lists newest first, filters by tag and by day, and pages with a cursor', async () => {
      await fresh();
      const day = Date.UTC(2024, 6, 15);
      const before = await storeAt(day - 1, 'the evening before', ['home']);
      const morning = await storeAt(day + 9 * 3600_000, 'morning standup', ['work']);
      const noon = await storeAt(day + 12 * 3600_000, 'lunch with Sam', ['Home']);
      const night = await storeAt(day + 86_400_000 - 1, 'late note', ['work']);
      const after = await storeAt(day + 86_400_000, 'next day', []);

      const all = await store.list('alice');
      expect(all.memories.map((m) => m.id)).toEqual([after, night, noon, morning, before].map((m) => m.id));
      expect(all).toMatchObject({ total: 5, nextCursor: null });
      expect(all.memories[0]).toEqual(after);

      const that = await store.list('alice', { since: '2024-07-15', until: '2024-07-15' });
      expect(that.memories.map((m) => m.preview)).toEqual(['late note', 'lunch with Sam', 'morning standup']);
      expect(that.total).toBe(3);

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

      const workPages = await store.list('alice', { tag: 'work', limit: 1 });
      expect(workPages.memories.map((m) => m.id)).toEqual([night.id]);
      expect((await store.list('alice', { tag: 'work', limit: 1, cursor: workPages.nextCursor! })).memories.map((m) => m.id)).toEqual([morning.id]);

      // A cursor stays valid when its memory is deleted meanwhile.
      const first = await store.list('alice', { limit: 2 });
      await store.delete('alice', first.nextCursor!);
      const rest = await store.list('alice', { limit: 10, cursor: first.nextCursor! });
      expect(rest.memories.map((m) => m.id)).toEqual([noon.id, morning.id, before.id]);
    });

    it('explains bad bounds and cursors', async () => {
      await fresh();
      await expect(store.list('alice', { since: 'yesterday' })).rejects.toThrow(/since must be an ISO 8601 date/);
      await expect(store.list('alice', { until: '2024-02-30' })).rejects.toThrow(/not a calendar date/);
      await expect(store.list('alice', { since: '2024-07-16', until: '2024-07-15' })).rejects.toThrow(/until is before since/);
      await expect(store.list('alice', { cursor: '../../x' })).rejects.toThrow(/cursor is not one this server handed out/);
    });

    it('parses ISO 8601 bounds as UTC unless they carry an offset, and normalizes tags', () => {
      expect(parseBound('2024-07-15', 'since')).toBe(Date.UTC(2024, 6, 15));
      expect(parseBound('2024-07-15', 'until')).toBe(Date.UTC(2024, 6, 16));
      expect(parseBound('2024-07-15T10:00:00', 'since')).toBe(Date.UTC(2024, 6, 15, 10));
      expect(parseBound('2024-07-15 10:00', 'since')).toBe(Date.UTC(2024, 6, 15, 10));
      expect(parseBound('2024-07-15T10:00:00.250-05:00', 'until')).toBe(Date.UTC(2024, 6, 15, 15, 0, 0, 251));
      expect(normalizeTags(' work, Meetings ,work,,  ')).toEqual(['work', 'Meetings']);
      expect(normalizeTags(['a', 'A', ' b '])).toEqual(['a', 'b']);
      expect(normalizeTags(undefined)).toEqual([]);
    });
  });

  describe('searching', () => {
    it('finds keywords case-insensitively in content, description, tags and file name; tags rank first, content last', async () => {
      await fresh();
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
      expect(memories[0]!.score).toBeGreaterThan(memories[3]!.score);
      expect(memories[3]!.score).toBeGreaterThan(0);
    });

    it('matches words by prefix and without diacritics, and ranks all-words matches higher', async () => {
      await fresh();
      const both = await store.store('alice', { content: 'Réunion about the meeting schedule' });
      const one = await store.store('alice', { content: 'meetings are long' });
      const other = await store.store('alice', { content: 'a reunion of old friends' });
      await store.store('alice', { content: 'me and my friends' });
      const found = await store.search('alice', 'meet reunion');
      expect(found.memories[0]!.id).toBe(both.id);
      expect(found.memories.map((m) => m.id).sort()).toEqual([both.id, one.id, other.id].sort());
      expect(found.total).toBe(3);
      // Two letters match whole words only.
      expect((await store.search('alice', 'me')).total).toBe(1);
    });

    it('lets common words count for little', async () => {
      await fresh();
      for (let i = 0; i < 20; i++) await store.store('alice', { content: `the note number ${i}` });
      const rare = await store.store('alice', { content: 'the dentist' });
      const found = await store.search('alice', 'the dentist', 3);
      expect(found.memories[0]!.id).toBe(rare.id);
      expect(found.total).toBe(21);
      expect(found.memories).toHaveLength(3);
    });

    it('gives ties to the newer memories, also when more tie than the limit returns', async () => {
      await fresh();
      const ids: string[] = [];
      // Same words, same lengths: every one scores the same.
      for (let i = 0; i < 30; i++) ids.push((await store.store('alice', { content: 'identical words', filename: `twin_${String.fromCharCode(97 + (i % 26))}${String.fromCharCode(97 + Math.floor(i / 26))}.txt` })).id);
      const found = await store.search('alice', 'identical', 3);
      expect(found.total).toBe(30);
      expect(found.memories.map((m) => m.id)).toEqual([...ids].sort().reverse().slice(0, 3));
      expect(new Set(found.memories.map((m) => m.score)).size).toBe(1);
    });

    it('forgets deleted memories and refuses a query without words or too long', async () => {
      await fresh();
      const stored = await store.store('alice', { content: 'ephemeral thought' });
      expect((await store.search('alice', 'ephemeral')).total).toBe(1);
      await store.delete('alice', stored.id);
      expect((await store.search('alice', 'ephemeral')).total).toBe(0);
      await expect(store.search('alice', ' ,;! ')).rejects.toThrow(/no words/);
      await expect(store.search('alice', 'x'.repeat(1001))).rejects.toThrow(/at most 1000 characters/);
      // Query syntax of the engine underneath is just text here.
      await store.store('alice', { content: 'quotes "and" OR NOT stars* (parens)' });
      expect((await store.search('alice', '"and" OR NOT* (parens')).total).toBe(1);
    });
  });

  describe('health and restarts', () => {
    it('reports ok when a store can succeed, and keeps everything across a reopen', async () => {
      await fresh();
      expect(await store.health()).toEqual({ status: 'ok', backend: backend.name });
      const a = await store.store('alice', { content: 'persisted', tags: ['t'], description: 'd' });
      await store.close();
      const again = await backend.reopen();
      expect((await again.list('alice')).memories).toEqual([a]);
      expect((await again.search('alice', 'persisted')).memories.map((m) => m.id)).toEqual([a.id]);
    });

    it('SIGKILL during a burst of stores: every acknowledged store is readable after a restart', { timeout: 90_000 }, async () => {
      await fresh();
      await store.close();
      const server = await startMemento(['serve', '--port', '0', ...backend.serveArgs()]);
      const body = (i: number) => `memory ${i}: ${'x'.repeat(10_000 + i)}`;
      const acknowledged = await storeUntilKilled(server, body);
      expect(acknowledged.size).toBeGreaterThanOrEqual(60);

      const restarted = await startMemento(['serve', '--port', '0', ...backend.serveArgs()]);
      try {
        const client = await connect('http', restarted.url, { user: 'alice' });
        const listed = new Set((await allMemories(client)).map((m) => m.id));
        for (const [id, i] of acknowledged) {
          expect(listed.has(id), `acknowledged memory ${i} is listed`).toBe(true);
          expect((await client.ok('get_memory', { id })).content).toBe(body(i));
        }
        expect((await client.ok('store_memory', { content: 'life goes on' })).size).toBe(12);
        await client.close();
      } finally {
        expect(await restarted.stop()).toBe(0);
      }
    });
  });
});
