/*
 * Names: memory ids (time-sortable, opaque), content file names (the prototype's
 * `20240715_143052_meeting_summary.txt`, `_2`, `_3` … when taken), previews.
 * Pure functions, shared by every backend so a memory is named the same wherever it lives.
 */
import { randomBytes } from 'node:crypto';
import { PREVIEW_CHARS } from './types.ts';

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `YYYYMMDD-HHMMSS-mmm` (UTC): the sortable front of an id, and the form of list bounds. */
export function idStamp(ms: number): string {
  const d = new Date(ms);
  return (
    `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-` +
    `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}-${pad(d.getUTCMilliseconds(), 3)}`
  );
}

/** A new id for a memory created at `ms`: its stamp and 32 random bits. */
export function newId(ms: number): string {
  return `${idStamp(ms)}-${randomBytes(4).toString('hex')}`;
}

/** `YYYYMMDD_HHMMSS` (UTC): the front of a content file's name. */
export function nameStamp(ms: number): string {
  return idStamp(ms).slice(0, 15).replace('-', '_');
}

/** Content files Memento names: `YYYYMMDD_HHMMSS_…`. */
export const STORED_NAME = /^\d{8}_\d{6}_./;
const STAMP_LENGTH = 16;

/** The name without the time stamp every stored name starts with (what search looks at). */
export function searchableName(file: string): string {
  return STORED_NAME.test(file) ? file.slice(STAMP_LENGTH) : file;
}

/** The `n`th candidate name (1: no suffix) for a memory stored at `ms`. */
export function candidateName(ms: number, base: string, ext: string, n: number): string {
  return `${nameStamp(ms)}_${base}${n === 1 ? '' : `_${n}`}${ext}`;
}

/** A few words of `text` as a file name: "Meeting summary, Q3!" → "meeting_summary_q3". */
export function slugOf(text: string): string {
  const words =
    text
      .slice(0, 200)
      .normalize('NFKD')
      .replace(/\p{M}+/gu, '')
      .toLowerCase()
      .match(/[a-z0-9]+/g) ?? [];
  let slug = '';
  for (const word of words.slice(0, 6)) {
    const next = slug ? `${slug}_${word}` : word;
    if (next.length > 40) break;
    slug = next;
  }
  return slug || words[0]?.slice(0, 40) || 'memory';
}

/**
 * `text` as a string of its own. V8 represents a slice of a long string as a view into it, so
 * keeping a 300-character preview of a 4 MiB note would keep the whole note alive.
 */
export function detached(text: string): string {
  return text.length < 13 ? text : Buffer.from(text, 'utf8').toString('utf8');
}

export function previewOf(content: string): { preview: string; truncated: boolean } {
  if (content.length <= PREVIEW_CHARS) return { preview: content, truncated: false };
  let end = PREVIEW_CHARS;
  // Never cut a surrogate pair in half.
  const last = content.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return { preview: detached(content.slice(0, end)), truncated: true };
}
