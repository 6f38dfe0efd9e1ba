/*
 * Per-user conversation history, bounded: the model sees the recent exchanges of the current
 * user only, and switching users never shows one person's words to another. Only what was
 * said is kept (the user's messages and the final answers); tool traffic stays in its turn.
 *
 * The working copy is in memory. With a store (history/settings.ts) it also survives the
 * process: a file per user by default, Redis when shared. `sync` before a turn reads what the
 * store has (another client may have talked since); `add` writes through. A store that fails
 * costs a one-line warning, never the turn: the conversation goes on in memory.
 */
import { randomUUID } from 'node:crypto';
import type { Exchange, HistoryStore } from './history/store.ts';

export type { Exchange } from './history/store.ts';

export interface Conversation {
  /** gen_ai.conversation.id: stable for one user's conversation, across runs with a store. */
  id: string;
  turns: number;
  exchanges: Exchange[];
}

export interface HistoryOptions {
  store?: HistoryStore;
  /**
   * Continue the stored conversation (chat, `ask --continue`). Without it a client starts a
   * new conversation, which then replaces the stored one as "the last conversation".
   */
  resume?: boolean;
  /** One line about a store that failed; default: stderr. */
  onWarning?: (message: string) => void;
}

export class History {
  private readonly conversations = new Map<string, Conversation>();
  private readonly maxExchanges: number;
  private readonly maxChars: number;
  private readonly store: HistoryStore | undefined;
  private readonly resume: boolean;
  private readonly warn: (message: string) => void;
  private readonly pending = new Set<Promise<void>>();
  /** Users whose fresh conversation this process started (not resumed). */
  private readonly fresh = new Set<string>();
  private failing = false;

  constructor(maxExchanges = 12, maxChars = 24_000, options: HistoryOptions = {}) {
    this.maxExchanges = maxExchanges;
    this.maxChars = maxChars;
    this.store = options.store;
    this.resume = options.resume ?? false;
    this.warn = options.onWarning ?? ((m) => process.stderr.write(`memento: ${m}\n`));
  }

  of(user: string): Conversation {
    let c = this.conversations.get(user);
    if (!c) {
      c = { id: randomUUID(), turns: 0, exchanges: [] };
      this.conversations.set(user, c);
    }
    return c;
  }

  /** Brings the user's conversation up to date with the store, before a turn. */
  async sync(user: string): Promise<void> {
    if (!this.store) return;
    if (!this.resume && !this.conversations.has(user)) {
      this.fresh.add(user);
      this.of(user);
      return;
    }
    if (this.fresh.has(user)) return;
    // Our own writes first, so that what comes back includes them.
    await Promise.allSettled([...this.pending]);
    try {
      const stored = await this.store.load(user);
      this.recovered();
      if (!stored) return;
      const c = this.of(user);
      c.turns = Math.max(stored.turns, c.id === stored.id ? c.turns : 0);
      c.id = stored.id;
      c.exchanges = stored.exchanges;
      this.trim(c);
    } catch (err) {
      this.failed('read', err);
    }
  }

  add(user: string, exchange: Exchange): void {
    const c = this.of(user);
    c.exchanges.push(exchange);
    this.trim(c);
    if (this.store) {
      const store = this.store;
      this.track(store.append(user, { id: c.id, turns: c.turns }, exchange, this.maxExchanges), 'save');
    }
  }

  /** Forgets the user's conversation, here and in the store; the next turn starts a new one. */
  clear(user: string): void {
    const c = this.of(user);
    c.exchanges = [];
    c.id = randomUUID();
    c.turns = 0;
    if (this.store) this.track(this.store.clear(user), 'erase');
  }

  /** Users who have talked in this process, in the order they first did. */
  users(): string[] {
    return [...this.conversations.keys()];
  }

  /** Where the history is kept, for messages. */
  describe(): string {
    return this.store ? this.store.description : 'memory only';
  }

  /** Waits for writes in flight (before exit), then lets go of the store. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    await this.store?.close().catch(() => {});
  }

  private trim(c: Conversation): void {
    let chars = c.exchanges.reduce((n, e) => n + e.user.length + e.assistant.length, 0);
    while (c.exchanges.length > this.maxExchanges || (chars > this.maxChars && c.exchanges.length > 1)) {
      const dropped = c.exchanges.shift()!;
      chars -= dropped.user.length + dropped.assistant.length;
    }
  }

  private track(write: Promise<void>, what: string): void {
    const p = write.then(
      () => this.recovered(),
      (err) => this.failed(what, err),
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private failed(what: string, err: unknown): void {
    // One line per outage, not one per turn.
    if (this.failing) return;
    this.failing = true;
    const e = err as Error & { code?: string };
    const why = e.code ?? e.message ?? String(err);
    this.warn(`could not ${what} the conversation history at ${this.store?.description} (${why}); going on with the history in memory`);
  }

  private recovered(): void {
    this.failing = false;
  }
}
