/*
 * The backends the contract suite runs against, each opened fresh per test: the embedded one
 * on a temp directory, PostgreSQL on a new database of a real server the suite starts
 * (test/helpers/postgres.ts).
 */
import type { Storage } from '../../../src/server/storage/index.ts';
import { EmbeddedStorage, openStorage } from '../../../src/server/storage/index.ts';
import { tempDir } from '../../helpers/memento.ts';
import { startPostgres, type RunningPostgres } from '../../helpers/postgres.ts';

export interface BackendUnderTest {
  name: 'embedded' | 'postgres';
  /** A new, empty store. */
  open(options?: { maxContentBytes?: number }): Promise<Storage>;
  /** A second handle on the same data (another process would see the same). */
  reopen(): Promise<Storage>;
  /** `memento serve` arguments that serve this store. */
  serveArgs(): string[];
  cleanup(): Promise<void>;
  /** Once before the suite (start a server). */
  setup?(): Promise<void>;
  /** Once after the suite (stop it). */
  shutdown?(): Promise<void>;
}

export function embeddedBackend(): BackendUnderTest {
  let dir: Awaited<ReturnType<typeof tempDir>> | undefined;
  const opened: Storage[] = [];
  const start = async (maxContentBytes?: number) => {
    const s = new EmbeddedStorage({ dataDir: dir!.path, maxContentBytes });
    await s.init();
    opened.push(s);
    return s;
  };
  return {
    name: 'embedded',
    async open(options = {}) {
      dir = await tempDir('memento-contract-');
      return start(options.maxContentBytes);
    },
    reopen: () => start(),
    serveArgs: () => ['--data-dir', dir!.path],
    async cleanup() {
      await Promise.all(opened.splice(0).map((s) => s.close()));
      await dir?.cleanup();
      dir = undefined;
    },
  };
}


/** PostgreSQL: one real server for the suite, a new database per test. */
export function postgresBackend(): BackendUnderTest {
  let server: RunningPostgres | undefined;
  let url = '';
  let n = 0;
  const opened: Storage[] = [];
  const start = async (maxContentBytes?: number) => {
    const s = await openStorage({ dataDir: '/nonexistent', storeUrl: url, maxContentBytes });
    opened.push(s);
    return s;
  };
  return {
    name: 'postgres',
    async setup() {
      server = await startPostgres();
    },
    async shutdown() {
      await server?.stop();
    },
    async open(options = {}) {
      url = await server!.createDatabase(`contract_${process.pid}_${++n}`);
      return start(options.maxContentBytes);
    },
    reopen: () => start(),
    serveArgs: () => ['--store', url],
    async cleanup() {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    },
  };
}
