/*
 * The shared backend: memories, metadata and full-text search in PostgreSQL, so several
 * `memento serve` replicas behind a load balancer serve the same users. Chosen with
 * `--store postgres://…` or MEMENTO_STORE_URL.
 *
 * Driver: `postgres` (porsager/postgres) rather than `pg`: no dependencies of its own (pg
 * brings pg-pool, pg-protocol, pg-types, pgpass …), TypeScript types included, and its tagged
 * templates make every value a bound parameter by construction, so no code path can paste
 * input into SQL. Pooling, transactions and reconnects are built in.
 *
 * Schema: created and migrated by the server at start, under an advisory lock so replicas
 * starting together do not race; `memento_schema.version` records how far it is.
 *
 * Search keeps the embedded backend's rules: words folded in JS exactly as there (so "Réunion"
 * finds "reunion" without the unaccent extension), any query word may match, and from three
 * letters on a word matches the longer words it begins. `search` is a tsvector ('simple'
 * configuration: no stemming, like the embedded index) weighted tags A, file name B,
 * description C, content D, with a GIN index; the query is `websearch_to_tsquery` for words
 * under three letters (whole words only; never a syntax error, whatever the text) OR'd with
 * prefix terms (`meet:*`) built from the validated words, which are letters and digits only.
 * Ranked as the old in-memory index ranked: per query word the weight of the best field it is
 * in (tags 4, name 3, description 2, content 1 — the best rather than the sum, because a name
 * made from the content repeats its words; a prefix-only match 0.6 of it), summed over the
 * words, newer first on ties; every match is scored (the exact top k) and counted. (ts_rank
 * is ~15 % cheaper but, with OR queries and prefixes, does not rank all-words matches first.)
 *
 * Speed (one user with 100,000 memories, two-word queries matching ~10,000): the GIN index
 * finds the matches in a few ms; what costs is visiting each match's row (one pass ranks and
 * counts): counting alone takes ~10 ms for 10,000 matches at best, 25 ms of CPU on a busy
 * machine — the floor for an exact total: the bitmap scan reads every matching page even
 * when all are all-visible (15.18). Scoring adds about half of that again.
 * Measured and left out: RUM (postgresql-15-rum) returns `ORDER BY search <=> q LIMIT k` from
 * the index at a quarter of ts_rank's cost, but for prefix queries its index order does not
 * follow its own distance (top tens differed from the exact ranking in 15 of 60 benchmark
 * queries), and the count it cannot help with is as large; btree_gin (user_id in the GIN
 * index) made the index scan slower for a large user and leaves the row visit as it is.
 *
 * `memento_user_counts` and `memento_tag_counts` (kept by a trigger in the inserting or
 * deleting statement's transaction) give a listing without date bounds its exact total
 * without counting the user's rows.
 */
import postgres from 'postgres';
import {
  ATTR_MEMENTO_CONTENT_SIZE,
  ATTR_MEMENTO_MEMORY_COUNT,
  ATTR_MEMENTO_MEMORY_ID,
  ATTR_MEMENTO_SEARCH_TERMS,
} from '../../telemetry/semconv.ts';
import { log } from '../../log.ts';
import { checkDeleteCall, checkListQuery, checkSearchQuery, checkStoreCall, checkUser, MIN_PREFIX, notFound } from './input.ts';
import { candidateName, idStamp, nameStamp, newId, previewOf, searchableName, slugOf } from './naming.ts';
import { dbSpan, storageSpan } from './spans.ts';
import {
  DEFAULT_SEARCH_LIMIT,
  errorCode,
  MemoryInputError,
  MemoryNotFoundError,
  StorageError,
  type ListQuery,
  type ListResult,
  type Memory,
  type MemorySummary,
  type SearchResult,
  type Storage,
  type StorageHealth,
  type StoreInput,
} from './types.ts';

