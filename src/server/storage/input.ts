/*
 * The input rules every backend applies before it touches anything: user ids, file names,
 * content, descriptions, tags, time bounds, cursors and search queries. A rule broken is a
 * MemoryInputError whose message says what to change; nothing is written first.
 */
import { USER_ID_PATTERN } from '../../protocol.ts';
import { resolveInside, shown, type NameRules } from '../path-safety.ts';
import {
  MAX_DESCRIPTION_CHARS,
  MAX_QUERY_CHARS,
  MAX_TAG_CHARS,
  MAX_TAGS,
  DEFAULT_LIST_LIMIT,
  MemoryInputError,
  MemoryNotFoundError,
  type ListQuery,
  type StoreInput,
} from './types.ts';

export const META_SUFFIX = '.meta.json';
export const ID_PATTERN = /^\d{8}-\d{6}-\d{3}-[0-9a-f]{8}$/;

export const USER_RULES: NameRules = {
  what: 'user id',
  pattern: USER_ID_PATTERN,
  patternHelp: 'a user id is 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
  maxBytes: 64,
};

export const FILE_RULES: NameRules = {
  what: 'file name',
  pattern: /^[A-Za-z0-9](?:[A-Za-z0-9 ._-]*[A-Za-z0-9_-])?$/,
  patternHelp:
    'a file name is up to 100 ASCII letters, digits, spaces, ".", "_" or "-", starting with a letter or digit and not ending in "." or a space',
  maxBytes: 100,
};

/** The user id, checked by the same rules as a path segment (it names a directory). */
export function checkUser(user: unknown): string {
  try {
    resolveInside('/memento', user, USER_RULES);
  } catch (err) {
    throw new MemoryInputError(err instanceof Error ? err.message : String(err));
  }
  return user as string;
}

/** Tags as given (a list, or comma-separated), trimmed, de-duplicated case-insensitively. */
export function normalizeTags(tags: string[] | string | undefined): string[] {
  if (tags === undefined) return [];
  const list = typeof tags === 'string' ? tags.split(',') : tags;
  if (!Array.isArray(list)) throw new MemoryInputError('tags must be a list of strings or one comma-separated string.');
  const out: string[] = [];
  const seen = new Set<string>();
  for (const raw of list) {
    if (typeof raw !== 'string') throw new MemoryInputError('Each tag must be a string.');
    const tag = raw.trim();
    if (!tag) continue;
    if (tag.length > MAX_TAG_CHARS) {
      throw new MemoryInputError(`A tag is ${tag.length} characters long; at most ${MAX_TAG_CHARS} are allowed.`);
    }
    if (/[\p{Cc}\p{Cf},]/u.test(tag)) {
      throw new MemoryInputError('Tags may not contain commas, control or invisible characters.');
    }
    const key = tag.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(tag);
  }
  if (out.length > MAX_TAGS) throw new MemoryInputError(`${out.length} tags given; at most ${MAX_TAGS} are allowed.`);
  return out;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * An ISO 8601 bound as epoch milliseconds: a date means the start of that UTC day (`since`)
 * or the start of the next (`until`, so the whole day is included); a date-time without an
 * offset is UTC. Returns the inclusive lower bound or the exclusive upper bound.
 */
export function parseBound(value: string, which: 'since' | 'until'): number {
  const text = value.trim();
  const date = ISO_DATE.exec(text);
  let ms: number;
  if (date) {
    ms = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]));
    const check = new Date(ms);
    if (Number.isNaN(ms) || check.getUTCDate() !== Number(date[3]) || check.getUTCMonth() !== Number(date[2]) - 1) {
      throw new MemoryInputError(`${which} ${shown(text)} is not a calendar date.`);
    }
    return which === 'since' ? ms : ms + 86_400_000;
  }
  if (ISO_DATE_TIME.test(text)) {
    let normalized = text.replace(' ', 'T').replace(',', '.');
    if (!/(?:Z|[+-]\d{2}(?::?\d{2})?)$/i.test(normalized)) normalized += 'Z';
    // Date.parse wants "+hh:mm"; ISO 8601 also allows "+hhmm" and "+hh".
    normalized = normalized.replace(/([+-]\d{2})(\d{2})$/, '$1:$2').replace(/([+-]\d{2})$/, '$1:00');
    ms = Date.parse(normalized);
    if (!Number.isNaN(ms)) return which === 'since' ? ms : ms + 1;
  }
  throw new MemoryInputError(
    `${which} must be an ISO 8601 date such as 2024-07-15 or a date-time such as 2024-07-15T14:30:00Z; got ${shown(text)}.`,
  );
}

/** A list query, checked: ids bounds are id prefixes, so every backend filters on the id alone. */
export interface ListFilter {
  tag: string | undefined;
  /** Inclusive lower id bound, or undefined. */
  fromId: string | undefined;
  /** Exclusive upper id bound (time bound), or undefined. */
  toId: string | undefined;
  /** Exclusive upper id bound from the cursor, or undefined. */
  beforeId: string | undefined;
  limit: number;
}

export function checkListQuery(query: ListQuery, idStamp: (ms: number) => string): ListFilter {
  const limit = query.limit ?? DEFAULT_LIST_LIMIT;
  const since = query.since !== undefined && query.since !== '' ? parseBound(query.since, 'since') : undefined;
  const until = query.until !== undefined && query.until !== '' ? parseBound(query.until, 'until') : undefined;
  if (since !== undefined && until !== undefined && until <= since) {
    throw new MemoryInputError('until is before since: no memory can match.');
  }
  let beforeId: string | undefined;
  if (query.cursor !== undefined && query.cursor !== '') {
    if (!ID_PATTERN.test(query.cursor)) {
      throw new MemoryInputError('cursor is not one this server handed out; pass nextCursor from the previous page.');
    }
    beforeId = query.cursor;
  }
  return {
    tag: query.tag?.trim().toLowerCase() || undefined,
    fromId: since === undefined ? undefined : idStamp(Math.max(since, 0)),
    toId: until === undefined ? undefined : idStamp(Math.max(until, 0)),
    beforeId,
    limit,
  };
}

