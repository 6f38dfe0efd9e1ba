/*
 * Which history store the client uses: MEMENTO_HISTORY_URL=redis://… (or rediss://) shares it
 * through Redis; otherwise a file per user under MEMENTO_HISTORY_DIR (default
 * $XDG_STATE_HOME/memento/history); MEMENTO_HISTORY=off keeps it in memory only.
 */
import { ConfigError } from '../errors.ts';
import { defaultHistoryDir, FileHistoryStore } from './file-store.ts';
import { RedisHistoryStore } from './redis-store.ts';
import type { HistoryStore } from './store.ts';

export function historyStoreFromEnv(env: NodeJS.ProcessEnv = process.env): HistoryStore | undefined {
  const url = env.MEMENTO_HISTORY_URL?.trim();
  if (url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError('MEMENTO_HISTORY_URL is not a URL: expected redis://host:6379.');
    }
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
      throw new ConfigError(`MEMENTO_HISTORY_URL must be a redis:// or rediss:// URL, got ${parsed.protocol}//…`);
    }
    return new RedisHistoryStore(url);
  }
  if (['off', 'none', 'false', '0'].includes((env.MEMENTO_HISTORY ?? '').trim().toLowerCase())) return undefined;
  return new FileHistoryStore(defaultHistoryDir(env));
}
