/*
 * What the offered tools are, read from their names, descriptions and JSON schemas — never
 * from a list of known names — so the simulator keeps working when the MCP server renames a
 * tool, rewords its description or gives it new fields.
 */

/** A function tool as the request offers it (`tools[].function`). */
export interface ToolSpec {
  name: string;
  description?: string;
  parameters?: JsonSchema;
}

export interface JsonSchema {
  type?: string | string[];
  description?: string;
  format?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
}

/** The five things a memory tool can be. */
export type ToolRole = 'store' | 'retrieve' | 'search' | 'get' | 'delete';
export const TOOL_ROLES: readonly ToolRole[] = ['store', 'retrieve', 'search', 'get', 'delete'];

export type Toolbox = Partial<Record<ToolRole, ToolSpec>>;

/** Words that say what a tool does, by role. */
const ROLE_WORDS: Record<ToolRole, readonly string[]> = {
  store: ['store', 'save', 'create', 'add', 'remember', 'write', 'record', 'insert', 'put', 'memorize', 'keep', 'persist'],
  retrieve: ['retrieve', 'list', 'recent', 'browse', 'recall', 'history', 'timeline', 'range', 'enumerate'],
  search: ['search', 'find', 'query', 'lookup', 'look', 'match', 'grep', 'semantic', 'keyword', 'keywords'],
  get: ['get', 'read', 'fetch', 'show', 'open', 'view', 'load', 'single'],
  delete: ['delete', 'remove', 'forget', 'erase', 'destroy', 'drop', 'purge', 'discard'],
};

/** `storeMemory`, `store-memory`, `store_memory` → ["store", "memory"]. */
export function words(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

function stem(word: string): string {
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('es') && /(?:ch|sh|x|s)es$/.test(word)) return word.slice(0, -2);
  if (word.endsWith('ing') && word.length > 5) return word.slice(0, -3);
  if (word.endsWith('ed') && word.length > 4) return word.slice(0, -2);
  if (word.endsWith('s') && !word.endsWith('ss') && word.length > 3) return word.slice(0, -1);
  return word;
}

function roleHits(role: ToolRole, tokens: string[]): number {
  const wanted = ROLE_WORDS[role];
  let hits = 0;
  for (const t of tokens) if (wanted.includes(t) || wanted.includes(stem(t)) || wanted.includes(`${stem(t)}e`)) hits++;
  return hits;
}

/**
 * How strongly `tool` looks like `role`. A word in the name counts most, then the first
 * sentence of the description (which says what the tool does), then the rest of it (which
 * often names the *other* tools: "use search_memories to find the id first"); the
 * properties add a little (a `query` suggests search, a required id alone suggests get/delete).
 */
export function roleScore(tool: ToolSpec, role: ToolRole): number {
  const description = tool.description ?? '';
  const firstSentence = description.split(/(?<=[.!?])\s|\n/)[0] ?? '';
  const firstWord = words(firstSentence).slice(0, 1);
  let score = 10 * roleHits(role, words(tool.name));
  score += 4 * roleHits(role, firstWord) + 3 * roleHits(role, words(firstSentence)) + roleHits(role, words(description));
  const slots = new Set(Object.entries(tool.parameters?.properties ?? {}).map(([n, s]) => slotOf(n, s, role)));
  const required = tool.parameters?.required ?? [];
  if (role === 'search' && slots.has('query')) score += 2;
  if (role === 'retrieve' && (slots.has('since') || slots.has('until') || slots.has('date'))) score += 2;
  if (role === 'store' && slots.has('content')) score += 2;
  if ((role === 'get' || role === 'delete') && slots.has('id') && required.length <= 1) score += 1;
  return score;
}

/**
 * Picks at most one tool for each role: repeatedly the (tool, role) pair with the highest
 * score among those still free, so a tool never plays two roles and an unclear tool goes to
 * the role it fits best. Tools that fit no role are left out.
 */
export function classifyTools(tools: readonly ToolSpec[]): Toolbox {
  const pairs: { tool: ToolSpec; role: ToolRole; score: number; order: number }[] = [];
  tools.forEach((tool, order) => {
    for (const role of TOOL_ROLES) {
      const score = roleScore(tool, role);
      if (score > 0) pairs.push({ tool, role, score, order });
    }
  });
  pairs.sort((a, b) => b.score - a.score || a.order - b.order);
  const box: Toolbox = {};
  const taken = new Set<ToolSpec>();
  for (const { tool, role } of pairs) {
    if (box[role] || taken.has(tool)) continue;
    box[role] = tool;
    taken.add(tool);
  }
  return box;
}

/** The kinds of value the rules know how to fill into an argument. */
export type Slot = 'content' | 'description' | 'tags' | 'query' | 'id' | 'since' | 'until' | 'date' | 'limit' | 'user';

const DATE_WORDS = ['date', 'day', 'time', 'timestamp', 'datetime', 'at', 'on', 'created', 'updated'];

/**
 * Which slot a property fills, from its name (split into words) and, failing that, its
 * description. `role` settles the words that mean different things per tool: `text` is
 * the content of a store but the query of a search.
 */
