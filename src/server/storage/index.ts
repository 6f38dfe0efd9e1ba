/*
 * Storage for the MCP server: pick a backend from the settings. Embedded files + SQLite index
 * by default; PostgreSQL when a `postgres://` store URL is given (replicated servers).
 */
import { EmbeddedStorage } from './embedded.ts';
import { DEFAULT_MAX_CONTENT_BYTES, type Storage } from './types.ts';

export * from './types.ts';
export { EmbeddedStorage } from './embedded.ts';
export { FILE_RULES, USER_RULES, normalizeTags, parseBound, tokenize } from './input.ts';

export interface StorageOptions {
  /** The embedded backend's data directory. */
  dataDir: string;
  /** `postgres://…` (or `postgresql://…`): the shared backend instead of the data directory. */
  storeUrl?: string | undefined;
  maxContentBytes?: number | undefined;
}

/** Opens the configured backend, ready to serve (schema created, directory made). */
export async function openStorage(options: StorageOptions): Promise<Storage> {
  const maxContentBytes = options.maxContentBytes ?? DEFAULT_MAX_CONTENT_BYTES;
  if (options.storeUrl) {
    const { openPostgresStorage } = await import('./postgres.ts');
    return openPostgresStorage({ url: options.storeUrl, maxContentBytes });
  }
  const storage = new EmbeddedStorage({ dataDir: options.dataDir, maxContentBytes });
  await storage.init();
  return storage;
}