const WORD = /[\p{L}\p{N}]+/gu;
const ASCII_WORD = /[a-z0-9]+/g;
const MARKS = /\p{M}+/gu;
/** Longer runs of letters are cut here, so a base64 blob is one bounded word. */
const MAX_TOKEN = 64;
/** Words after this many in a query are ignored. */
export const MAX_QUERY_TERMS = 16;
/** A query word matches longer words it begins from this many letters on ("meet" → "meeting"). */
export const MIN_PREFIX = 3;

/** Every folded word (NFKD, diacritics dropped, lower case) of `text`, in order, repeats included. */
export function words(text: string): string[] {
  // UTF-8 length equals UTF-16 length only for pure ASCII: then the cheap path will do.
  const found =
    Buffer.byteLength(text, 'utf8') === text.length
      ? text.toLowerCase().match(ASCII_WORD)
      : text.normalize('NFKD').replace(MARKS, '').toLowerCase().match(WORD);
  if (!found) return [];
  for (let i = 0; i < found.length; i++) if (found[i]!.length > MAX_TOKEN) found[i] = found[i]!.slice(0, MAX_TOKEN);
  return found;
}

/** The distinct folded words of `text`, in order. */
export function tokenize(text: string): string[] {
  return [...new Set(words(text))];
}

/** The query's words (at most MAX_QUERY_TERMS), or an error when it has none. */
export function checkSearchQuery(query: unknown): string[] {
  if (typeof query !== 'string' || query.length > MAX_QUERY_CHARS) {
    throw new MemoryInputError(`query must be a string of at most ${MAX_QUERY_CHARS} characters.`);
  }
  const terms = tokenize(query);
  if (terms.length === 0) throw new MemoryInputError('query has no words to search for.');
  return terms.slice(0, MAX_QUERY_TERMS);
}

export interface ValidInput {
  content: string;
  size: number;
  description: string;
  tags: string[];
  /** The file name without its stamp and extension; undefined: make one from the text. */
  base: string | undefined;
  ext: string;
}

export function checkStoreInput(input: StoreInput, maxContentBytes: number): ValidInput {
  if (input === null || typeof input !== 'object') throw new MemoryInputError('content must be a string.');
  const { content } = input;
  if (typeof content !== 'string') throw new MemoryInputError('content must be a string.');
  if (content.trim().length === 0) throw new MemoryInputError('content is empty; there is nothing to remember.');
  const size = Buffer.byteLength(content, 'utf8');
  if (size > maxContentBytes) {
    throw new MemoryInputError(
      `content is ${size} bytes; this server stores at most ${maxContentBytes} bytes ` +
        `(${(maxContentBytes / 1048576).toFixed(1)} MiB) per memory. Store it in smaller parts.`,
    );
  }
  if (input.description !== undefined && typeof input.description !== 'string') {
    throw new MemoryInputError('description must be a string.');
  }
  const description = (input.description ?? '').trim();
  if (description.length > MAX_DESCRIPTION_CHARS) {
    throw new MemoryInputError(
      `description is ${description.length} characters long; at most ${MAX_DESCRIPTION_CHARS} are allowed.`,
    );
  }
  const tags = normalizeTags(input.tags);
  const name = input.filename;
  if (name === undefined || name === '') return { content, size, description, tags, base: undefined, ext: '.txt' };
  try {
    resolveInside('/memento', name, FILE_RULES);
  } catch (err) {
    throw new MemoryInputError(err instanceof Error ? err.message : String(err));
  }
  if (name.toLowerCase().endsWith(META_SUFFIX)) {
    throw new MemoryInputError(`File names ending in "${META_SUFFIX}" are reserved for metadata.`);
  }
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot) : '';
  return { content, size, description, tags, base: ext ? name.slice(0, -ext.length) : name, ext: ext || '.txt' };
}

/*
 * The checks store() and delete() make before any work, in every backend. A mistake is
 * returned, not thrown, so that the methods reject with it rather than throw synchronously.
 */
export function checkStoreCall(user: string, input: StoreInput, maxContentBytes: number): { valid: ValidInput } | { error: unknown } {
  try {
    checkUser(user);
    return { valid: checkStoreInput(input, maxContentBytes) };
  } catch (error) {
    return { error };
  }
}

export function checkDeleteCall(user: string, idOrFile: string): { error: unknown } | undefined {
  try {
    checkUser(user);
  } catch (error) {
    return { error };
  }
  if (typeof idOrFile !== 'string' || idOrFile.length === 0 || idOrFile.length > 255) return { error: notFound(idOrFile) };
  return undefined;
}

/** The one "not found" message: it names a printable id and never echoes anything else. */
export function notFound(idOrFile: unknown): MemoryNotFoundError {
  const printable = typeof idOrFile === 'string' && idOrFile.length <= 80 && !/[\p{Cc}\p{Cf}]/u.test(idOrFile);
  return new MemoryNotFoundError(
    printable
      ? `No memory with id "${idOrFile}" for this user. Use retrieve_memories or search_memories to find ids.`
      : 'No memory with that id for this user. Use retrieve_memories or search_memories to find ids.',
  );
}
