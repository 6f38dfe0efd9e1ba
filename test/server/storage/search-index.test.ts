/*
 * The embedded index's search (sqlite-index.ts keeps its own postings and scores in
 * JavaScript): on a generated corpus full of shared prefixes, repeated words, identical
 * memories (ties) and deletes and replacements, every search returns exactly the brute-force
 * ranking over all matches and the brute-force count, its scores are FTS5's own bm25(4, 3, 2, 1),
 * and a rebuild of the index from the files gives the same answers; while a merge of pending
 * memories into the postings is part done, searches are exact too, and no store appends more
 * than its share of words.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setLogSink } from '../../../src/log.ts';
import { EmbeddedStorage } from '../../../src/server/storage/index.ts';
import { MIN_PREFIX, tokenize, words } from '../../../src/server/storage/input.ts';
import { PENDING_MAX, type SearchFields, SqliteIndex, STEP_WORDS } from '../../../src/server/storage/sqlite-index.ts';
import { prng } from '../../../bench/lib/corpus.ts';
import { tempDir } from '../../helpers/memento.ts';

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  dir = await tempDir('memento-search-');
});
afterEach(async () => {
  await dir.cleanup();
});

// Words that begin one another ("cat" → "cats", "catalog"), short ones that match only whole
// ("do", "a"), and a few common ones, so prefixes expand and idf varies.
const VOCABULARY = ['a', 'do', 'dog', 'dogma', 'dogs', 'cat', 'cats', 'catalog', 'category', 'zen', 'zebra', 'zero', 'common', 'word', 'plan', 'planet', 'plane', 'rare', 'x1', 'x10'];

interface Doc {
  id: string;
  file: string;
  fields: SearchFields;
}

function makeDoc(i: number, next: () => number, copyOf?: Doc): Doc {
  const id = `20240101-000000-000-${i.toString(16).padStart(8, '0')}`;
  const file = `20240101_000000_m${i}.txt`;
  if (copyOf) return { id, file, fields: { ...copyOf.fields, file: 'same' } };
  const pick = (n: number) => Array.from({ length: n }, () => VOCABULARY[Math.floor(next() ** 2 * VOCABULARY.length)]!).join(' ');
  return {
    id,
    file,
    fields: { tags: pick(Math.floor(next() * 3)), file: `m ${pick(1)}`, description: pick(Math.floor(next() * 4)), content: pick(1 + Math.floor(next() * 30)) },
  };
}

/** Adds one memory to the index; inside a transaction of the caller's. */
function putRow(index: SqliteIndex, user: string, d: Doc): void {
  const tags = d.fields.tags === '' ? [] : d.fields.tags.split(' ');
  index.put(
    user,
    { id: d.id, file: d.file, description: d.fields.description, tags, created: '2024-01-01T00:00:00.000Z', size: 1, preview: '', truncated: false, contentMtimeMs: 0, contentSize: 0, metaMtimeMs: 0 },
    d.fields,
  );
}

function put(index: SqliteIndex, user: string, d: Doc): void {
  index.transaction(() => putRow(index, user, d));
}

/** The ranking written out the slow way: every memory, every field, every query word. */
function bruteForce(docs: Doc[], terms: string[]): { id: string; score: number }[] {
  const weights: [keyof SearchFields, number][] = [['tags', 4], ['file', 3], ['description', 2], ['content', 1]];
  const matches = (q: string, w: string) => (q.length >= MIN_PREFIX ? w.startsWith(q) : w === q);
  const length = (d: Doc) => weights.reduce((n, [f]) => n + words(d.fields[f]).length, 0);
  const avg = docs.reduce((n, d) => n + length(d), 0) / docs.length;
  const freq = (q: string, d: Doc) => weights.reduce((n, [f, w]) => n + w * words(d.fields[f]).filter((x) => matches(q, x)).length, 0);
  const idf = terms.map((q) => {
    const hits = docs.filter((d) => freq(q, d) > 0).length;
    const x = Math.log((docs.length - hits + 0.5) / (hits + 0.5));
    return x <= 0 ? 1e-6 : x;
  });
  const out: { id: string; score: number }[] = [];
  for (const d of docs) {
    let score = 0;
    let matched = false;
    terms.forEach((q, i) => {
      const f = freq(q, d);
      if (f === 0) return;
      matched = true;
      score += idf[i]! * ((f * (1.2 + 1.0)) / (f + 1.2 * (1 - 0.75 + (0.75 * length(d)) / avg)));
    });
    if (matched) out.push({ id: d.id, score });
  }
  return out.sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : -1));
}

