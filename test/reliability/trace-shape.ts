/*
 * The exact span set of one turn, for counting at a receiver: a span lost anywhere (the batch
 * processor's queue overflowing, an export dropped, a server span that never joined) changes
 * the count or leaves a span whose parent is missing. test/telemetry/turn-trace.test.ts
 * asserts the attributes of these spans; here only presence, count and linkage matter.
 */
import { expect } from 'vitest';
import { SPAN_KIND, type ReceivedSpan } from '../helpers/otlp-receiver.ts';

export const CLIENT = 'memento-client';
export const SERVER = 'memento-mcp-server';

const STORAGE: Record<string, string> = {
  store_memory: 'write',
  retrieve_memories: 'list',
  search_memories: 'search',
  get_memory: 'read',
  delete_memory: 'delete',
};

/** The database statements (CLIENT spans) under each storage span, embedded backend. */
const STATEMENTS: Record<string, string[]> = {
  store_memory: ['INSERT memories'],
  retrieve_memories: ['SELECT memories'],
  search_memories: ['SELECT postings'],
  get_memory: ['SELECT memories'],
  delete_memory: ['SELECT memories', 'DELETE memories'],
};

export interface TurnShape {
  /** The one tool the turn calls. */
  tool: string;
  /** The session connected in this turn (initialize, the initialized notification, tools/list). */
  connected: boolean;
  /** The server's first call for that user (no span of its own since the SQLite index). */
  loaded: boolean;
  deployment?: string;
}

/** `service name` for every span a one-tool turn over Streamable HTTP produces, sorted. */
export function expectedSpans({ tool, connected, deployment = 'gpt-4o-mini' }: TurnShape): string[] {
  const client = (name: string) => `${CLIENT} ${name}`;
  const server = (name: string) => `${SERVER} ${name}`;
  const names = [
    client('invoke_agent memento'),
    // Each chat call and its one HTTP attempt.
    client(`chat ${deployment}`),
    client('POST'),
    client(`chat ${deployment}`),
    client('POST'),
    // The tool call, the POST that carries it, and the server's side of both.
    client(`tools/call ${tool}`),
    client('POST'),
    server('POST'),
    server(`tools/call ${tool}`),
    server(`memento.storage.${STORAGE[tool]}`),
    ...(STATEMENTS[tool] ?? []).map(server),
  ];
  if (connected) {
    names.push(
      client('initialize'),
      client('POST'),
      server('POST'),
      server('initialize'),
      // notifications/initialized is a POST with no MCP span: notifications have no response.
      client('POST'),
      server('POST'),
      client('tools/list'),
      client('POST'),
      server('POST'),
      server('tools/list'),
    );
  }
  return names.sort();
}

/**
 * Asserts that `spans` are exactly one complete turn: the expected names, one root, every
 * other span's parent present in the same trace, and the server's tools/call span joined
 * under the client's.
 */
export function expectCompleteTurn(spans: ReceivedSpan[], shape: TurnShape, what: string): void {
  expect(spans.map((s) => `${s.service} ${s.name}`).sort(), `${what}: its spans`).toEqual(expectedSpans(shape));
  const ids = new Set(spans.map((s) => s.spanId));
  expect(ids.size, `${what}: no span twice`).toBe(spans.length);
  const roots = spans.filter((s) => !s.parentSpanId);
  expect(roots.map((s) => s.name), `${what}: one root`).toEqual(['invoke_agent memento']);
  const orphans = spans.filter((s) => s.parentSpanId && !ids.has(s.parentSpanId));
  expect(orphans.map((s) => `${s.service} ${s.name}`), `${what}: spans whose parent never arrived`).toEqual([]);
  const call = spans.find((s) => s.service === CLIENT && s.name === `tools/call ${shape.tool}`)!;
  const served = spans.find((s) => s.service === SERVER && s.name === `tools/call ${shape.tool}` && s.kind === SPAN_KIND.SERVER);
  expect(served?.parentSpanId, `${what}: server span joined under the client's tools/call`).toBe(call.spanId);
}
