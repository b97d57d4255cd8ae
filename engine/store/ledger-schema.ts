/**
 * The ledger's tables and how a file from an earlier fluxgraph is brought up to date. The
 * version lives in SQLite's `PRAGMA user_version`: 0 is the unversioned layout of the first
 * releases (REAL dollar columns, no leases, no file records). A file from a newer fluxgraph is
 * refused, never half-understood.
 */
import type Database from 'better-sqlite3';
import { EngineError } from '../core/errors';

export const LEDGER_VERSION = 4;

/**
 * URLs at which a provider can fetch an image (engine/store/reference-urls.ts): its own result
 * URL, a kie.ai upload, a bucket object; several per image hash, each with its expiry and route.
 */
const REFERENCE_URLS = `
CREATE TABLE IF NOT EXISTS reference_urls (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  hash TEXT NOT NULL,
  provider TEXT NOT NULL,
  url TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  route TEXT NOT NULL,
  session TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reference_urls_by_hash ON reference_urls (hash, expires_at);
`;

/**
 * Version 4: account slots shared by the processes on this machine (a row per active task, held
 * by a pid with a heartbeat), access tokens (hashed), spending caps, and who a run and its tasks
 * belong to.
 */
const ACCESS_TABLES = `
CREATE TABLE IF NOT EXISTS slot_leases (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  lane TEXT NOT NULL,
  holder_pid INTEGER NOT NULL,
  holder_host TEXT NOT NULL,
  beat_at INTEGER NOT NULL,
  acquired_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS slot_leases_by_lane ON slot_leases (lane);
CREATE TABLE IF NOT EXISTS slot_waits (
  lane TEXT NOT NULL,
  holder_pid INTEGER NOT NULL,
  holder_host TEXT NOT NULL,
  since INTEGER NOT NULL,
  beat_at INTEGER NOT NULL,
  PRIMARY KEY (lane, holder_pid, holder_host)
);
CREATE TABLE IF NOT EXISTS access_tokens (
  id TEXT PRIMARY KEY,
  person TEXT NOT NULL,
  team TEXT,
  admin INTEGER NOT NULL DEFAULT 0,
  token_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  last_used_at INTEGER
);
CREATE TABLE IF NOT EXISTS spend_caps (
  scope TEXT NOT NULL,
  name TEXT NOT NULL,
  day_micros INTEGER,
  month_micros INTEGER,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (scope, name)
);
`;

/** The current layout, for a new file (and the tables a migration adds). */
const TABLES = `
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  name TEXT,
  pipeline_path TEXT,
  pipeline_json TEXT NOT NULL,
  options_json TEXT NOT NULL DEFAULT '{}',
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  status TEXT NOT NULL DEFAULT 'running',
  failures INTEGER NOT NULL DEFAULT 0,
  legacy_images INTEGER NOT NULL DEFAULT 0,
  lease_pid INTEGER,
  lease_host TEXT,
  lease_at INTEGER,
  owner TEXT,
  team TEXT
);
CREATE TABLE IF NOT EXISTS node_seeds (
  run_id TEXT NOT NULL,
  node_id TEXT NOT NULL,
  seed INTEGER NOT NULL,
  PRIMARY KEY (run_id, node_id)
);
CREATE TABLE IF NOT EXISTS tasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
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
  cacheable INTEGER NOT NULL,
  request_json TEXT NOT NULL,
  state TEXT NOT NULL,
  task_id TEXT,
  polling_url TEXT,
  task_json TEXT,
  result_hash TEXT,
  result_json TEXT,
  cost_micros INTEGER,
  cost_estimated INTEGER NOT NULL DEFAULT 0,
  expected_micros INTEGER,
  shared INTEGER NOT NULL DEFAULT 0,
  error_code TEXT,
  error_message TEXT,
  created_at INTEGER NOT NULL,
  submitted_at INTEGER,
  updated_at INTEGER NOT NULL,
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
  created_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, node_id, item, path)
);
${REFERENCE_URLS}${ACCESS_TABLES}`;

