/*
 * Conversations: the turns that share a `gen_ai.conversation.id`, seen together. Jaeger shows
 * one trace at a time and has no view of a conversation (jaegertracing/jaeger#8541), so this
 * groups turn summaries by that id: who talked, how many turns, when, how long the turns
 * took (total and p95), tokens, tool calls and failures — and, for one conversation, its
 * turns in order with each turn's split.
 */
import { latency, turnSummary, type TurnSummary } from './analysis.ts';
import type { Turn } from './model.ts';

export interface ConversationSummary {
  conversationId: string;
  /** The user of the conversation's turns (a conversation belongs to one user). */
  user?: string;
  turns: number;
  /** Epoch ms of the first and the last turn's start. */
  firstMs: number;
  lastMs: number;
  /** Sum of the turns' durations: the time spent waiting on Memento in this conversation. */
  totalMs: number;
  p95Ms: number;
  inputTokens: number;
  outputTokens: number;
  toolCalls: number;
  /** Turns whose root span failed. */
  errors: number;
  /** Time to the first answer token, p95 over the turns that streamed one. */
  firstTokenP95Ms?: number;
}

export interface ConversationDetail extends ConversationSummary {
  /** Its turns, oldest first. */
  turnList: TurnSummary[];
}

function summarise(id: string, turns: TurnSummary[]): ConversationDetail {
  const ordered = [...turns].sort((a, b) => (a.turnNumber ?? 0) - (b.turnNumber ?? 0) || a.startMs - b.startMs);
  const durations = ordered.map((t) => t.durationMs);
  const firstTokens = ordered.map((t) => t.firstTokenMs).filter((v): v is number => v !== undefined);
  const user = ordered.find((t) => t.user)?.user;
  return {
    conversationId: id,
    ...(user ? { user } : {}),
    turns: ordered.length,
    firstMs: Math.min(...ordered.map((t) => t.startMs)),
    lastMs: Math.max(...ordered.map((t) => t.startMs)),
    totalMs: latency(durations).totalMs,
    p95Ms: latency(durations).p95,
    inputTokens: ordered.reduce((n, t) => n + t.inputTokens, 0),
    outputTokens: ordered.reduce((n, t) => n + t.outputTokens, 0),
    toolCalls: ordered.reduce((n, t) => n + t.toolCalls, 0),
    errors: ordered.filter((t) => t.status === 'error').length,
    ...(firstTokens.length ? { firstTokenP95Ms: latency(firstTokens).p95 } : {}),
    turnList: ordered,
  };
}

function byConversation(turns: readonly Turn[]): Map<string, TurnSummary[]> {
  const groups = new Map<string, TurnSummary[]>();
  for (const turn of turns) {
    const summary = turnSummary(turn.spans);
    // A turn recorded before conversation ids existed (or by another tool) belongs to none.
    if (!summary.conversationId) continue;
    const list = groups.get(summary.conversationId);
    if (list) list.push(summary);
    else groups.set(summary.conversationId, [summary]);
  }
  return groups;
}

/** Every conversation among these turns, the most recently active first. */
export function conversations(turns: readonly Turn[]): ConversationSummary[] {
  return [...byConversation(turns)]
    .map(([id, list]) => {
      const { turnList: _, ...summary } = summarise(id, list);
      return summary;
    })
    .sort((a, b) => b.lastMs - a.lastMs);
}

export type ConversationLookup =
  | { kind: 'found'; conversation: ConversationDetail }
  | { kind: 'none' }
  | { kind: 'ambiguous'; ids: string[] };

/** The one conversation whose id is `idOrPrefix` or starts with it. */
export function findConversation(turns: readonly Turn[], idOrPrefix: string): ConversationLookup {
  const groups = byConversation(turns);
  const exact = groups.get(idOrPrefix);
  if (exact) return { kind: 'found', conversation: summarise(idOrPrefix, exact) };
  const ids = [...groups.keys()].filter((id) => id.startsWith(idOrPrefix));
  if (ids.length === 0) return { kind: 'none' };
  if (ids.length > 1) return { kind: 'ambiguous', ids };
  return { kind: 'found', conversation: summarise(ids[0]!, groups.get(ids[0]!)!) };
}