const MIGRATIONS: string[] = [
  `CREATE TABLE memories (
     user_id text NOT NULL,
     id text NOT NULL,
     file text NOT NULL,
     description text NOT NULL,
     tags text[] NOT NULL,
     tag_keys text[] NOT NULL,
     created text NOT NULL,
     size integer NOT NULL,
     content text NOT NULL,
     preview text NOT NULL,
     truncated boolean NOT NULL,
     search tsvector NOT NULL,
     PRIMARY KEY (user_id, id),
     UNIQUE (user_id, file)
   );
   CREATE INDEX memories_search ON memories USING gin (search);
   CREATE INDEX memories_tags ON memories USING gin (tag_keys);`,
  // 2: each user's number of memories, in all and per tag, kept in the same transaction as
  // every insert and delete, so a listing without date bounds reads its total instead of
  // counting up to 100,000 rows. Rows are locked in one order (the user's, then the tags'
  // sorted) so that concurrent stores and deletes cannot deadlock.
  `CREATE TABLE memento_user_counts (user_id text PRIMARY KEY, n bigint NOT NULL);
   CREATE TABLE memento_tag_counts (user_id text NOT NULL, tag text NOT NULL, n bigint NOT NULL, PRIMARY KEY (user_id, tag));
   CREATE FUNCTION memento_count_memories() RETURNS trigger LANGUAGE plpgsql AS $$
   DECLARE t text;
   BEGIN
     IF TG_OP = 'INSERT' THEN
       INSERT INTO memento_user_counts AS c (user_id, n) VALUES (NEW.user_id, 1)
         ON CONFLICT (user_id) DO UPDATE SET n = c.n + 1;
       FOR t IN SELECT DISTINCT k FROM unnest(NEW.tag_keys) AS k ORDER BY k LOOP
         INSERT INTO memento_tag_counts AS c (user_id, tag, n) VALUES (NEW.user_id, t, 1)
           ON CONFLICT (user_id, tag) DO UPDATE SET n = c.n + 1;
       END LOOP;
       RETURN NEW;
     ELSIF TG_OP = 'DELETE' THEN
       UPDATE memento_user_counts SET n = n - 1 WHERE user_id = OLD.user_id;
       FOR t IN SELECT DISTINCT k FROM unnest(OLD.tag_keys) AS k ORDER BY k LOOP
         UPDATE memento_tag_counts SET n = n - 1 WHERE user_id = OLD.user_id AND tag = t;
       END LOOP;
       RETURN OLD;
     ELSE
       DELETE FROM memento_user_counts;
       DELETE FROM memento_tag_counts;
       RETURN NULL;
     END IF;
   END $$;
   CREATE TRIGGER memories_count AFTER INSERT OR DELETE ON memories
     FOR EACH ROW EXECUTE FUNCTION memento_count_memories();
   CREATE TRIGGER memories_truncate AFTER TRUNCATE ON memories
     FOR EACH STATEMENT EXECUTE FUNCTION memento_count_memories();
   INSERT INTO memento_user_counts (user_id, n) SELECT user_id, count(*) FROM memories GROUP BY user_id;
   INSERT INTO memento_tag_counts (user_id, tag, n)
     SELECT user_id, k, count(*) FROM memories, unnest(tag_keys) AS k GROUP BY user_id, k;`,
];

/** Any number, the same in every replica: the advisory lock that serialises migrations. */
const MIGRATION_LOCK = 0x6d656d0;
const MAX_NAME_ATTEMPTS = 10_000;

const MARKS = /\p{M}+/gu;
/** Text folded the way search folds words (NFKD, no diacritics, lower case). */
function fold(text: string): string {
  return text.normalize('NFKD').replace(MARKS, '').toLowerCase();
}

export interface PostgresOptions {
  url: string;
  maxContentBytes: number;
}

