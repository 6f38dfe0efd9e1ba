/*
 * Where conversation history lives between processes. The History class (../history.ts)
 * keeps the bounded working copy in memory; a store keeps it across runs: a file per user on
 * this machine by default (file-store.ts), or Redis shared by every client that points at it
 * (redis-store.ts, MEMENTO_HISTORY_URL=redis://…).
 */
export interface Exchange {
  user: string;
  assistant: string;
}

export interface StoredConversation {
  /** gen_ai.conversation.id */
  id: string;
  /** Turns taken so far, by every client that shared the conversation. */
  turns: number;
  exchanges: Exchange[];
}

export interface HistoryStore {
  /** Where it is, for messages; never with a password in it. */
  readonly description: string;
  /** The user's conversation, or undefined when there is none. */
  load(user: string): Promise<StoredConversation | undefined>;
  /**
   * Adds one exchange to the user's conversation `id`, keeping the newest `maxExchanges`; a
   * stored conversation with another id is replaced (the client started a new one).
   */
  append(user: string, conversation: { id: string; turns: number }, exchange: Exchange, maxExchanges: number): Promise<void>;
  /** Erases the user's conversation. */
  clear(user: string): Promise<void>;
  close(): Promise<void>;
}