describe('search over the index', () => {
  it('returns exactly the brute-force ranking and count, with FTS5 bm25(4, 3, 2, 1) scores, through stores, deletes and replacements', () => {
    const index = new SqliteIndex(dir.path);
    const next = prng(42);
    const docs = new Map<string, Doc>();
    for (let i = 0; i < 400; i++) {
      // One in eight is a copy of an earlier memory: its score ties with the original's.
      const copyOf = i > 10 && next() < 0.125 ? [...docs.values()][Math.floor(next() * docs.size)] : undefined;
      const d = makeDoc(i, next, copyOf);
      docs.set(d.id, d);
      put(index, 'alice', d);
    }
    // Another user's memories change neither alice's counts nor her idf.
    const bobs = Array.from({ length: 50 }, (_, i) => makeDoc(1000 + i, next));
    for (const d of bobs) put(index, 'bob', d);
    // Deletes, and replacements of the same id with new text.
    for (const d of [...docs.values()]) {
      const r = next();
      if (r < 0.2) {
        index.transaction(() => index.removeWhere('alice', d.id, d.file));
        docs.delete(d.id);
      } else if (r < 0.3) {
        const again = { ...makeDoc(Number.parseInt(d.id.slice(-8), 16), next), id: d.id, file: d.file };
        docs.set(d.id, again);
        put(index, 'alice', again);
      }
    }
    const kept = [...docs.values()];
    // The kept count a plain listing reports as its total (no rows counted) is the rows' own count.
    expect(index.count('alice')).toBe(kept.length);
    expect(index.list('alice', { tag: undefined, fromId: undefined, toId: undefined, beforeId: undefined, limit: 5 }).total).toBe(kept.length);
    expect(index.count('nobody')).toBe(0);
    // The tag rows are exactly the kept memories' (deletes and replacements took out their own).
    const tagRows = new DatabaseSync(join(dir.path, '.memento-index.sqlite'));
    const tagged = (tagRows.prepare("SELECT id, tag FROM tags WHERE user = 'alice' ORDER BY id, tag").all() as { id: string; tag: string }[]).map((r) => `${r.id} ${r.tag}`);
    tagRows.close();
    expect(tagged).toEqual(kept.flatMap((d) => [...new Set(d.fields.tags.split(' ').filter(Boolean))].sort().map((t) => `${d.id} ${t}`)).sort());
    // Both kinds are searched: memories merged into the postings and ones still pending.
    const db = new DatabaseSync(join(dir.path, '.memento-index.sqlite'));
    const { pending } = db.prepare("SELECT pending FROM search_users WHERE user = 'alice'").get() as { pending: number };
    expect(pending).toBeGreaterThan(0);
    expect(pending).toBeLessThan(kept.length / 2);
    db.close();
    const fts = new DatabaseSync(':memory:');
    fts.exec("CREATE VIRTUAL TABLE f USING fts5(tags, file, description, content, tokenize = 'unicode61 remove_diacritics 2')");
    const ins = fts.prepare('INSERT INTO f (rowid, tags, file, description, content) VALUES (?, ?, ?, ?, ?)');
    kept.forEach((d, i) => ins.run(i, d.fields.tags, d.fields.file, d.fields.description, d.fields.content));
    const ftsRank = fts.prepare('SELECT rowid, bm25(f, 4, 3, 2, 1) AS r FROM f WHERE f MATCH ?');

    const queries = ['cat', 'ca', 'do', 'dog', 'a', 'zen zero', 'plan cat dog', 'catalog', 'common word', 'x1', 'rare plane', 'nothing', 'cat cat', 'CATS', 'dogma a zebra plan common'];
    for (const query of queries) {
      const terms = tokenize(query);
      const expected = bruteForce(kept, terms);
      for (const limit of [1, 3, 10, 1000]) {
        const got = index.search('alice', terms, limit);
        expect(got.total, query).toBe(expected.length);
        expect(
          got.rows.map((r) => r.id),
          `${query} limit ${limit}`,
        ).toEqual(expected.slice(0, limit).map((e) => e.id));
        expect(got.rows.map((r) => r.score)).toEqual(expected.slice(0, limit).map((e) => Number(e.score.toPrecision(6))));
      }
      // FTS5's bm25 over the same memories gives the same score to each.
      const match = terms.map((t) => (t.length >= MIN_PREFIX ? `"${t}"*` : `"${t}"`)).join(' OR ');
      const fromFts = new Map((ftsRank.all(match) as { rowid: number; r: number }[]).map((x) => [kept[x.rowid]!.id, -x.r]));
      expect(fromFts.size, query).toBe(expected.length);
      for (const e of expected) expect(e.score).toBeCloseTo(fromFts.get(e.id)!, 9);
    }
    // There were ties to break, and more of them than a small limit returns.
    const cats = bruteForce(kept, ['cat']);
    expect(cats.some((e, i) => i > 0 && e.score === cats[i - 1]!.score)).toBe(true);
    expect(index.search('bob', ['cat'], 10).rows.map((r) => r.id)).toEqual(bruteForce(bobs, ['cat']).slice(0, 10).map((e) => e.id));
    fts.close();
    index.close();
  });

  it('merges a bounded slice of words per store, and every search in between is exact (memories pending, merging, merged; deletes of each; two processes; rollbacks)', async () => {
    // Two connections on one file, as two server processes: each carries on the merge the other
    // began, with what it parsed of the merge before (or not) and searches of its own.
    const next = prng(11);
    const indexes = [new SqliteIndex(dir.path), new SqliteIndex(dir.path)];
    const any = () => indexes[Math.floor(next() * 2)]!;
    const db = new DatabaseSync(join(dir.path, '.memento-index.sqlite'));
    // Many words (a few common, most rare), so that merging PENDING_MAX memories takes many steps.
    const vocabulary = Array.from({ length: 4000 }, (_, i) => `w${(i * 7919).toString(36)}`);
    const pick = (n: number) => Array.from({ length: n }, () => vocabulary[Math.floor(next() ** 3 * vocabulary.length)]!).join(' ');
    const docs = new Map<string, Doc>();
    const make = (i: number): Doc => ({
      id: `20240101-000000-000-${i.toString(16).padStart(8, '0')}`,
      file: `20240101_000000_m${i}.txt`,
      fields: { tags: pick(1), file: `m ${pick(1)}`, description: pick(3), content: pick(5 + Math.floor(next() * 30)) },
    });
    const postings = () =>
      new Map((db.prepare('SELECT term, first, hex(data) AS d FROM postings').all() as { term: string; first: number; d: string }[]).map((r) => [`${r.term} ${r.first}`, r.d]));
    const state = () => db.prepare("SELECT cursor, pending FROM search_users WHERE user = 'alice'").get() as { cursor: string | null; pending: number };
    const kinds = () =>
      (db.prepare('SELECT state, count(*) AS c FROM doc_terms GROUP BY state').all() as { state: number | null; c: number }[]).map((r) => `${r.state ?? 'merged'}:${r.c}`);
    let steps = 0;
    let midway = 0;
    let widest = 0;
    let searched = 0;
    for (let i = 0; i < PENDING_MAX * 3 + 40; i++) {
      const before = postings();
      const d = make(i);
      // Now and then a store whose transaction fails after the index work: all of it undone.
      if (i % 13 === 6) {
        const failing = any();
        expect(() =>
          failing.transaction(() => {
            putRow(failing, 'alice', make(20_000 + i));
            throw new Error('the disk said no');
          }),
        ).toThrow('the disk said no');
      }
      docs.set(d.id, d);
      put(any(), 'alice', d);
      // The words this store appended to: at most its share.
      const after = postings();
      const touched = new Set([...after].filter(([k, v]) => before.get(k) !== v).map(([k]) => k.split(' ')[0]));
      widest = Math.max(widest, touched.size);
      if (touched.size > 0) steps++;
      // Now and then a delete, or a replacement, of a memory in any state (merged, merging, pending).
      if (i % 9 === 4) {
        const victim = [...docs.values()][Math.floor(next() * docs.size)]!;
        const index = any();
        if (next() < 0.5) {
          index.transaction(() => index.removeWhere('alice', victim.id, victim.file));
          docs.delete(victim.id);
        } else {
          const again = { ...make(10_000 + i), id: victim.id, file: victim.file };
          docs.set(again.id, again);
          put(index, 'alice', again);
        }
      }
      const { cursor } = state();
      if (cursor !== null && cursor !== '') midway++;
      if (i % 5 !== 0 && !(cursor !== null && i % 2 === 0)) continue;
      // A query word just at the cursor, one past it, a prefix across it, and a common word.
      const near = cursor ? [cursor, `${cursor}0`, cursor.slice(0, 3)] : [];
      for (const q of [...near.map((w) => [w]), [vocabulary[0]!, vocabulary[1]!], [vocabulary[Math.floor(next() * 200)]!, 'w1'], ['w']]) {
        const terms = tokenize(q.join(' '));
        const expected = bruteForce([...docs.values()], terms);
        const got = any().search('alice', terms, 5);
        expect(got.total, `${q.join(' ')} after store ${i} (${kinds().join(' ')})`).toBe(expected.length);
        expect(got.rows.map((r) => r.id)).toEqual(expected.slice(0, 5).map((e) => e.id));
        expect(got.rows.map((r) => r.score)).toEqual(expected.slice(0, 5).map((e) => Number(e.score.toPrecision(6))));
        searched++;
      }
    }
    // Merges took many steps each, none wider than its share, and searches ran midway through them.
    expect(widest).toBeGreaterThan(0);
    expect(widest).toBeLessThanOrEqual(STEP_WORDS);
    expect(steps).toBeGreaterThan(20);
    expect(midway).toBeGreaterThan(20);
    expect(searched).toBeGreaterThan(100);
    // Every memory is in the index once, in whichever state: merged, merging or pending.
    expect((db.prepare('SELECT count(*) AS c FROM doc_terms').get() as { c: number }).c).toBe(docs.size);
    expect(indexes[0]!.count('alice')).toBe(docs.size);
    db.close();
    await Promise.all(indexes.map((index) => index.close()));
  });

  it('a store whose transaction fails as it begins a merge leaves nothing of that merge behind (the next store takes its rowid)', async () => {
    const index = new SqliteIndex(dir.path);
    const doc = (i: number, word: string): Doc => ({
      id: `20240101-000000-000-${i.toString(16).padStart(8, '0')}`,
      file: `m${i}.txt`,
      fields: { tags: '', file: `m${i}`, description: '', content: `common ${word}` },
    });
    for (let i = 0; i < PENDING_MAX - 1; i++) put(index, 'alice', doc(i, `only${i}`));
    // The PENDING_MAX-th store begins the merge, then fails: the merge and the memory are undone.
    expect(() =>
      index.transaction(() => {
        putRow(index, 'alice', doc(1000, 'rolledback'));
        throw new Error('the disk said no');
      }),
    ).toThrow('the disk said no');
    // The next store gets the same rowid, begins the same-sized merge, and the stores after it carry it out.
    put(index, 'alice', doc(1001, 'kept'));
    for (let i = 0; i < 10; i++) put(index, 'alice', doc(2000 + i, `later${i}`));
    const db = new DatabaseSync(join(dir.path, '.memento-index.sqlite'));
    expect((db.prepare("SELECT merges, cursor FROM search_users WHERE user = 'alice'").get() as { merges: number; cursor: string | null })).toEqual({ merges: 1, cursor: null });
    expect((db.prepare("SELECT count(*) AS c FROM postings WHERE term = 'rolledback'").get() as { c: number }).c).toBe(0);
    db.close();
    expect(index.search('alice', ['rolledback'], 5).total).toBe(0);
    expect(index.search('alice', ['kept'], 5).rows.map((r) => r.id)).toEqual([doc(1001, '').id]);
    expect(index.search('alice', ['common'], 5).total).toBe(PENDING_MAX + 10);
    await index.close();
  });

  it('is filled again when the index is rebuilt from the files, with the same answers', async () => {
    setLogSink(() => undefined);
    try {
      const first = new EmbeddedStorage({ dataDir: dir.path, maxContentBytes: 64 * 1024, reconcileAtStart: false });
      await first.init();
      const next = prng(7);
      for (let i = 0; i < 60; i++) {
        const d = makeDoc(i, next);
        await first.store('alice', { content: d.fields.content || 'a', description: d.fields.description, tags: d.fields.tags.split(' ').filter(Boolean) });
      }
      const queries = ['cat', 'dog plan', 'zen a', 'common'];
      const before = await Promise.all(queries.map((q) => first.search('alice', q, 5)));
      expect(before.every((r) => r.total > 0)).toBe(true);
      await first.close();

      // An index from the FTS5 version: dropped and rebuilt from the files.
      const db = new DatabaseSync(join(dir.path, '.memento-index.sqlite'));
      db.exec('PRAGMA user_version = 2; DELETE FROM postings; DELETE FROM doc_terms; DELETE FROM search_users;');
      db.close();
      const again = new EmbeddedStorage({ dataDir: dir.path, maxContentBytes: 64 * 1024, reconcileAtStart: false });
      await again.init();
      try {
        const after = await Promise.all(queries.map((q) => again.search('alice', q, 5)));
        expect(after).toEqual(before);
        const check = new DatabaseSync(join(dir.path, '.memento-index.sqlite'));
        expect((check.prepare("SELECT docs FROM search_users WHERE user = 'alice'").get() as { docs: number }).docs).toBe(60);
        expect((check.prepare('SELECT count(*) AS n FROM doc_terms').get() as { n: number }).n).toBe(60);
        check.close();
      } finally {
        await again.close();
      }
    } finally {
      setLogSink((line) => process.stderr.write(line));
    }
  });
});