/** Where the store is, for messages: host, port and database, never the user or password. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `PostgreSQL at ${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'PostgreSQL';
  }
}

/** A memories row as queries return it: the summary's columns, plus content or score where selected. */
interface Row extends MemorySummary {
  content?: string;
  rank?: number;
}

const summaryOf = (r: Row): MemorySummary => ({
  id: r.id,
  file: r.file,
  description: r.description,
  tags: r.tags,
  created: r.created,
  size: r.size,
  preview: r.preview,
  truncated: r.truncated,
});

export class PostgresStorage implements Storage {
  readonly backend = 'postgres' as const;
  readonly maxContentBytes: number;
  private readonly sql: postgres.Sql;
  private readonly where: string;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Next suffix to try per name this second, so a burst of same-named stores does not retry from _1 each time. */
  private readonly nextSuffix = new Map<string, number>();
  private closing = false;

  constructor(options: PostgresOptions) {
    this.maxContentBytes = options.maxContentBytes;
    this.where = describeUrl(options.url);
    this.sql = postgres(options.url, {
      max: 10,
      onnotice: () => {},
      // jit off: these are short indexed statements, and JIT compiling one (PostgreSQL does
      // once a plan's cost passes jit_above_cost, as counting a large user's matches can)
      // costs 100 ms or more on its own. Custom plans always: the driver prepares statements,
      // and after five runs PostgreSQL may switch to a generic plan, blind to the values — a
      // tag listing then read all 12,681 of the tag's rows and sorted them (159 ms) instead of
      // walking the primary key back to the newest 51 (3.8 ms). Planning costs well under 1 ms.
      connection: { application_name: 'memento', jit: 'off', plan_cache_mode: 'force_custom_plan' },
      // Errors must not carry values into logs or spans.
      debug: false,
    });
  }

