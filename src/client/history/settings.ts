/*
 * Which history store the client uses (src/config.ts has the settings): MEMENTO_HISTORY_URL
 * (redis:// or rediss://) shares it through Redis; otherwise a file per user under
 * MEMENTO_HISTORY_DIR; MEMENTO_HISTORY=off keeps it in memory only.
 */
import { setting, SETTINGS } from '../../config.ts';
import { FileHistoryStore } from './file-store.ts';
import { RedisHistoryStore } from './redis-store.ts';
import type { HistoryStore } from './store.ts';

export function historyStoreFromEnv(env: NodeJS.ProcessEnv = process.env): HistoryStore | undefined {
  const url = setting(SETTINGS.historyUrl, env);
  if (url) return new RedisHistoryStore(url);
  if (!setting(SETTINGS.history, env)) return undefined;
  return new FileHistoryStore(setting(SETTINGS.historyDir, env));
}
