/*
 * History shared between clients (MEMENTO_HISTORY_URL=redis://…): every client pointed at
 * the same Redis sees the same conversation per user. Two keys per user:
 *   memento:history:{user}:meta       hash {id, turns}
 *   memento:history:{user}:exchanges  list of JSON exchanges, newest last, trimmed
 * An exchange is appended by one Lua script, so two clients answering at once both land and
 * a new conversation replaces the old one atomically.
 *
 * Client: node-redis (`redis`), the Redis project's own client, with TypeScript types and a
 * reconnect strategy that can be turned off: a Redis that is down fails the first command
 * within the connect timeout instead of queueing it, so the turn goes on without it. Every
 * operation reconnects if the last connection is gone.
 */
// Loaded on first use: a client without MEMENTO_HISTORY_URL never pays for the Redis client.
import type { RedisClientType } from 'redis';
import type { Exchange, HistoryStore, StoredConversation } from './store.ts';

const APPEND = `
local id = redis.call('HGET', KEYS[1], 'id')
if id ~= ARGV[1] then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'turns', ARGV[2])
else
  local turns = tonumber(redis.call('HGET', KEYS[1], 'turns') or '0')
  if tonumber(ARGV[2]) > turns then redis.call('HSET', KEYS[1], 'turns', ARGV[2]) end
end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
return 1
`;

/** `redis://user:secret@host:6379/0` → `redis://host:6379/0`: what messages may show. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return 'redis (unparsable URL)';
  }
}

export class RedisHistoryStore implements HistoryStore {
  readonly description: string;
  private readonly url: string;
  private readonly connectTimeoutMs: number;
  private client: RedisClientType | undefined;
  private connecting: Promise<RedisClientType> | undefined;

  constructor(url: string, options: { connectTimeoutMs?: number } = {}) {
    this.url = url;
    this.description = describeRedisUrl(url);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  }

  private keys(user: string): [string, string] {
    return [`memento:history:${user}:meta`, `memento:history:${user}:exchanges`];
  }

  private async redis(): Promise<RedisClientType> {
    if (this.client?.isReady) return this.client;
    this.connecting ??= (async () => {
      const old = this.client;
      this.client = undefined;
      old?.destroy();
      const { createClient } = await import('redis');
      const client: RedisClientType = createClient({
        url: this.url,
        socket: { connectTimeout: this.connectTimeoutMs, reconnectStrategy: false },
        disableOfflineQueue: true,
      });
      // Errors surface on the command that meets them; the event must have a listener.
      client.on('error', () => {});
      try {
        await client.connect();
      } catch (err) {
        client.destroy();
        throw err;
      }
      this.client = client;
      return client;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  async load(user: string): Promise<StoredConversation | undefined> {
    const [meta, list] = this.keys(user);
    const redis = await this.redis();
    const [fields, items] = (await redis.multi().hGetAll(meta).lRange(list, 0, -1).exec()) as unknown as [Record<string, string>, string[]];
    if (!fields?.id) return undefined;
    const exchanges: Exchange[] = [];
    for (const item of items ?? []) {
      try {
        const e = JSON.parse(item) as Exchange;
        if (typeof e.user === 'string' && typeof e.assistant === 'string') exchanges.push(e);
      } catch {
        // An entry another program wrote is skipped, not fatal.
      }
    }
    return { id: fields.id, turns: Number(fields.turns) || 0, exchanges };
  }

  async append(user: string, conversation: { id: string; turns: number }, exchange: Exchange, maxExchanges: number): Promise<void> {
    const redis = await this.redis();
    await redis.eval(APPEND, {
      keys: this.keys(user),
      arguments: [conversation.id, String(conversation.turns), JSON.stringify(exchange), String(maxExchanges)],
    });
  }

  async clear(user: string): Promise<void> {
    const redis = await this.redis();
    await redis.del(this.keys(user));
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client?.isOpen) await client.close().catch(() => client.destroy());
  }
}