export function slotOf(name: string, schema: JsonSchema | undefined, role: ToolRole): Slot | undefined {
  const w = words(name);
  const has = (...xs: string[]) => xs.some((x) => w.includes(x));
  if (name === 'user_id' || (has('user', 'owner') && w.length <= 2)) return 'user';
  if (has('since', 'from', 'start', 'after', 'begin', 'earliest') && !has('id')) return 'since';
  if (has('until', 'to', 'end', 'before', 'latest') && !has('id')) return 'until';
  if (has('max', 'min') && has(...DATE_WORDS)) return has('max') ? 'until' : 'since';
  if (has('limit', 'count', 'top', 'k', 'n', 'size', 'max', 'results')) return 'limit';
  if (has('id', 'ids', 'identifier', 'uuid')) return 'id';
  if (has('tag', 'tags', 'label', 'labels', 'category', 'categories', 'topic', 'topics')) return 'tags';
  if (has('keyword', 'keywords')) return role === 'search' ? 'query' : 'tags';
  if (has('query', 'q', 'search', 'term', 'terms', 'phrase', 'pattern', 'needle')) return 'query';
  if (has('date', 'day')) return 'date';
  if (has('description', 'title', 'summary', 'subject', 'name', 'caption')) return 'description';
  if (has('content', 'contents', 'text', 'body', 'memory', 'note', 'value', 'message', 'data')) {
    return role === 'search' ? 'query' : 'content';
  }
  const described = schema?.description;
  if (described) {
    const d = words(described);
    if (d.includes('iso') || d.includes('date')) {
      if (d.some((x) => ['after', 'since', 'start', 'earliest', 'from'].includes(x))) return 'since';
      if (d.some((x) => ['before', 'until', 'end', 'latest'].includes(x))) return 'until';
    }
  }
  return undefined;
}

export interface SlotValues {
  content?: string;
  description?: string;
  tags?: string[];
  query?: string;
  id?: string;
  /** ISO instants; a property that wants a date gets the day of the instant. */
  since?: Date;
  until?: Date;
  limit?: number;
  /** Only set by the "someone else's memories" rule: the name the message asked about. */
  user?: string;
}

function types(schema: JsonSchema | undefined): string[] {
  const t = schema?.type;
  return t === undefined ? [] : Array.isArray(t) ? t : [t];
}

function wantsDayOnly(schema: JsonSchema | undefined): boolean {
  if (schema?.format === 'date') return true;
  return /\bYYYY-MM-DD\b(?![T ]?hh|T)/i.test(schema?.description ?? '') && !/date-?time|timestamp|instant/i.test(schema?.description ?? '');
}

/** `value` in the shape the property's schema asks for (array, number, string). */
function coerce(value: unknown, schema: JsonSchema | undefined): unknown {
  const t = types(schema);
  if (value instanceof Date) {
    return wantsDayOnly(schema) ? value.toISOString().slice(0, 10) : value.toISOString();
  }
  if (Array.isArray(value)) {
    if (t.length === 0 || t.includes('array')) return value.map((v) => coerce(v, schema?.items));
    return value.join(', ');
  }
  if (t.includes('array')) return [coerce(value, schema?.items)];
  if ((t.includes('integer') || t.includes('number')) && !t.includes('string')) {
    const n = Number(value);
    return Number.isFinite(n) ? n : value;
  }
  return value;
}

/** A value for a required property no rule fills, so a tool that gains a required field still gets a valid call. */
function fallback(schema: JsonSchema | undefined, primary: string | undefined): unknown {
  if (schema?.default !== undefined) return schema.default;
  if (schema?.enum && schema.enum.length > 0) return schema.enum[0];
  const t = types(schema);
  if (t.includes('string') || t.length === 0) return primary ?? '';
  if (t.includes('integer') || t.includes('number')) return schema?.minimum ?? 1;
  if (t.includes('boolean')) return false;
  if (t.includes('array')) return [];
  if (t.includes('object')) return {};
  return null;
}

/**
 * The arguments for a call of `tool` as `role`: each property gets the value of the slot
 * its name says it is; required properties no slot fills get a neutral value. A `user` value
 * goes into the property that names a user, or into `user_id` even when the schema has no
 * such property — that rule exists to play a model that asks for someone else's memories.
 */
export function buildArguments(tool: ToolSpec, role: ToolRole, values: SlotValues): Record<string, unknown> {
  const properties = tool.parameters?.properties ?? {};
  const required = new Set(tool.parameters?.required ?? []);
  const args: Record<string, unknown> = {};
  const filled = new Set<Slot>();
  const primary = values.content ?? values.query;
  for (const [name, schema] of Object.entries(properties)) {
    const slot = slotOf(name, schema, role);
    let value: unknown;
    if (slot && !filled.has(slot)) {
      // A single `date` property can hold one day: the start of the period stands for it.
      value = slot === 'date' ? (values.since ?? values.until) : values[slot];
      // Only the first property of a kind is filled: two `content`-like fields must not both repeat the text.
      if (value !== undefined) filled.add(slot);
    }
    if (value === undefined && required.has(name)) value = fallback(schema, primary);
    if (value !== undefined) args[name] = coerce(value, schema);
  }
  if (values.user !== undefined && !filled.has('user')) args.user_id = values.user;
  return args;
}
