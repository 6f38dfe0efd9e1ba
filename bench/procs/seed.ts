/*
 * Fills users' stores through Memento's own store API (the same writes a store_memory call
 * makes, without MCP around them), so the scale benchmarks start from 1k–100k real memories
 * in seconds rather than minutes. Run as a separate process: the server that is measured
 * afterwards loads the directory from disk like any restarted server.
 */
import { openStorage } from '../../src/server/index.ts';
import { memoryText } from '../lib/corpus.ts';
import { sendEvent, serveParent } from '../lib/child.ts';

const CONCURRENCY = 64;

async function seed(args: { dataDir: string; storeUrl?: string; users: { user: string; count: number; seed?: number }[] }) {
  const store = await openStorage({ dataDir: args.dataDir, storeUrl: args.storeUrl });
  const started = performance.now();
  let total = 0;
  for (const { user, count, seed } of args.users) {
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        const m = memoryText(i, seed ?? 1);
        await store.store(user, { content: m.content, description: m.description, tags: m.tags });
        // Progress for the coordinator: a million takes minutes.
        if ((i + 1) % 50_000 === 0) sendEvent({ user, done: i + 1, of: count });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    total += count;
  }
  await store.close();
  return { memories: total, seconds: (performance.now() - started) / 1000 };
}

serveParent({ seed }, { pid: process.pid });
