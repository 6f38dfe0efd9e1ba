/*
 * Deterministic memory texts and queries. Words follow a Zipf-like distribution over a
 * made-up vocabulary, so a search term matches a realistic share of memories (a few common
 * words hit thousands, most hit a handful) instead of every memory or none, and every run
 * stores and searches the same text.
 */

/** mulberry32: a tiny seeded PRNG, so corpora are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'vo', 'si', 'de', 'po', 'gu', 'fa', 'be', 'zo', 'ri', 'hu'];
const REAL = ['meeting', 'budget', 'recipe', 'project', 'summary', 'travel', 'doctor', 'birthday', 'invoice', 'garden', 'quarterly', 'review', 'offsite', 'launch', 'design', 'contract'];
const VOCABULARY_SIZE = 5000;

function buildVocabulary(): string[] {
  const next = prng(7);
  const words = new Set<string>(REAL);
  while (words.size < VOCABULARY_SIZE) {
    const n = 2 + Math.floor(next() * 3);
    let w = '';
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(next() * SYLLABLES.length)];
    words.add(w);
  }
  return [...words];
}

export const VOCABULARY = buildVocabulary();

/** Zipf(s≈1) rank sampler by inverse CDF over a precomputed table. */
const CUMULATIVE = (() => {
  const c = new Float64Array(VOCABULARY.length);
  let sum = 0;
  for (let i = 0; i < VOCABULARY.length; i++) c[i] = sum += 1 / (i + 1);
  for (let i = 0; i < c.length; i++) c[i]! /= sum;
  return c;
})();

function zipfWord(r: number): string {
  let lo = 0;
  let hi = CUMULATIVE.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (CUMULATIVE[mid]! < r) lo = mid + 1;
    else hi = mid;
  }
  return VOCABULARY[lo]!;
}

export interface MemoryText {
  content: string;
  description: string;
  tags: string[];
}

/** The i-th memory of a corpus: about 40 words of content, a short description, 1–2 tags. */
export function memoryText(i: number, seed = 1): MemoryText {
  const next = prng(seed * 1_000_003 + i);
  const words: string[] = [];
  for (let k = 0; k < 40; k++) words.push(zipfWord(next()));
  const tags = [VOCABULARY[Math.floor(next() * 8)]!];
  if (next() < 0.5) tags.push(VOCABULARY[8 + Math.floor(next() * 8)]!);
  return {
    content: `Note ${i}: ${words.join(' ')}.`,
    description: `${words[0]} ${words[1]} ${words[2]}`,
    tags,
  };
}

/**
 * Search queries of two words from the middle of the distribution (ranks 20–400): each
 * matches a few per cent of the memories, the hard-but-typical case for a ranked search.
 */
export function queries(count: number, seed = 3): string[] {
  const next = prng(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const a = VOCABULARY[20 + Math.floor(next() * 380)]!;
    const b = VOCABULARY[20 + Math.floor(next() * 380)]!;
    out.push(`${a} ${b}`);
  }
  return out;
}

/** One-word queries for servers that match a substring (server-memory's search_nodes). */
export function singleWordQueries(count: number, seed = 5): string[] {
  const next = prng(seed);
  return Array.from({ length: count }, () => VOCABULARY[20 + Math.floor(next() * 380)]!);
}
