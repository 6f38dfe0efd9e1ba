/*
 * The conversation a turn belongs to, carried on the turn's context so that every span the
 * conventions allow `gen_ai.conversation.id` on (invoke_agent, chat, and the MCP tools/call
 * spans, which are execute_tool spans) gets it without each caller passing it along; Jaeger's
 * own tag search then finds a conversation's turns by any of their spans.
 */
import { context, createContextKey, type Context } from '@opentelemetry/api';

const CONVERSATION_ID_KEY = createContextKey('memento.gen_ai.conversation.id');

export function withConversation(ctx: Context, conversationId: string): Context {
  return ctx.setValue(CONVERSATION_ID_KEY, conversationId);
}

/** The conversation of the active turn, if any. */
export function activeConversation(ctx: Context = context.active()): string | undefined {
  const value = ctx.getValue(CONVERSATION_ID_KEY);
  return typeof value === 'string' ? value : undefined;
}
