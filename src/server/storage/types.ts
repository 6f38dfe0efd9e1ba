/*
 * The storage interface every backend implements and the tools and transports depend on,
 * with the shapes it speaks in and the errors it throws. Nothing here knows about files,
 * SQLite or PostgreSQL.
 */

import { FLAG_DEFAULTS } from '../../config.ts';

export const DEFAULT_MAX_CONTENT_BYTES = FLAG_DEFAULTS.maxContentBytes;
export const MAX_DESCRIPTION_CHARS = 2000;
export const MAX_TAGS = 32;
export const MAX_TAG_CHARS = 64;
export const MAX_QUERY_CHARS = 1000;
export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 100;
export const DEFAULT_SEARCH_LIMIT = 10;
export const MAX_SEARCH_LIMIT = 50;
/** How much of each memory's content lists and search results show. */
export const PREVIEW_CHARS = 300;

export interface MemoryMeta {
  id: string;
  /** The content file's name (embedded backend: inside the user's directory). */
  file: string;
  description: string;
  tags: string[];
  /** ISO 8601, UTC, millisecond precision. */
  created: string;
  /** Content size in UTF-8 bytes. */
  size: number;
}

export interface MemorySummary extends MemoryMeta {
  /** The first PREVIEW_CHARS characters of the content. */
  preview: string;
  /** Whether the content goes on past the preview. */
  truncated: boolean;
}

export interface Memory extends MemoryMeta {
  content: string;
}

export interface StoreInput {
  content: string;
  filename?: string | undefined;
  description?: string | undefined;
  /** A list, or one comma-separated string. */
  tags?: string[] | string | undefined;
}

export interface ListQuery {
  /** Only memories with this tag (case-insensitive). */
  tag?: string | undefined;
  /** ISO 8601 date or date-time: created at or after. */
  since?: string | undefined;
  /** ISO 8601 date (the whole day) or date-time: created at or before. */
  until?: string | undefined;
  limit?: number | undefined;
  /** `nextCursor` of the previous page. */
  cursor?: string | undefined;
}

export interface ListResult {
  memories: MemorySummary[];
  /** How many memories match the filters, on all pages. */
  total: number;
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export interface SearchResult {
  memories: (MemorySummary & { score: number })[];
  total: number;
}

export interface StorageHealth {
  status: 'ok' | 'degraded';
  /** Which backend answered: "embedded" or "postgres". */
  backend: string;
  /** When degraded: one sentence naming what is wrong and what to do. */
  problem?: string;
}

/** What the MCP tools and the transports use; one implementation per backend. */
export interface Storage {
  readonly backend: 'embedded' | 'postgres';
  readonly maxContentBytes: number;
  store(user: string, input: StoreInput): Promise<MemorySummary>;
  /** By id, or by file name. */
  get(user: string, idOrFile: string): Promise<Memory>;
  /** Newest first, filtered by tag and time, one page at a time. */
  list(user: string, query?: ListQuery): Promise<ListResult>;
  /** Best match first. */
  search(user: string, query: string, limit?: number): Promise<SearchResult>;
  delete(user: string, idOrFile: string): Promise<MemorySummary>;
  /** Whether a store could succeed right now (for /health). */
  health(): Promise<StorageHealth>;
  /**
   * Resolves when the backend's start-up work is over (embedded: every user directory
   * reconciled with the index, in the background; calls are answered meanwhile).
   */
  readonly started?: Promise<void>;
  /** Waits for writes in flight, then releases files and connections. */
  close(): Promise<void>;
}

/** A caller's mistake: the message says what to change. */
export class MemoryInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryInputError';
  }
}

/** No memory with that id for this user (whether or not another user has one). */
export class MemoryNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryNotFoundError';
  }
}

/** The storage failed the operation; `code` is the system error code (ENOSPC, EACCES …). */
export class StorageError extends Error {
  readonly code: string;

  constructor(message: string, code: string) {
    super(message);
    this.name = 'StorageError';
    this.code = code;
  }
}

export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
