/**
 * The Postgres ledger's tables, in step with the SQLite ledger's (ledger-schema.ts): the same
 * columns and the same version numbers, so a step added to one is added to the other. The version
 * lives in `fluxgraph_schema`; the first team-mode layout (dollar floats, no leases, no file
 * records, no `fluxgraph_schema`) is version 0. A database written by a newer fluxgraph is refused.
 */
import type pg from 'pg';
import { EngineError } from '../core/errors';
import { LEDGER_VERSION } from './ledger-schema';
import { PG_ACCESS_TABLES } from './pg-access';

/** Epoch milliseconds on the database's clock: leases are compared on one clock, whatever each machine's says. */
export const NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

const TABLES = `
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  name TEXT,
  pipeline_path TEXT,
  pipeline_json TEXT NOT NULL,
  options_json TEXT NOT NULL DEFAULT '{}',
  started_at BIGINT NOT NULL,
  finished_at BIGINT,
  status TEXT NOT NULL DEFAULT 'running',
  failures INTEGER NOT NULL DEFAULT 0,
  legacy_images INTEGER NOT NULL DEFAULT 0,
  lease_pid INTEGER,
  lease_host TEXT,
  lease_at BIGINT,
  owner TEXT,
  team TEXT
);
CREATE TABLE IF NOT EXISTS node_seeds (
  run_id TEXT NOT NULL,
  node_id TEXT NOT NULL,
  seed BIGINT NOT NULL,
  PRIMARY KEY (run_id, node_id)
);
CREATE TABLE IF NOT EXISTS tasks (
  id BIGSERIAL PRIMARY KEY,
  run_id TEXT NOT NULL,
  node_id TEXT NOT NULL,
  item INTEGER NOT NULL,
  row_n INTEGER,
  request_hash TEXT NOT NULL,
  provider TEXT NOT NULL,
  account TEXT,
  model TEXT NOT NULL,
  node_type TEXT NOT NULL,
  node_version INTEGER NOT NULL,
  cacheable BOOLEAN NOT NULL,
  request_json TEXT NOT NULL,
  state TEXT NOT NULL,
  task_id TEXT,
  polling_url TEXT,
  task_json TEXT,
  result_hash TEXT,
  result_json TEXT,
  cost_micros BIGINT,
  cost_estimated BOOLEAN NOT NULL DEFAULT false,
  expected_micros BIGINT,
  shared BOOLEAN NOT NULL DEFAULT false,
  error_code TEXT,
  error_message TEXT,
  created_at BIGINT NOT NULL,
  submitted_at BIGINT,
  updated_at BIGINT NOT NULL,
  person TEXT,
  team TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_request ON tasks (request_hash, state);
CREATE INDEX IF NOT EXISTS tasks_by_run ON tasks (run_id, request_hash);
CREATE INDEX IF NOT EXISTS tasks_by_task ON tasks (task_id, provider);
CREATE INDEX IF NOT EXISTS tasks_by_person ON tasks (person, created_at);
CREATE INDEX IF NOT EXISTS tasks_by_team ON tasks (team, created_at);
CREATE TABLE IF NOT EXISTS files (
  run_id TEXT NOT NULL,
  node_id TEXT NOT NULL,
  item INTEGER NOT NULL,
  path TEXT NOT NULL,
  image_hash TEXT NOT NULL,
  file_sha256 TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (run_id, node_id, item, path)
);
${PG_ACCESS_TABLES}`;

/** URLs at which a provider can fetch an image (the SQLite ledger's step 3; the same layout). */
const REFERENCE_URLS = `
CREATE TABLE IF NOT EXISTS reference_urls (
  id BIGSERIAL PRIMARY KEY,
  hash TEXT NOT NULL,
  provider TEXT NOT NULL,
  url TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  route TEXT NOT NULL,
  session TEXT,
  created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS reference_urls_by_hash ON reference_urls (hash, expires_at);
`;

type Query = (sql: string) => Promise<unknown>;