  /** Creates or migrates the schema (once, whichever replica gets the lock first). */
  async init(): Promise<void> {
    try {
      await this.sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
        await tx`CREATE TABLE IF NOT EXISTS memento_schema (version integer NOT NULL)`;
        const [row] = await tx<{ version: number }[]>`SELECT version FROM memento_schema`;
        const from = row?.version ?? 0;
        if (from > MIGRATIONS.length) {
          throw new StorageError(
            `The schema in ${this.where} is version ${from}, newer than this server knows (${MIGRATIONS.length}): upgrade Memento.`,
            'ESCHEMA',
          );
        }
        for (let v = from; v < MIGRATIONS.length; v++) {
          log.info('migrating the PostgreSQL schema', { from: v, to: v + 1 });
          await tx.unsafe(MIGRATIONS[v]!);
        }
        if (row) await tx`UPDATE memento_schema SET version = ${MIGRATIONS.length}`;
        else await tx`INSERT INTO memento_schema (version) VALUES (${MIGRATIONS.length})`;
      });
      // A list or search sends two statements at once: have both connections open before the first call.
      await Promise.all([this.sql`SELECT 1`, this.sql`SELECT 1`]);
    } catch (err) {
      await this.sql.end({ timeout: 1 }).catch(() => {});
      throw this.failure('open the store', err);
    }
  }

  /** A failure as one sentence naming the database (never its password) and what to do. */
  private failure(action: string, err: unknown): Error {
    if (err instanceof StorageError || err instanceof MemoryInputError || err instanceof MemoryNotFoundError) return err;
    const code = errorCode(err) ?? 'EIO';
    const reason =
      code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === 'CONNECT_TIMEOUT'
        ? `${this.where} does not answer (${code}): start it, or correct --store (MEMENTO_STORE_URL)`
      : code === '28P01' || code === '28000' ? `${this.where} refused the login: check the user and password in --store (MEMENTO_STORE_URL)`
      : code === '3D000' ? `the database in --store does not exist in ${this.where}: create it`
      : code === '53100' ? `${this.where} has no disk space left: free some there`
      : code === '25006' ? `${this.where} is read-only (a standby?): point --store at the primary`
      : `${this.where} failed (${code})`;
    return new StorageError(`Could not ${action}: ${reason}.`, code);
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    const done = () => this.inFlight.delete(work);
    work.then(done, done);
    return work;
  }

  private async guarded<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.failure(action, err);
    }
  }

  store(user: string, input: StoreInput): Promise<MemorySummary> {
    const checked = checkStoreCall(user, input, this.maxContentBytes);
    if ('error' in checked) return Promise.reject(checked.error);
    const { valid } = checked;
    return this.track(
      storageSpan('write', {}, (span) =>
        this.guarded('store the memory', async () => {
          if (this.closing) throw new StorageError('Could not store the memory: the server is shutting down.', 'ESHUTDOWN');
          const createdMs = Date.now();
          const id = newId(createdMs);
          const base = valid.base ?? slugOf(valid.description || valid.content);
          const created = new Date(createdMs).toISOString();
          const { preview, truncated } = previewOf(valid.content);
          const tagKeys = [...new Set(valid.tags.map((t) => t.toLowerCase()))];
          const key = `${user}/${nameStamp(createdMs)}/${base}${valid.ext}`;
          if (this.nextSuffix.size > 10_000) this.nextSuffix.clear();
          for (let n = this.nextSuffix.get(key) ?? 1, attempts = 0; attempts < MAX_NAME_ATTEMPTS; n++, attempts++) {
            this.nextSuffix.set(key, n + 1);
            const file = candidateName(createdMs, base, valid.ext, n);
            const inserted = await dbSpan('postgresql', 'INSERT', 'memories', () => this.sql`
              INSERT INTO memories (user_id, id, file, description, tags, tag_keys, created, size, content, preview, truncated, search)
              VALUES (${user}, ${id}, ${file}, ${valid.description}, ${valid.tags}, ${tagKeys}, ${created}, ${valid.size},
                      ${valid.content}, ${preview}, ${truncated},
                      setweight(to_tsvector('simple', ${fold(valid.tags.join(' '))}), 'A') ||
                      setweight(to_tsvector('simple', ${fold(searchableName(file))}), 'B') ||
                      setweight(to_tsvector('simple', ${fold(valid.description)}), 'C') ||
                      setweight(to_tsvector('simple', ${fold(valid.content)}), 'D'))
              ON CONFLICT (user_id, file) DO NOTHING
              RETURNING id`);
            if (inserted.length === 0) continue;
            span.setAttributes({ [ATTR_MEMENTO_MEMORY_ID]: id, [ATTR_MEMENTO_CONTENT_SIZE]: valid.size });
            return { id, file, description: valid.description, tags: valid.tags, created, size: valid.size, preview, truncated };
          }
          throw new StorageError('Could not store the memory: every candidate file name is taken; choose another filename.', 'EEXIST');
        }),
      ),
    );
  }

  async get(user: string, idOrFile: string): Promise<Memory> {
    checkUser(user);
    if (typeof idOrFile !== 'string' || idOrFile.length === 0 || idOrFile.length > 255) throw notFound(idOrFile);
    return this.guarded('read the memory', () =>
      storageSpan('read', {}, async (span) => {
        const [row] = await dbSpan('postgresql', 'SELECT', 'memories', () => this.sql<Row[]>`
          SELECT id, file, description, tags, created, size, content FROM memories
          WHERE user_id = ${user} AND (id = ${idOrFile} OR file = ${idOrFile}) ORDER BY (id = ${idOrFile}) DESC LIMIT 1`);
        if (!row) throw notFound(idOrFile);
        span.setAttributes({ [ATTR_MEMENTO_MEMORY_ID]: row.id, [ATTR_MEMENTO_CONTENT_SIZE]: row.size });
        return { id: row.id, file: row.file, description: row.description, tags: row.tags, created: row.created, size: row.size, content: row.content! };
      }),
    );
  }

  async list(user: string, query: ListQuery = {}): Promise<ListResult> {
    checkUser(user);
    const f = checkListQuery(query, idStamp);
    const from = f.fromId ?? '';
    const to = f.toId ?? '~';
    const before = f.beforeId !== undefined && f.beforeId < to ? f.beforeId : to;
    return this.guarded('list the memories', () =>
      storageSpan('list', {}, async (span) => {
        const tagFilter = f.tag === undefined ? this.sql`` : this.sql`AND tag_keys @> ${[f.tag]}::text[]`;
        // Without date bounds the total is kept (memento_user_counts, memento_tag_counts).
        const unbounded = f.fromId === undefined && f.toId === undefined;
        const [rows, [count]] = await Promise.all([
          dbSpan('postgresql', 'SELECT', 'memories', () => this.sql<Row[]>`
            SELECT id, file, description, tags, created, size, preview, truncated FROM memories
            WHERE user_id = ${user} AND id >= ${from} AND id < ${before} ${tagFilter}
            ORDER BY id DESC LIMIT ${f.limit + 1}`),
          unbounded && f.tag === undefined
            ? dbSpan('postgresql', 'SELECT', 'memento_user_counts', () => this.sql<{ n: number }[]>`
                SELECT coalesce((SELECT n::int FROM memento_user_counts WHERE user_id = ${user}), 0) AS n`)
          : unbounded
            ? dbSpan('postgresql', 'SELECT', 'memento_tag_counts', () => this.sql<{ n: number }[]>`
                SELECT coalesce((SELECT n::int FROM memento_tag_counts WHERE user_id = ${user} AND tag = ${f.tag!}), 0) AS n`)
            : dbSpan('postgresql', 'SELECT', 'memories', () => this.sql<{ n: number }[]>`
                SELECT count(*)::int AS n FROM memories WHERE user_id = ${user} AND id >= ${from} AND id < ${to} ${tagFilter}`),
        ]);
        const more = rows.length > f.limit;
        const memories = rows.slice(0, f.limit).map(summaryOf);
        span.setAttribute(ATTR_MEMENTO_MEMORY_COUNT, memories.length);
        return { memories, total: count!.n, nextCursor: more ? memories[memories.length - 1]!.id : null };
      }),
    );
  }

  async search(user: string, query: string, limit = DEFAULT_SEARCH_LIMIT): Promise<SearchResult> {
    const terms = checkSearchQuery(query);
    checkUser(user);
    // Each word once: short ones whole, the rest as prefixes (which match the whole word too).
    const whole = terms.filter((t) => t.length < MIN_PREFIX).join(' or ');
    const prefixes = terms.filter((t) => t.length >= MIN_PREFIX).map((t) => `${t}:*`).join(' | ');
    return this.guarded('search the memories', () =>
      storageSpan('search', { [ATTR_MEMENTO_SEARCH_TERMS]: terms.length }, async (span) => {
        const q =
          prefixes && whole ? this.sql`(websearch_to_tsquery('simple', ${whole}) || to_tsquery('simple', ${prefixes}))`
          : prefixes ? this.sql`to_tsquery('simple', ${prefixes})`
          : this.sql`websearch_to_tsquery('simple', ${whole})`;
        // Each query once per statement (an InitPlan), not parsed again for every matching row.
        const once = (text: string) => this.sql`(SELECT to_tsquery('simple', ${text}))`;
        const tsq = this.sql`(SELECT ${q})`;
        // Per word, the weight of the best field it is in (tags 4, name 3, description 2,
        // content 1; a prefix-only match counts 0.6 of that); the words' weights add up.
        const score = terms
          .map((t) => {
            const form = t.length >= MIN_PREFIX ? `${t}:*` : `${t}:`;
            const exact = (w: string) => once(`${t}:${w}`);
            const any = (w: string) => once(`${form}${w}`);
            // Most matches have the word in the content only: one test rules out the three
            // other fields before the field-by-field chain (12 % less database CPU a search).
            return this.sql`(CASE WHEN search @@ ${any('ABC')} THEN
                (CASE WHEN search @@ ${exact('A')} THEN 4 WHEN search @@ ${any('A')} THEN 2.4
                 WHEN search @@ ${exact('B')} THEN 3 WHEN search @@ ${any('B')} THEN 1.8
                 WHEN search @@ ${exact('C')} THEN 2 ELSE 1.2 END)
              WHEN search @@ ${exact('D')} THEN 1 WHEN search @@ ${any('D')} THEN 0.6 ELSE 0 END)`;
          })
          .reduce((sum, term) => this.sql`${sum} + ${term}`);
        // One pass over the matches ranks and counts them all (exact), carrying only (row
        // address, id, rank) through the window and the sort; the shown columns are read for
        // the few rows kept. (Ranking and counting as two statements at once visited every
        // match twice: a third more database CPU, and slower on a busy machine.)
        const rows = await dbSpan('postgresql', 'SELECT', 'memories', () => this.sql<(Row & { total: number })[]>`
          SELECT m.id, m.file, m.description, m.tags, m.created, m.size, m.preview, m.truncated, top.rank, top.total
          FROM (
            SELECT address, id, rank, (count(*) OVER ())::int AS total
            FROM (
              SELECT ctid AS address, id, ${score} AS rank
              FROM memories WHERE user_id = ${user} AND search @@ ${tsq}
              OFFSET 0 -- rank below the window, so the window does not carry each match's tsvector
            ) AS matches
            ORDER BY rank DESC, id DESC LIMIT ${limit}
          ) AS top JOIN memories m ON m.ctid = top.address
          ORDER BY top.rank DESC, top.id DESC`);
        const memories = rows.map((r) => ({ ...summaryOf(r), score: Number(Number(r.rank).toPrecision(6)) }));
        span.setAttribute(ATTR_MEMENTO_MEMORY_COUNT, memories.length);
        return { memories, total: rows[0]?.total ?? 0 };
      }),
    );
  }

  delete(user: string, idOrFile: string): Promise<MemorySummary> {
    const mistake = checkDeleteCall(user, idOrFile);
    if (mistake) return Promise.reject(mistake.error);
    return this.track(
      this.guarded('delete the memory', () =>
        storageSpan('delete', {}, async (span) => {
          // One statement: of two concurrent deletes exactly one gets the row back.
          const [row] = await dbSpan('postgresql', 'DELETE', 'memories', () => this.sql<Row[]>`
            DELETE FROM memories WHERE ctid = (
              SELECT ctid FROM memories WHERE user_id = ${user} AND (id = ${idOrFile} OR file = ${idOrFile})
              ORDER BY (id = ${idOrFile}) DESC LIMIT 1)
            RETURNING id, file, description, tags, created, size, preview, truncated`);
          if (!row) throw notFound(idOrFile);
          span.setAttribute(ATTR_MEMENTO_MEMORY_ID, row.id);
          return summaryOf(row);
        }),
      ),
    );
  }

  async health(): Promise<StorageHealth> {
    try {
      const [row] = await dbSpan('postgresql', 'SELECT', 'settings', () =>
        this.sql<{ ro: string }[]>`SELECT current_setting('transaction_read_only') AS ro`,
      );
      if (row?.ro === 'on') {
        return { status: 'degraded', backend: this.backend, problem: `${this.where} is read-only (a standby?): point --store at the primary.` };
      }
      return { status: 'ok', backend: this.backend };
    } catch (err) {
      return { status: 'degraded', backend: this.backend, problem: this.failure('reach the store', err).message };
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.sql.end({ timeout: 5 });
  }
}

export async function openPostgresStorage(options: PostgresOptions): Promise<Storage> {
  const storage = new PostgresStorage(options);
  await storage.init();
  return storage;
}