/** Steps from version N-1 to N, each run in one transaction with the version bump. */
const MIGRATIONS: Record<number, (db: Database.Database) => void> = {
  1: (db) => {
    // Dollars become integer micro-dollars; leases, shared results and file records arrive.
    db.exec(`
      ALTER TABLE tasks ADD COLUMN account TEXT;
      ALTER TABLE tasks ADD COLUMN cost_micros INTEGER;
      ALTER TABLE tasks ADD COLUMN cost_estimated INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tasks ADD COLUMN expected_micros INTEGER;
      ALTER TABLE tasks ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tasks ADD COLUMN submitted_at INTEGER;
      UPDATE tasks SET cost_micros = CAST(ROUND(cost_usd * 1000000) AS INTEGER) WHERE cost_usd IS NOT NULL;
      UPDATE tasks SET cost_estimated = 1 WHERE result_json LIKE '%"costEstimated":true%';
      UPDATE tasks SET submitted_at = created_at WHERE task_id IS NOT NULL;
      ALTER TABLE tasks DROP COLUMN cost_usd;
      ALTER TABLE runs ADD COLUMN lease_pid INTEGER;
      ALTER TABLE runs ADD COLUMN lease_host TEXT;
      ALTER TABLE runs ADD COLUMN lease_at INTEGER;
      ALTER TABLE runs RENAME COLUMN images TO legacy_images;
      ALTER TABLE runs DROP COLUMN cost_usd;
    `);
    // A result the old ledger recorded under a second run (re-attached, "at no cost") was shared.
    db.exec(`UPDATE tasks SET shared = 1 WHERE cost_micros = 0 AND state = 'done' AND task_id IS NOT NULL
      AND EXISTS (SELECT 1 FROM tasks o WHERE o.task_id = tasks.task_id AND o.provider = tasks.provider AND o.id < tasks.id)`);
  },
  2: (db) => {
    // Batches: the row (from 1) a task was made for; null outside a batch.
    db.exec(`ALTER TABLE tasks ADD COLUMN row_n INTEGER`);
  },
  3: (db) => {
    // Reference URLs (issue 10). Version 2 files may have the table already: fluxgraph created it
    // on first use before it was a step, with this very layout, so its rows are kept.
    db.exec(REFERENCE_URLS);
  },
  4: (db) => {
    // Team access: owners of runs, the person and team a task's money counts for (the new tables come with TABLES).
    for (const [table, column] of [
      ['runs', 'owner'],
      ['runs', 'team'],
      ['tasks', 'person'],
      ['tasks', 'team'],
    ]) {
      const has = (db.prepare(`SELECT 1 FROM pragma_table_info(?) WHERE name = ?`).get(table, column) as unknown) !== undefined;
      if (!has) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} TEXT`);
    }
  },
};

/** Brings the file at `path` to {@link LEDGER_VERSION}, or refuses one written by a newer fluxgraph. */
export function prepareSchema(db: Database.Database, path: string): void {
  const read = () => db.pragma('user_version', { simple: true }) as number;
  const refuseNewer = (version: number) => {
    if (version <= LEDGER_VERSION) return;
    throw new EngineError(
      'usage',
      `the ledger ${path} was written by a newer fluxgraph (ledger version ${version}; this fluxgraph reads up to ${LEDGER_VERSION}). Upgrade fluxgraph, or point --cache-dir (FLUXGRAPH_CACHE_DIR) at another folder; the file was not changed`,
      { version, supported: LEDGER_VERSION },
    );
  };
  refuseNewer(read());
  if (read() === LEDGER_VERSION) return void db.exec(TABLES);
  // Under the write lock, read again: another process may have migrated the file meanwhile.
  db.transaction(() => {
    const version = read();
    refuseNewer(version);
    if (version === LEDGER_VERSION) return;
    const hasRuns = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'`).get() !== undefined;
    if (hasRuns) for (let v = version + 1; v <= LEDGER_VERSION; v++) MIGRATIONS[v](db);
    db.exec(TABLES);
    db.pragma(`user_version = ${LEDGER_VERSION}`);
  }).immediate();
}