/** Steps from version N-1 to N (the same numbers as the SQLite ledger's), each inside the creator's transaction. */
const MIGRATIONS: Record<number, (q: Query) => Promise<void>> = {
  1: async (q) => {
    await q(`
      ALTER TABLE tasks ADD COLUMN IF NOT EXISTS cost_micros BIGINT;
      ALTER TABLE tasks ADD COLUMN IF NOT EXISTS cost_estimated BOOLEAN NOT NULL DEFAULT false;
      ALTER TABLE tasks ADD COLUMN IF NOT EXISTS expected_micros BIGINT;
      ALTER TABLE tasks ADD COLUMN IF NOT EXISTS shared BOOLEAN NOT NULL DEFAULT false;
      ALTER TABLE tasks ADD COLUMN IF NOT EXISTS submitted_at BIGINT;
      UPDATE tasks SET cost_micros = ROUND(cost_usd * 1000000)::bigint WHERE cost_usd IS NOT NULL;
      UPDATE tasks SET submitted_at = created_at WHERE task_id IS NOT NULL;
      UPDATE tasks SET shared = true WHERE cost_micros = 0 AND state = 'done' AND task_id IS NOT NULL
        AND EXISTS (SELECT 1 FROM tasks o WHERE o.task_id = tasks.task_id AND o.provider = tasks.provider AND o.id < tasks.id);
      ALTER TABLE tasks DROP COLUMN IF EXISTS cost_usd;
      ALTER TABLE runs ADD COLUMN IF NOT EXISTS lease_pid INTEGER;
      ALTER TABLE runs ADD COLUMN IF NOT EXISTS lease_host TEXT;
      ALTER TABLE runs ADD COLUMN IF NOT EXISTS lease_at BIGINT;
      ALTER TABLE runs RENAME COLUMN images TO legacy_images;
      ALTER TABLE runs DROP COLUMN IF EXISTS cost_usd;
    `);
  },
  2: async (q) => {
    await q(`ALTER TABLE tasks ADD COLUMN IF NOT EXISTS row_n INTEGER`);
  },
  3: async (q) => {
    await q(REFERENCE_URLS);
  },
  4: async (q) => {
    // Team access: owners of runs and the person and team a task's money counts for (the tables come with TABLES).
    await q(`
      ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner TEXT;
      ALTER TABLE runs ADD COLUMN IF NOT EXISTS team TEXT;
      ALTER TABLE tasks ADD COLUMN IF NOT EXISTS person TEXT;
      ALTER TABLE tasks ADD COLUMN IF NOT EXISTS team TEXT;
    `);
  },
};

/** Brings the database to {@link LEDGER_VERSION} under an advisory lock (workers starting together), or refuses a newer one. */
export async function preparePgSchema(client: pg.PoolClient, shown: string): Promise<void> {
  const q: Query = (sql) => client.query(sql);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(7411)');
    await q(`CREATE TABLE IF NOT EXISTS fluxgraph_schema (version INTEGER NOT NULL)`);
    const got = await client.query(`SELECT version FROM fluxgraph_schema LIMIT 1`);
    const hasRuns = (await client.query(`SELECT to_regclass('runs') IS NOT NULL AS t`)).rows[0].t === true;
    let version: number = got.rows.length ? Number(got.rows[0].version) : hasRuns ? 0 : LEDGER_VERSION;
    if (version > LEDGER_VERSION) {
      throw new EngineError(
        'usage',
        `the Postgres ledger at ${shown} was written by a newer fluxgraph (ledger version ${version}; this fluxgraph reads up to ${LEDGER_VERSION}): upgrade fluxgraph on this machine; nothing was changed`,
        { version, supported: LEDGER_VERSION },
      );
    }
    while (version < LEDGER_VERSION) {
      const step = MIGRATIONS[++version];
      // A step added to the SQLite ledger needs its twin here (the contract suite runs both).
      if (!step) throw new EngineError('internal', `the Postgres ledger has no schema step ${version} (the SQLite ledger's step ${version} needs its Postgres twin in engine/store/pg-schema.ts)`);
      await step(q);
    }
    await q(TABLES);
    await q(REFERENCE_URLS);
    await client.query(`DELETE FROM fluxgraph_schema`);
    await client.query(`INSERT INTO fluxgraph_schema (version) VALUES ($1)`, [LEDGER_VERSION]);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
