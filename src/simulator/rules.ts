/*
 * The simulator's "model": given the conversation and the offered tools, what the next
 * assistant message is. Stateless and pure — everything it needs is in the request, as with
 * the real service — so a turn that needs two rounds (find, then delete) works out from the
 * tool calls and results already in the conversation which round it is in.
 */
import { parseIntent, type Intent, type StoreItem } from './intent.ts';
import { readToolResult, type Memory, type ToolOutcome } from './results.ts';
import {
  buildArguments,
  classifyTools,
  roleScore,
  slotOf,
  TOOL_ROLES,
  words,
  type Slot,
  type SlotValues,
  type ToolRole,
  type Toolbox,
  type ToolSpec,
} from './tools.ts';

/** One message of the conversation, with its content already flattened to text. */
export interface RuleMessage {
  role: string;
  content: string;
  toolCalls?: { id: string; name: string; arguments: string }[];
  toolCallId?: string;
}

export interface PlannedCall {
  name: string;
  arguments: Record<string, unknown>;
}

export type Reply = { kind: 'tool_calls'; calls: PlannedCall[] } | { kind: 'text'; text: string };

export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

export interface RuleContext {
  /** What "today" is; UTC. */
  now: Date;
  /** `parallel_tool_calls: false` asks for one call per response. */
  parallel?: boolean;
  toolChoice?: ToolChoice;
}

/** A turn never asks for more rounds than this, so a confused conversation still ends in an answer. */
export const MAX_ROUNDS = 4;

interface DoneCall {
  name: string;
  role: ToolRole | undefined;
  args: Record<string, unknown>;
  outcome: ToolOutcome | undefined;
}

const ROLE_VERBS: Record<ToolRole, string> = {
  store: 'store memories',
  retrieve: 'list memories',
  search: 'search memories',
  get: 'read a memory',
  delete: 'delete memories',
};

export const HELP_TEXT =
  "I'm the Memento simulator: a rule-based stand-in for Azure OpenAI, not a language model. " +
  'I understand requests like "remember that the dentist is on Friday #health", "what did I store yesterday?", ' +
  '"list my memories", "search for dentist" and "forget the memory about the dentist".';

