/**
 * Every SQL statement of the ledger, prepared once per open file (a `prepare` costs about as much
 * as the write itself, and the hooks run once per provider call).
 */
import type Database from 'better-sqlite3';

type S = Database.Statement;

/**
 * What counts against a spending cap, per UTC day and month: submits that may have been paid (cut
 * off on the wire, accepted, done), at the provider's figure once known and the pricing table's
 * until then; results shared from other runs are $0.
 */
export function spentSql(column: 'person' | 'team'): string {
  return `SELECT COALESCE(SUM(CASE WHEN created_at >= @day THEN COALESCE(cost_micros, expected_micros, 0) ELSE 0 END), 0) AS day,
    COALESCE(SUM(COALESCE(cost_micros, expected_micros, 0)), 0) AS month
    FROM tasks WHERE ${column} = @name AND created_at >= @month AND shared = 0 AND state IN ('submitting', 'submitted', 'done')`;
}

export class LedgerStatements {
  readonly startRun: S;
  readonly beat: S;
  readonly release: S;
  readonly finish: S;
  readonly mark: S;
  readonly lease: S;
  readonly money: S;
  readonly fileCount: S;
  readonly legacyImages: S;
  readonly getRun: S;
  readonly listRuns: S;
  readonly allRuns: S;
  readonly latestOf: S;
  readonly tasksOf: S;
  readonly filesOf: S;
  readonly seedsOf: S;
  readonly hashes: S;
  readonly holdsWork: S;
  readonly forget: S[];
  // Task hooks.
  readonly latest: S;
  readonly cached: S;
  readonly inFlightAnywhere: S;
  readonly doneByTask: S;
  readonly submittingElsewhere: S;
  readonly settledElsewhere: S;
  readonly inFlightElsewhere: S;
  readonly insert: S;
  readonly open: S;
  readonly markSubmitted: S;
  readonly byTaskId: S;
  readonly complete: S;
  readonly fail: S;
  readonly supersede: S;
  readonly setError: S;
  readonly dropShared: S;
  readonly seedGet: S;
  readonly capGet: S;
  readonly spentPerson: S;
  readonly spentTeam: S;
  readonly seedPut: S;
  readonly seedCopy: S;
  readonly fileGet: S;
  readonly filePut: S;

