/*
 * A trace that checks itself. When openai 7 and AI SDK 7 shipped, every public
 * instrumentation silently emitted zero spans for months: nobody looked. After each turn the
 * client looks at its own trace and says what is missing and why it probably is:
 *
 *  - the root `invoke_agent` span;
 *  - one `chat` span per model call, each with token usage and an HTTP span under it (the
 *    latter is what breaks when the openai package changes how it fetches);
 *  - one `tools/call` client span per tool call that reached the server, with the server's
 *    span joined under it — known from the server's own report in the result's `_meta`
 *    (memento.mcp.server_span) or from server spans already in hand (the trace file).
 *
 * Pure: it reads spans and what the agent says happened, and never throws into the turn.
 */
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_TOOL_CALL_ID,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  ATTR_MCP_METHOD_NAME,
  ATTR_MEMENTO_MCP_SERVER_SPAN,
  ATTR_MEMENTO_PHASE,
  GEN_AI_OPERATION_NAME_VALUE_CHAT,
} from './semconv.ts';
import { findTurnRoot, type TraceSpan } from '../traces/model.ts';

export interface SelfCheckProblem {
  /** What is missing, e.g. `no server span for tools/call store_memory`. */
  missing: string;
  /** The likely cause, as a question or a pointer. */
  cause: string;
}

export interface SelfCheck {
  ok: boolean;
  /** What was looked at, for --json readers: counts of what was found. */
  found: { root: boolean; chatSpans: number; toolCallSpans: number; serverSpansJoined: number };
  problems: SelfCheckProblem[];
}

export interface TurnFacts {
  traceId: string;
  /** Model calls that returned an answer. */
  chatCalls: number;
  /** Tool calls sent to the server (the ones the client refused itself are not). */
  toolCalls: { name: string; callId: string }[];
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

export function checkTurnTrace(spans: readonly TraceSpan[], facts: TurnFacts): SelfCheck {
  const mine = spans.filter((s) => s.traceId === facts.traceId);
  const problems: SelfCheckProblem[] = [];
  const root = findTurnRoot(mine);
  if (!root) {
    problems.push({
      missing: 'no root span (invoke_agent memento)',
      cause: 'the turn was not traced: is the OpenTelemetry SDK preloaded (bin/memento does it with node --import)?',
    });
  }

  const chats = mine.filter((s) => s.attributes[ATTR_GEN_AI_OPERATION_NAME] === GEN_AI_OPERATION_NAME_VALUE_CHAT);
  const answered = chats.filter((s) => s.status !== 'error');
  if (answered.length < facts.chatCalls) {
    problems.push({
      missing: `${facts.chatCalls - answered.length} of ${facts.chatCalls} model calls have no chat span`,
      cause: 'the model client made calls outside the GenAI spans: is every call going through Agent.chat?',
    });
  }
  for (const chat of answered) {
    const label = `${chat.name}${chat.attributes[ATTR_MEMENTO_PHASE] ? ` (${String(chat.attributes[ATTR_MEMENTO_PHASE])})` : ''}`;
    if (typeof chat.attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS] !== 'number' || typeof chat.attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] !== 'number') {
      problems.push({
        missing: `no token usage on ${label}`,
        cause: 'the endpoint sent no usage: streamed answers need stream_options.include_usage, which some OpenAI-compatible servers ignore (MEMENTO_STREAM=off asks for whole answers)',
      });
    }
    if (!mine.some((s) => s.parentSpanId === chat.spanId && s.kind === 'client')) {
      problems.push({
        missing: `no HTTP span under ${label}`,
        cause: "undici's diagnostics channels reported no request (src/telemetry/http-client.ts): does this openai version still call fetch through undici's dispatcher?",
      });
    }
  }

  const toolSpans = mine.filter((s) => s.kind === 'client' && s.attributes[ATTR_MCP_METHOD_NAME] === 'tools/call');
  let joined = 0;
  for (const call of facts.toolCalls) {
    const span = toolSpans.find((s) => s.attributes[ATTR_GEN_AI_TOOL_CALL_ID] === call.callId);
    if (!span) {
      problems.push({
        missing: `no client span for tools/call ${call.name}`,
        cause: 'the MCP client transport is not instrumented (instrumentClientTransport)',
      });
      continue;
    }
    const child = mine.find((s) => s.kind === 'server' && s.parentSpanId === span.spanId);
    const reported = TRACEPARENT.exec(String(span.attributes[ATTR_MEMENTO_MCP_SERVER_SPAN] ?? ''));
    if (child || reported?.[1] === facts.traceId) {
      joined += 1;
    } else if (reported) {
      problems.push({
        missing: `the server span for tools/call ${call.name} is in another trace (${reported[1]})`,
        cause: 'the server did not take its parent from params._meta.traceparent',
      });
    } else {
      problems.push({
        missing: `no server span for tools/call ${call.name}`,
        cause: 'is the server traced, and does it read `_meta`?',
      });
    }
  }

  return {
    ok: problems.length === 0,
    found: { root: Boolean(root), chatSpans: chats.length, toolCallSpans: toolSpans.length, serverSpansJoined: joined },
    problems,
  };
}