function parseArgs(json: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(json);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The tool calls made since the last user message, each with the result that came back for it. */
function callsInTurn(turn: readonly RuleMessage[], roleOf: (name: string) => ToolRole | undefined): { calls: DoneCall[]; rounds: number } {
  const results = new Map<string, string>();
  for (const m of turn) if (m.role === 'tool' && m.toolCallId !== undefined) results.set(m.toolCallId, m.content);
  const calls: DoneCall[] = [];
  let rounds = 0;
  for (const m of turn) {
    if (m.role !== 'assistant' || !m.toolCalls?.length) continue;
    rounds++;
    for (const c of m.toolCalls) {
      const result = results.get(c.id);
      calls.push({ name: c.name, role: roleOf(c.name), args: parseArgs(c.arguments), outcome: result === undefined ? undefined : readToolResult(result) });
    }
  }
  return { calls, rounds };
}

/**
 * The role of a tool called earlier that this request no longer offers (a client may leave
 * the tools out of the summarizing call): judged by its name alone.
 */
function roleByName(name: string): ToolRole | undefined {
  let best: ToolRole | undefined;
  let bestScore = 0;
  for (const role of TOOL_ROLES) {
    const score = roleScore({ name }, role);
    if (score > bestScore) [best, bestScore] = [role, score];
  }
  return best;
}

/** How many of the words a person used (3+ letters) a memory's content and tags contain. */
function overlap(memory: Memory, query: string): number {
  const have = new Set(words(`${memory.content ?? ''} ${(memory.tags ?? []).join(' ')}`));
  let score = 0;
  for (const w of new Set(words(query))) if (w.length > 2 && have.has(w)) score++;
  return score;
}

/** The memory with the most words in common with what the user named; ties keep the server's order. */
export function bestMatch(memories: readonly Memory[], query: string): Memory | undefined {
  let best: Memory | undefined;
  let bestScore = -1;
  for (const m of memories) {
    if (m.id === undefined) continue;
    const score = overlap(m, query);
    if (score > bestScore) [best, bestScore] = [m, score];
  }
  return best;
}

function call(tool: ToolSpec, role: ToolRole, values: SlotValues): PlannedCall {
  return { name: tool.name, arguments: buildArguments(tool, role, values) };
}

function rangeValues(intent: { range?: { since?: Date; until?: Date }; limit?: number; tags?: string[] }): SlotValues {
  const v: SlotValues = {};
  if (intent.tags?.length) v.tags = intent.tags;
  if (intent.range?.since) v.since = intent.range.since;
  if (intent.range?.until) v.until = intent.range.until;
  if (intent.limit) v.limit = intent.limit;
  return v;
}

/**
 * A memory's description: the one the message gave ("this meeting summary: …"), else, for a
 * long memory, its first words, as a model would write one; a short memory is its own.
 */
function storeValues(item: StoreItem): SlotValues {
  const values: SlotValues = { content: item.content };
  if (item.tags.length > 0) values.tags = item.tags;
  const w = item.content.split(/\s+/);
  if (item.description) values.description = item.description;
  else if (w.length > 8) values.description = `${w.slice(0, 8).join(' ')}…`;
  return values;
}

/** The calls this round should make, given what the turn has already done; [] when nothing is left to do. */
function nextCalls(intent: Intent, box: Toolbox, done: readonly DoneCall[], parallel: boolean): PlannedCall[] {
  const user: SlotValues = intent.otherUser ? { user: intent.otherUser } : {};
  const did = (role: ToolRole) => done.filter((c) => c.role === role);
  switch (intent.kind) {
    case 'store': {
      if (!box.store) return [];
      const remaining = intent.items.slice(did('store').length);
      const calls = remaining.map((item) => call(box.store!, 'store', { ...storeValues(item), ...user }));
      return parallel ? calls : calls.slice(0, 1);
    }
    case 'retrieve':
      if (!box.retrieve || did('retrieve').length > 0) return [];
      return [call(box.retrieve, 'retrieve', { ...rangeValues(intent), ...user })];
    case 'search': {
      const values = { query: intent.query, ...rangeValues(intent), ...user };
      if (box.search) return did('search').length > 0 ? [] : [call(box.search, 'search', values)];
      // Without a search tool, list and let the answer pick the matches.
      if (box.retrieve) return did('retrieve').length > 0 ? [] : [call(box.retrieve, 'retrieve', values)];
      return [];
    }
    case 'get':
      if (!box.get || did('get').length > 0) return [];
      return [call(box.get, 'get', { id: intent.id, ...user })];
    case 'delete': {
      if (!box.delete || did('delete').length > 0) return [];
      if (intent.id) return [call(box.delete, 'delete', { id: intent.id, ...user })];
      const finderRole: ToolRole | undefined = box.search ? 'search' : box.retrieve ? 'retrieve' : undefined;
      if (!finderRole) return [];
      const found = did(finderRole);
      if (found.length === 0) return [call(box[finderRole]!, finderRole, { query: intent.query, ...user })];
      const outcome = found[found.length - 1]!.outcome;
      const hit = outcome?.ok ? bestMatch(outcome.memories, intent.query) : undefined;
      return hit?.id !== undefined ? [call(box.delete, 'delete', { id: hit.id, ...user })] : [];
    }
    default:
      return [];
  }
}

const quote = (text: string | undefined, max = 80) => {
  const t = (text ?? '').replace(/\s+/g, ' ').trim();
  return `"${t.length > max ? `${t.slice(0, max - 1)}…` : t}"`;
};

function when(created: string | undefined): string | undefined {
  if (!created) return undefined;
  const d = new Date(created);
  return Number.isNaN(d.getTime()) ? created : d.toISOString().slice(0, 16).replace('T', ' ');
}

function describe(m: Memory): string {
  const details = [m.id !== undefined ? `id ${m.id}` : undefined, when(m.created), m.tags?.length ? `tags ${m.tags.join(', ')}` : undefined].filter(Boolean);
  return `${quote(m.content)}${details.length ? ` (${details.join(', ')})` : ''}`;
}

const LIST_MAX = 10;
function list(memories: readonly Memory[]): string {
  const lines = memories.slice(0, LIST_MAX).map((m) => `- ${describe(m)}`);
  if (memories.length > LIST_MAX) lines.push(`- …and ${memories.length - LIST_MAX} more.`);
  return lines.join('\n');
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
/**
 * A tool's message as a person should read it: servers write hints for the model ("Use
 * retrieve_memories or search_memories to find ids."), which name tools a person cannot
 * call, so sentences that tell the reader to use or call a tool are left out.
 */
export function forPeople(text: string): string {
  const kept = text
    .split(/(?<=[.!?])\s+/)
    .filter((sentence) => !/\b(?:use|call|try|pass\s+it\s+to)\b[^.]*\b[a-z]+(?:_[a-z]+)+\b/i.test(sentence));
  return kept.join(' ').trim();
}

const failed = (outcome: ToolOutcome) => `I couldn't do that: ${forPeople(outcome.error ?? '') || 'the tool failed'}`;

/** The value an argument of `call` holds for `slot` (e.g. the content a store call sent). */
function argument(c: DoneCall, box: Toolbox, slot: Slot): string | undefined {
  const tool = c.role ? box[c.role] : undefined;
  for (const [name, value] of Object.entries(c.args)) {
    if ((typeof value === 'string' || typeof value === 'number') && slotOf(name, tool?.parameters?.properties?.[name], c.role ?? 'store') === slot) {
      return String(value);
    }
  }
  return undefined;
}

type Answered = DoneCall & { outcome: ToolOutcome };

function storeAnswer(stores: readonly Answered[], box: Toolbox): string | undefined {
  if (stores.length === 0) return undefined;
  if (stores.length === 1 && !stores[0]!.outcome.ok) return failed(stores[0]!.outcome);
  return stores
    .map((c) => {
      const content = argument(c, box, 'content') ?? c.outcome.memories[0]?.content;
      if (!c.outcome.ok) return `I couldn't store ${quote(content)}: ${c.outcome.error}`;
      const id = c.outcome.memories[0]?.id;
      return `Stored ${quote(content)}${id !== undefined ? ` (id ${id})` : ''}.`;
    })
    .join('\n');
}

/** The answer to a listing or a search, from the call that made it. */
function listAnswer(intent: Intent & { kind: 'retrieve' | 'search' }, c: Answered): string {
  if (!c.outcome.ok) return failed(c.outcome);
  const period = intent.range ? ` ${intent.range.label}` : '';
  const subject = intent.otherUser ?? 'You';
  if (!c.outcome.structured) {
    const heading =
      intent.kind === 'search'
        ? `Here is what I found about ${quote(intent.query)}${period}:`
        : `Here is what ${intent.otherUser ?? 'you'} stored${period}:`;
    return `${heading}\n${c.outcome.text.trim()}`;
  }
  const { total } = c.outcome;
  if (intent.kind === 'search') {
    // A listing standing in for a missing search tool: keep what matches.
    const memories = c.role === 'retrieve' ? c.outcome.memories.filter((m) => overlap(m, intent.query) > 0) : c.outcome.memories;
    if (memories.length === 0) return `I found nothing about ${quote(intent.query)}${period}.`;
    const paged = total !== undefined && c.role === 'search';
    const shown = paged ? `; the best ${memories.length}` : '';
    return `I found ${plural(paged ? total : memories.length, 'memory', 'memories')} about ${quote(intent.query)}${period}${shown}:\n${list(memories)}`;
  }
  const { memories } = c.outcome;
  const tagged = intent.tags?.length ? ` tagged ${intent.tags.join(', ')}` : '';
  if (memories.length === 0) {
    if (intent.range || tagged) return `${subject} didn't store anything${tagged}${period}.`;
    return `${subject === 'You' ? "You haven't" : `${subject} hasn't`} stored any memories yet.`;
  }
  const shown = total !== undefined ? `; the newest ${memories.length}` : '';
  return `${subject} stored ${plural(total ?? memories.length, 'memory', 'memories')}${tagged}${period}${shown}:\n${list(memories)}`;
}

function getAnswer(intent: Intent & { kind: 'get' }, c: Answered): string {
  if (!c.outcome.ok) return failed(c.outcome);
  const m = c.outcome.memories[0];
  if (!c.outcome.structured || m?.content === undefined) return c.outcome.text.trim();
  return `Memory ${m.id ?? intent.id}: ${describe({ ...m, id: undefined })}`;
}

function deleteAnswer(intent: Intent & { kind: 'delete' }, del: Answered | undefined, finder: Answered | undefined, box: Toolbox): string | undefined {
  if (del) {
    if (!del.outcome.ok) return failed(del.outcome);
    const id = argument(del, box, 'id') ?? intent.id;
    const hit = finder?.outcome.memories.find((m) => m.id === id) ?? del.outcome.memories[0];
    return `Deleted ${hit?.content !== undefined ? `${quote(hit.content)} ` : ''}(id ${hit?.id ?? id}).`;
  }
  if (!finder) return undefined;
  if (!finder.outcome.ok) return failed(finder.outcome);
  return `I couldn't find a memory about ${quote(intent.query)}, so nothing was deleted.`;
}

/** The human answer once the tool results are in. */
function summarize(intent: Intent, box: Toolbox, done: readonly DoneCall[]): string {
  const answered = done.filter((c): c is Answered => c.outcome !== undefined);
  const last = (role: ToolRole) => answered.filter((c) => c.role === role).at(-1);
  let answer: string | undefined;
  switch (intent.kind) {
    case 'store':
      answer = storeAnswer(answered.filter((c) => c.role === 'store'), box);
      break;
    case 'retrieve':
    case 'search': {
      const c = intent.kind === 'search' ? (last('search') ?? last('retrieve')) : last('retrieve');
      if (c) answer = listAnswer(intent, c);
      break;
    }
    case 'get': {
      const c = last('get');
      if (c) answer = getAnswer(intent, c);
      break;
    }
    case 'delete':
      answer = deleteAnswer(intent, last('delete'), last('search') ?? last('retrieve'), box);
      break;
    default:
      break;
  }
  if (answer !== undefined) return answer;
  // Results the rules did not plan for (another client's calls, a tool that changed role): report them plainly.
  const plain = answered.map((c) => (c.outcome.ok ? forPeople(c.outcome.text.trim()) || 'Done.' : failed(c.outcome)));
  return plain.join('\n') || HELP_TEXT;
}

/** What to say when no tool can serve the request. */
function plainAnswer(intent: Intent, tools: readonly ToolSpec[]): string {
  const role = TOOL_ROLES.find((r) => r === intent.kind);
  if (!role) return HELP_TEXT;
  if (tools.length === 0) {
    return `I can't ${ROLE_VERBS[role]} right now: no tools were offered in this conversation. (I'm the Memento simulator, a rule-based stand-in for a model.)`;
  }
  return `I can't ${ROLE_VERBS[role]} with the tools offered here (${tools.map((t) => t.name).join(', ')}).`;
}

/** The next assistant message for `messages`, offering `tools`. */
export function respond(messages: readonly RuleMessage[], tools: readonly ToolSpec[], ctx: RuleContext): Reply {
  const lastUser = messages.findLastIndex((m) => m.role === 'user');
  if (lastUser < 0) return { kind: 'text', text: HELP_TEXT };
  const intent = parseIntent(messages[lastUser]!.content, ctx.now);

  const choice = ctx.toolChoice ?? 'auto';
  const offered = choice === 'none' ? [] : typeof choice === 'object' ? tools.filter((t) => t.name === choice.name) : tools;
  const box = classifyTools(offered);
  const roleOf = (name: string) => TOOL_ROLES.find((r) => box[r]?.name === name) ?? roleByName(name);
  const { calls: done, rounds } = callsInTurn(messages.slice(lastUser + 1), roleOf);

  const next = rounds >= MAX_ROUNDS ? [] : nextCalls(intent, box, done, ctx.parallel ?? true);
  if (next.length > 0) return { kind: 'tool_calls', calls: next };
  if (done.length > 0) return { kind: 'text', text: summarize(intent, box, done) };
  if (choice === 'required' && offered.length > 0) {
    const tool = box.search ?? box.retrieve ?? offered[0]!;
    const role = tool === box.search ? 'search' : 'retrieve';
    return { kind: 'tool_calls', calls: [call(tool, role, { query: messages[lastUser]!.content })] };
  }
  return { kind: 'text', text: plainAnswer(intent, offered) };
}