  constructor(readonly db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    this.startRun = p(`INSERT INTO runs (run_id, name, pipeline_path, pipeline_json, options_json, started_at, status, lease_pid, lease_host, lease_at, owner, team)
      VALUES (@runId, @name, @path, @pipeline, @options, @at, 'running', @pid, @host, @at, @owner, @team)
      ON CONFLICT(run_id) DO UPDATE SET status = 'running', finished_at = NULL, lease_pid = excluded.lease_pid, lease_host = excluded.lease_host, lease_at = excluded.lease_at`);
    this.beat = p(`UPDATE runs SET lease_at = ?, lease_pid = ?, lease_host = ? WHERE run_id = ? AND status = 'running'`);
    this.release = p(`UPDATE runs SET lease_pid = NULL, lease_host = NULL, lease_at = NULL WHERE run_id = ?`);
    this.finish = p(`UPDATE runs SET finished_at = ?, status = ?, failures = ? WHERE run_id = ?`);
    this.mark = p(`UPDATE runs SET status = ?, finished_at = ?, lease_pid = NULL, lease_host = NULL, lease_at = NULL WHERE run_id = ? AND status = 'running'`);
    this.lease = p(`SELECT status, lease_pid, lease_host, lease_at FROM runs WHERE run_id = ?`);
    // Cost: tasks this run submitted that were accepted and not known to have failed (providers
    // do not charge failed or moderated tasks). Unconfirmed: submits cut off on the wire.
    this.money = p(`SELECT
        SUM(CASE WHEN shared = 0 AND state IN ('submitted', 'done') THEN COALESCE(cost_micros, 0) ELSE 0 END) AS cost,
        SUM(CASE WHEN shared = 0 AND state IN ('submitted', 'done') AND cost_estimated = 1 THEN 1 ELSE 0 END) AS estimated,
        SUM(CASE WHEN state = 'submitting' THEN COALESCE(expected_micros, 0) ELSE 0 END) AS unconfirmedMicros,
        SUM(CASE WHEN state = 'submitting' THEN 1 ELSE 0 END) AS unconfirmed,
        SUM(CASE WHEN shared = 0 AND (task_id IS NOT NULL OR state = 'submitting') THEN 1 ELSE 0 END) AS calls,
        SUM(shared) AS shared
      FROM tasks WHERE run_id = ?`);
    this.fileCount = p(`SELECT COUNT(*) AS n FROM files WHERE run_id = ?`);
    this.legacyImages = p(`SELECT legacy_images AS n FROM runs WHERE run_id = ?`);
    this.getRun = p(`SELECT * FROM runs WHERE run_id = ?`);
    this.listRuns = p(`SELECT * FROM runs ORDER BY started_at DESC LIMIT ?`);
    this.allRuns = p(`SELECT * FROM runs`);
    this.latestOf = p(`SELECT * FROM runs WHERE run_id != ? AND ((? IS NOT NULL AND pipeline_path = ?) OR (? IS NOT NULL AND name = ?)) ORDER BY started_at DESC LIMIT 1`);
    this.tasksOf = p(`SELECT * FROM tasks WHERE run_id = ? ORDER BY id`);
    this.filesOf = p(`SELECT run_id AS runId, node_id AS nodeId, item, path, image_hash AS imageHash, file_sha256 AS fileSha256 FROM files WHERE run_id = ? ORDER BY node_id, item, created_at`);
    this.seedsOf = p(`SELECT node_id, seed FROM node_seeds WHERE run_id = ?`);
    this.hashes = p(`SELECT DISTINCT run_id, result_hash AS h FROM tasks WHERE result_hash IS NOT NULL`);
    this.holdsWork = p(`SELECT 1 FROM tasks WHERE run_id = ? AND (state IN ('submitting', 'submitted') OR result_hash IS NOT NULL) LIMIT 1`);
    this.forget = ['tasks', 'node_seeds', 'files', 'runs'].map((t) => p(`DELETE FROM ${t} WHERE run_id = ?`));

    this.latest = p(`SELECT * FROM tasks WHERE run_id = ? AND request_hash = ? ORDER BY id DESC LIMIT 1`);
    this.cached = p(`SELECT * FROM tasks WHERE request_hash = ? AND state = 'done' ORDER BY id DESC LIMIT 1`);
    this.inFlightAnywhere = p(`SELECT * FROM tasks WHERE request_hash = ? AND state = 'submitted' ORDER BY id DESC LIMIT 1`);
    this.doneByTask = p(`SELECT * FROM tasks WHERE task_id = ? AND provider = ? AND state = 'done' ORDER BY id DESC LIMIT 1`);
    this.submittingElsewhere = p(`SELECT DISTINCT run_id FROM tasks WHERE request_hash = ? AND run_id != ? AND state = 'submitting'`);
    this.settledElsewhere = p(`SELECT id FROM tasks WHERE request_hash = ? AND run_id != ? AND state IN ('submitted', 'done') LIMIT 1`);
    this.inFlightElsewhere = p(`SELECT id FROM tasks WHERE request_hash = ? AND run_id != ? AND state = 'submitted' LIMIT 1`);
    this.insert = p(`INSERT INTO tasks (run_id, node_id, item, row_n, request_hash, provider, account, model, node_type, node_version, cacheable, request_json, state, task_id, polling_url, task_json,
        cost_micros, cost_estimated, expected_micros, shared, created_at, submitted_at, updated_at, person, team)
      VALUES (@runId, @nodeId, @item, @row, @requestHash, @provider, @account, @model, @nodeType, @nodeVersion, @cacheable, @requestJson, @state, @taskId, @pollingUrl, @taskJson,
        @costMicros, @costEstimated, @expectedMicros, @shared, @at, @submittedAt, @at, @person, @team)`);
    this.capGet = p(`SELECT day_micros AS day, month_micros AS month FROM spend_caps WHERE scope = ? AND name = ?`);
    this.spentPerson = p(spentSql('person'));
    this.spentTeam = p(spentSql('team'));
    this.open = p(`SELECT id FROM tasks WHERE run_id = ? AND request_hash = ? AND state IN ('submitting', 'submitted') ORDER BY id DESC LIMIT 1`);
    this.markSubmitted = p(`UPDATE tasks SET state = 'submitted', task_id = @taskId, polling_url = @pollingUrl, task_json = @taskJson, cost_micros = @costMicros,
      cost_estimated = @costEstimated, submitted_at = @at, updated_at = @at WHERE id = @id`);
    this.byTaskId = p(`SELECT id FROM tasks WHERE run_id = ? AND request_hash = ? AND task_id = ? ORDER BY id DESC LIMIT 1`);
    this.complete = p(`UPDATE tasks SET state = 'done', result_hash = @hash, result_json = @json, cost_micros = @costMicros, cost_estimated = @costEstimated,
      task_json = @taskJson, task_id = @taskId, updated_at = @at WHERE id = @id`);
    this.supersede = p(`UPDATE tasks SET error_code = 'resubmitted', updated_at = ? WHERE run_id = ? AND request_hash = ? AND state = 'submitting' AND error_code IS NULL`);
    this.fail = p(`UPDATE tasks SET state = 'failed', error_code = ?, error_message = ?, updated_at = ? WHERE id = ?`);
    this.setError = p(`UPDATE tasks SET error_code = ?, error_message = ?, result_hash = ?, result_json = ? WHERE id = ?`);
    this.dropShared = p(`DELETE FROM tasks WHERE run_id = ? AND request_hash = ? AND shared = 1 AND state = 'done'`);
    this.seedGet = p(`SELECT seed FROM node_seeds WHERE run_id = ? AND node_id = ?`);
    this.seedPut = p(`INSERT INTO node_seeds (run_id, node_id, seed) VALUES (?, ?, ?)`);
    this.seedCopy = p(`INSERT OR IGNORE INTO node_seeds (run_id, node_id, seed) SELECT ?, node_id, seed FROM node_seeds WHERE run_id = ?`);
    this.fileGet = p(`SELECT path, image_hash AS imageHash, file_sha256 AS fileSha256 FROM files WHERE run_id = ? AND node_id = ? AND item = ? ORDER BY created_at`);
    this.filePut = p(`INSERT OR IGNORE INTO files (run_id, node_id, item, path, image_hash, file_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`);
  }
}
