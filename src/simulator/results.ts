/*
 * Reading what a tool returned, whatever shape the client chose to send it in: the
 * structured JSON of the tool, a whole MCP CallToolResult, or plain text; successes and
 * errors alike. Pure; the rules decide what to say about it.
 */
import { words } from './tools.ts';

export interface Memory {
  id?: string;
  content?: string;
  created?: string;
  tags?: string[];
}

export interface ToolOutcome {
  ok: boolean;
  /** The tool's own error message, when it failed. */
  error?: string;
  /** Memories the result lists or describes (one for store/get/delete, many for retrieve/search). */
  memories: Memory[];
  /** How many memories match on all pages, when a paged list says so. */
  total?: number;
  /** False for plain-text results: their memories are a best guess from the lines, and answers quote the text instead. */
  structured: boolean;
  /** The result as text, for results the rules cannot read further. */
  text: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const ID_KEYS = ['id', 'memory_id', 'memoryId', 'uuid', 'key'];
const CONTENT_KEYS = ['content', 'text', 'body', 'memory', 'note', 'value', 'snippet', 'preview', 'excerpt', 'description', 'title'];
const CREATED_KEYS = ['created', 'created_at', 'createdAt', 'timestamp', 'stored_at', 'storedAt', 'date', 'time'];
const LIST_KEYS = ['memories', 'results', 'items', 'matches', 'hits', 'entries', 'notes', 'data', 'records'];
const SINGLE_KEYS = ['memory', 'result', 'deleted', 'stored', 'item', 'record', 'note'];
const ERROR_TEXT =
  /^\s*(?:error\b|tool\s+error\b|mcp\s+error\b|failed\b|failure\b|refused\b|forbidden\b|denied\b|access\s+denied\b|permission\s+denied\b|not\s+allowed\b|invalid\b|unauthori[sz]ed\b|\[error\])/i;

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJson(text: string): Json | undefined {
  const t = text.trim();
  if (!t || !'{["'.includes(t[0]!)) return undefined;
  try {
    return JSON.parse(t) as Json;
  } catch {
    return undefined;
  }
}

function pick(obj: JsonObject, keys: readonly string[]): Json | undefined {
  for (const k of keys) if (obj[k] !== undefined && obj[k] !== null) return obj[k];
  return undefined;
}

function asText(v: Json | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

/** The id of a memory object: a well-known key, else any `…Id`/`…_id` key but a user's. */
function idOf(obj: JsonObject): string | undefined {
  const known = asText(pick(obj, ID_KEYS));
  if (known !== undefined) return known;
  for (const [key, value] of Object.entries(obj)) {
    const w = words(key);
    if (w.length > 1 && w.at(-1) === 'id' && !w.includes('user') && asText(value) !== undefined) return asText(value);
  }
  return undefined;
}

/** The text of a memory object: a well-known key, else any key naming content, text or body. */
function contentOf(obj: JsonObject): string | undefined {
  const known = pick(obj, CONTENT_KEYS);
  if (typeof known === 'string') return known;
  for (const [key, value] of Object.entries(obj)) {
    if (typeof value === 'string' && words(key).some((w) => ['content', 'text', 'body'].includes(w))) return value;
  }
  return undefined;
}

function looksLikeMemory(obj: JsonObject): boolean {
  return idOf(obj) !== undefined || contentOf(obj) !== undefined;
}

function toMemory(obj: JsonObject): Memory {
  const memory: Memory = {};
  const id = idOf(obj);
  if (id !== undefined) memory.id = id;
  const content = contentOf(obj);
  if (content !== undefined) memory.content = content;
  const created = asText(pick(obj, CREATED_KEYS));
  if (created !== undefined) memory.created = created;
  const tags = obj.tags ?? obj.labels;
  if (Array.isArray(tags)) memory.tags = tags.filter((t): t is string => typeof t === 'string');
  else if (typeof tags === 'string' && tags) memory.tags = tags.split(/\s*,\s*/);
  return memory;
}

function fromList(list: Json[]): Memory[] {
  return list.flatMap((item) =>
    isObject(item) && looksLikeMemory(item) ? [toMemory(item)] : typeof item === 'string' ? [{ content: item }] : [],
  );
}

/** How many a paged list says match in all ("total": 25 while 20 are shown). */
function totalOf(obj: JsonObject, shown: number): { total?: number } {
  const total = obj.total ?? obj.count ?? obj.total_count ?? obj.totalCount;
  return typeof total === 'number' && total > shown ? { total } : {};
}

/** The memories in a JSON value: a list under a well-known key, a single memory, or nested a little deeper. */
function findMemories(value: Json | undefined, depth = 0): { memories: Memory[]; total?: number } | undefined {
  if (Array.isArray(value)) return { memories: fromList(value) };
  if (!isObject(value) || depth > 3) return undefined;
  for (const k of LIST_KEYS) {
    const list = value[k];
    if (Array.isArray(list)) return { memories: fromList(list), ...totalOf(value, list.length) };
  }
  for (const k of SINGLE_KEYS) {
    const v = value[k];
    if (isObject(v) && looksLikeMemory(v)) return { memories: [toMemory(v)] };
  }
  if (looksLikeMemory(value)) return { memories: [toMemory(value)] };
  for (const v of Object.values(value)) {
    const found = findMemories(v, depth + 1);
    if (found) return found;
  }
  return undefined;
}

function errorMessage(value: JsonObject): string | undefined {
  const e = value.error;
  if (typeof e === 'string' && e) return e;
  if (isObject(e)) return asText(e.message) ?? JSON.stringify(e);
  if (value.ok === false || value.success === false || value.status === 'error') {
    return asText(value.message) ?? asText(value.reason) ?? 'the tool reported a failure';
  }
  return undefined;
}

/**
 * The memory id a line of text names: after the word "id" ("id: 20240715_143052_x",
 * "(id 42)", "id=abc-1"), else the first token shaped like one (letters or digits with a
 * digit and a `_`/`-` inside, as time-sortable file names and UUIDs are).
 */
export function idInText(line: string): string | undefined {
  const labelled = /\bid\b["']?\s*[:=]?\s*["'`]?([A-Za-z0-9][\w.:-]*[A-Za-z0-9]|[A-Za-z0-9])/i.exec(line);
  if (labelled) return labelled[1];
  return /(?<![\w.:-])(?=[\w.:-]*\d)(?=[\w.:-]*[_-])[A-Za-z0-9][\w.:-]{6,}[A-Za-z0-9](?![\w-]|[.:]\w)/.exec(line)?.[0];
}

/** One memory per line that names an id, its content the rest of the line. */
function memoriesInText(text: string): Memory[] {
  const memories: Memory[] = [];
  for (const line of text.split(/\r?\n/)) {
    const id = idInText(line);
    if (id === undefined) continue;
    const content = line
      .replace(id, ' ')
      .replace(/\bid\b\s*[:=]?/i, ' ')
      .replace(/^[\s\-*•\d.)\[\]():]+|[\s()[\],:;-]+$/g, '')
      .replace(/\s{2,}/g, ' ')
      .trim();
    memories.push(content ? { id, content } : { id });
  }
  return memories;
}

/** Reads one `tool` message's content. */
export function readToolResult(content: string): ToolOutcome {
  let text = content;
  let value = parseJson(content);
  let flaggedError = false;

  // The client may pass the whole MCP CallToolResult: prefer its structured content, else its text blocks.
  if (isObject(value) && Array.isArray(value.content) && value.content.every((b) => isObject(b) && typeof b.type === 'string')) {
    flaggedError = value.isError === true;
    text = value.content.map((b) => (isObject(b) ? (asText(b.text) ?? '') : '')).join('\n');
    value = value.structuredContent ?? parseJson(text);
  } else if (isObject(value) && value.isError === true) {
    flaggedError = true;
  }

  if (isObject(value)) {
    const error = errorMessage(value);
    if (error !== undefined || flaggedError) {
      return { ok: false, error: error ?? (text.trim() || 'the tool reported an error'), memories: [], structured: true, text };
    }
  }
  if (flaggedError || (value === undefined && ERROR_TEXT.test(text))) {
    const error = text.trim().replace(/^(?:error|tool\s+error|mcp\s+error)\s*[:-]?\s*/i, '') || 'the tool reported an error';
    return { ok: false, error, memories: [], structured: value !== undefined, text };
  }

  if (value === undefined) return { ok: true, memories: memoriesInText(text), structured: false, text };
  return { ok: true, memories: [], ...findMemories(value), structured: true, text };
}
