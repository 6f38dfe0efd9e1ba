/*
 * Per-user conversation history, in memory and bounded: the model sees the recent exchanges
 * of the current user only, and switching users never shows one person's words to another.
 * Only what was said is kept (the user's messages and the final answers); tool traffic
 * stays in its turn.
 */
import { randomUUID } from 'node:crypto';

export interface Exchange {
  user: string;
  assistant: string;
}

export interface Conversation {
  /** gen_ai.conversation.id: stable for one user within one client process. */
  id: string;
  turns: number;
  exchanges: Exchange[];
}

export class History {
  private readonly conversations = new Map<string, Conversation>();
  private readonly maxExchanges: number;
  private readonly maxChars: number;

  constructor(maxExchanges = 12, maxChars = 24_000) {
    this.maxExchanges = maxExchanges;
    this.maxChars = maxChars;
  }

  of(user: string): Conversation {
    let c = this.conversations.get(user);
    if (!c) {
      c = { id: randomUUID(), turns: 0, exchanges: [] };
      this.conversations.set(user, c);
    }
    return c;
  }

  add(user: string, exchange: Exchange): void {
    const c = this.of(user);
    c.exchanges.push(exchange);
    let chars = c.exchanges.reduce((n, e) => n + e.user.length + e.assistant.length, 0);
    while (c.exchanges.length > this.maxExchanges || (chars > this.maxChars && c.exchanges.length > 1)) {
      const dropped = c.exchanges.shift()!;
      chars -= dropped.user.length + dropped.assistant.length;
    }
  }

  clear(user: string): void {
    const c = this.of(user);
    c.exchanges = [];
  }

  /** Users who have talked in this process, in the order they first did. */
  users(): string[] {
    return [...this.conversations.keys()];
  }
}
