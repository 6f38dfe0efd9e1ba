/*
 * An in-memory inverted index over one user's memories, so `search_memories` costs what the
 * query matches rather than what the user has stored (the budget is a few milliseconds at 100k
 * memories, where a substring scan of every text would already take tens).
 *
 * Words are folded (NFKD, diacritics dropped, lower case) so "Réunion" finds "reunion". A query
 * word matches a stored word exactly or, from three letters on, as its prefix ("meet" finds
 * "meeting"). Each matched word scores the weight of the best field it is in (tags over file
 * name over description over content; the best rather than the sum, because a name made from
 * the content repeats its first words) times an inverse document frequency, so a word every
 * memory contains ranks nothing; ties go to the newer memory.
 */

export type Field = 'tags' | 'file' | 'description' | 'content';

const FIELD_WEIGHT: Record<Field, number> = { tags: 4, file: 3, description: 2, content: 1 };
/** A prefix match counts for less than the whole word. */
const PREFIX_FACTOR = 0.6;
const MIN_PREFIX = 3;
/** Longer runs of letters are cut here (on both sides), so a base64 blob is one bounded word. */
const MAX_TOKEN = 64;
const MAX_QUERY_TERMS = 16;

const WORD = /[\p{L}\p{N}]+/gu;
const ASCII_WORD = /[a-z0-9]+/g;
const MARKS = /\p{M}+/gu;

/**
 * `text` as a string of its own. V8 represents a slice of a long string as a view into it, so
 * keeping a 300-character preview or one word of a 4 MiB note would keep the whole note alive.
 */
export function detached(text: string): string {
  return text.length < 13 ? text : Buffer.from(text, 'utf8').toString('utf8');
}

/** The folded words of `text`, repeats included. */
function words(text: string): string[] {
  // UTF-8 length equals UTF-16 length only for pure ASCII: then the cheap path will do.
  const found =
    Buffer.byteLength(text, 'utf8') === text.length
      ? text.toLowerCase().match(ASCII_WORD)
      : text.normalize('NFKD').replace(MARKS, '').toLowerCase().match(WORD);
  if (!found) return [];
  for (let i = 0; i < found.length; i++) if (found[i]!.length > MAX_TOKEN) found[i] = found[i]!.slice(0, MAX_TOKEN);
  return found;
}

/** The distinct folded words of `text`, in order of first appearance. */
export function tokenize(text: string): string[] {
  return [...new Set(words(text))];
}

interface Doc<T> {
  item: T;
  key: string;
  /** The postings that hold this doc, for removal (their words are not copied per doc). */
  postings: Posting<T>[];
  /** Scratch for one search at a time (searches are synchronous), so no per-query maps. */
  searchGen: number;
  termGen: number;
  termBest: number;
  score: number;
}

interface Posting<T> {
  token: string;
  docs: Doc<T>[];
  weights: number[];
}

export interface Hit<T> {
  item: T;
  score: number;
}

const FIELDS = Object.keys(FIELD_WEIGHT) as Field[];

export class SearchIndex<T> {
  private readonly docs = new Map<string, Doc<T>>();
  private readonly postings = new Map<string, Posting<T>>();
  /** Words by their first three letters: the candidates for a prefix match. */
  private readonly buckets = new Map<string, Set<string>>();
  private generation = 0;

  get size(): number {
    return this.docs.size;
  }

