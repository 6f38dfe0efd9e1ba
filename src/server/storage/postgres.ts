/* Placeholder replaced below. */
import type { Storage } from './types.ts';
export async function openPostgresStorage(_o: { url: string; maxContentBytes: number }): Promise<Storage> {
  throw new Error('PostgreSQL storage is not available yet.');
}
