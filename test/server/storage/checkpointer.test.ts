/*
 * The index's WAL checkpoints (src/server/storage/checkpointer.ts): a worker thread copies the
 * WAL back, and the index's own connection runs the RESTART that lets the WAL start over, never
 * waiting for anyone. Seen from outside through the WAL header's checkpoint sequence number,
 * which goes up by one each time the WAL starts over, and through the process's open
 * descriptors.
 */
import { open as openFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setLogSink } from '../../../src/log.ts';
import { EmbeddedStorage } from '../../../src/server/storage/index.ts';
import { tempDir } from '../../helpers/memento.ts';

let dir: Awaited<ReturnType<typeof tempDir>>;
const opened: EmbeddedStorage[] = [];

async function open(): Promise<EmbeddedStorage> {
  const s = new EmbeddedStorage({ dataDir: dir.path, maxContentBytes: 64 * 1024, reconcileAtStart: false });
  await s.init();
  opened.push(s);
  return s;
}

const indexFile = () => join(dir.path, '.memento-index.sqlite');

/** The WAL header's checkpoint sequence number: SQLite adds one each time the WAL starts over. */
async function walSequence(): Promise<number> {
  const handle = await openFile(indexFile() + '-wal', 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(32), 0, 32, 0);
    expect(bytesRead).toBe(32);
    expect([0x377f0682, 0x377f0683]).toContain(buffer.readUInt32BE(0));
    return buffer.readUInt32BE(12);
  } finally {
    await handle.close();
  }
}

/**
 * `count` stores without a pause, as a busy server gets them: 8 in flight at all times, each
 * next one started as another finishes (the event loop turns in between, as with requests).
 */
async function storeMany(store: EmbeddedStorage, count: number, label: string): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await store.store(`u${i % 2}`, { content: `${label} ${i} `.repeat(30), tags: ['a'] });
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
}

/** This process's open descriptors of the index file itself, and of one removed from that path. */
async function descriptors(): Promise<{ live: number; removed: number }> {
  const out = { live: 0, removed: 0 };
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
    if (target === indexFile()) out.live++;
    else if (target === `${indexFile()} (deleted)`) out.removed++;
  }
  return out;
}

const indexDescriptors = async () => {
  const { live, removed } = await descriptors();
  return live + removed;
};

beforeEach(async () => {
  setLogSink(() => undefined);
  dir = await tempDir('memento-checkpoint-');
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close().catch(() => undefined);
  setLogSink((line) => process.stderr.write(line));
  await dir.cleanup();
});

describe('WAL checkpoints', () => {
  it('start the WAL over while stores keep coming; a reader held open elsewhere blocks no store, and the WAL waits for it instead', async () => {
    const store = await open();
    await storeMany(store, 600, 'first');
    const first = await walSequence();
    await storeMany(store, 600, 'second');
    const second = await walSequence();
    // Several thousand WAL pages: started over at least twice (4 times here; only once, at a lull,
    // when nothing but the thread's PASSIVE checkpoints ran: under steady writes those never
    // find the WAL copied to its end at the moment a write begins).
    expect(second).toBeGreaterThanOrEqual(first + 2);

    // Another connection (another process, say) holds a read transaction open: the WAL cannot
    // start over under it. Every store still completes, and the WAL does not start over.
    const reader = new DatabaseSync(indexFile(), { readOnly: true });
    try {
      reader.exec('BEGIN');
      const before = (reader.prepare('SELECT count(*) AS n FROM memories').get() as { n: number }).n;
      expect(before).toBe(1200);
      await storeMany(store, 600, 'pinned');
      expect(await walSequence()).toBe(second);
      // Its snapshot is the one it began with.
      expect((reader.prepare('SELECT count(*) AS n FROM memories').get() as { n: number }).n).toBe(1200);
      reader.exec('COMMIT');
    } finally {
      reader.close();
    }
    // The reader gone, the WAL starts over again.
    await storeMany(store, 600, 'released');
    expect(await walSequence()).toBeGreaterThan(second);
    expect((await store.list('u0')).total + (await store.list('u1')).total).toBe(2400);
  });

  it('close() gives back every descriptor of the index file, and only after the last connection of the process to it', async () => {
    const a = await open();
    const b = await open();
    await storeMany(a, 100, 'a');
    await storeMany(b, 100, 'b');
    expect(await indexDescriptors()).toBeGreaterThan(0);
    await a.close();
    // The other connection to the same file goes on working.
    await storeMany(b, 100, 'b again');
    expect((await b.list('u0')).total).toBe(150);
    await b.close();
    expect(await indexDescriptors()).toBe(0);
  });

  it('after an index is rebuilt from corruption, its descriptors are of the new file only, and close() gives them all back', async () => {
    const first = await open();
    await storeMany(first, 100, 'before');
    await first.close();
    await writeFile(indexFile(), Buffer.alloc(8192, 'x'));
    const rebuilt = await open();
    await storeMany(rebuilt, 100, 'after');
    expect((await rebuilt.list('u0')).total).toBeGreaterThanOrEqual(50);
    // The descriptors are of the new file, none of the removed one.
    expect(await descriptors()).toMatchObject({ removed: 0 });
    expect((await descriptors()).live).toBeGreaterThan(0);
    await rebuilt.close();
    expect(await indexDescriptors()).toBe(0);
  });
});