  /**
   * Indexes `item` under `key` (unique; newer items must have greater keys, which break ties).
   */
  add(key: string, item: T, fields: Record<Field, string>): void {
    const weights = new Map<string, number>();
    for (const field of FIELDS) {
      const weight = FIELD_WEIGHT[field];
      for (const token of words(fields[field])) {
        const current = weights.get(token);
        if (current === undefined || current < weight) weights.set(token, weight);
      }
    }
    const doc: Doc<T> = { item, key, postings: [], searchGen: 0, termGen: 0, termBest: 0, score: 0 };
    this.docs.set(key, doc);
    for (const [token, weight] of weights) {
      let posting = this.postings.get(token);
      if (!posting) {
        const own = detached(token);
        posting = { token: own, docs: [], weights: [] };
        this.postings.set(own, posting);
        if (own.length >= MIN_PREFIX) {
          const bucketKey = own.slice(0, MIN_PREFIX);
          let bucket = this.buckets.get(bucketKey);
          if (!bucket) this.buckets.set(bucketKey, (bucket = new Set()));
          bucket.add(own);
        }
      }
      posting.docs.push(doc);
      posting.weights.push(weight);
      doc.postings.push(posting);
    }
  }

  remove(key: string): void {
    const doc = this.docs.get(key);
    if (!doc) return;
    this.docs.delete(key);
    for (const posting of doc.postings) {
      const at = posting.docs.lastIndexOf(doc);
      if (at >= 0) {
        posting.docs.splice(at, 1);
        posting.weights.splice(at, 1);
      }
      if (posting.docs.length === 0) {
        this.postings.delete(posting.token);
        const bucketKey = posting.token.slice(0, MIN_PREFIX);
        const bucket = this.buckets.get(bucketKey);
        bucket?.delete(posting.token);
        if (bucket?.size === 0) this.buckets.delete(bucketKey);
      }
    }
  }

  /** The best `limit` matches of `query`, best first, and how many items matched at all. */
  search(query: string, limit: number): { hits: Hit<T>[]; total: number } {
    const terms = tokenize(query).slice(0, MAX_QUERY_TERMS);
    const searchGen = ++this.generation;
    const matched: Doc<T>[] = [];
    const n = this.docs.size;
    for (const term of terms) {
      const termGen = ++this.generation;
      const touched: Doc<T>[] = [];
      const candidates: [Posting<T>, number][] = [];
      const exact = this.postings.get(term);
      if (exact) candidates.push([exact, 1]);
      if (term.length >= MIN_PREFIX) {
        for (const token of this.buckets.get(term.slice(0, MIN_PREFIX)) ?? []) {
          if (token !== term && token.startsWith(term)) candidates.push([this.postings.get(token)!, PREFIX_FACTOR]);
        }
      }
      let df = 0;
      for (const [posting] of candidates) df += posting.docs.length;
      if (df === 0) continue;
      const idf = Math.log(1 + n / Math.min(df, n));
      for (const [posting, factor] of candidates) {
        const { docs, weights } = posting;
        for (let i = 0; i < docs.length; i++) {
          const doc = docs[i]!;
          const s = weights[i]! * factor;
          if (doc.termGen !== termGen) {
            doc.termGen = termGen;
            doc.termBest = s;
            touched.push(doc);
          } else if (s > doc.termBest) {
            doc.termBest = s;
          }
        }
      }
      for (const doc of touched) {
        if (doc.searchGen !== searchGen) {
          doc.searchGen = searchGen;
          doc.score = 0;
          matched.push(doc);
        }
        doc.score += doc.termBest * idf;
      }
    }
    return { hits: topK(matched, limit).map((d) => ({ item: d.item, score: round(d.score) })), total: matched.length };
  }
}

function better<T>(a: Doc<T>, b: Doc<T>): boolean {
  return a.score > b.score || (a.score === b.score && a.key > b.key);
}

/** The best `k` docs in order, without sorting every match (k is small, matches may be 100k). */
function topK<T>(docs: Doc<T>[], k: number): Doc<T>[] {
  const top: Doc<T>[] = [];
  for (const doc of docs) {
    if (top.length === k && !better(doc, top[k - 1]!)) continue;
    let i = top.length === k ? k - 1 : top.length;
    if (top.length < k) top.push(doc);
    while (i > 0 && better(doc, top[i - 1]!)) {
      top[i] = top[i - 1]!;
      i--;
    }
    top[i] = doc;
  }
  return top;
}

function round(score: number): number {
  return Math.round(score * 1000) / 1000;
}
