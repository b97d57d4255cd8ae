/**
 * The ledger on PostgreSQL, for team mode: the same runs, node seeds, paid tasks, file records and
 * leases as the SQLite ledger (ledger.ts), with the same task hooks (pg-hooks.ts), so never paying
 * twice holds across machines. One contract suite (test/store/ledger-contract.test.ts) runs
 * against both.
 *
 * A run being coordinated holds a lease (process, host, heartbeat on the database's clock); a run
 * whose lease lapsed reads as interrupted, and its submits still marked "submitting" are ambiguous.
 */
import { PgAccess } from './pg-access';
import { hostname } from 'node:os';
import pg from 'pg';
import { EngineError } from '../core/errors';
import type { RunSummary } from '../core/events';
import { isRunStatus, type RunMoney, type RunStatus } from '../core/money';
import type { Pipeline } from '../core/pipeline-schema';
import type { TaskHooks } from '../core/run-options';
import { LEASE_HEARTBEAT_MS, LEASE_MS, RESUBMITTED, toTask, type FileRow, type RunRecord, type StoredRunOptions, type TaskRow } from './ledger';
import { pgHooks, type PgHookOptions, type Q, type Row } from './pg-hooks';
import { NOW_MS, preparePgSchema } from './pg-schema';

/** Shows a database URL without its password. */
export function showDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'FLUXGRAPH_DATABASE_URL (not a valid URL)';
  }
}

export interface PgLedgerOptions {
  max?: number;
  connectTimeoutMs?: number;
  /** A run without a heartbeat for this long is interrupted (default {@link LEASE_MS}). */
  leaseMs?: number;
}

export class PgLedger {
  readonly leaseMs: number;
  private readonly host = hostname();
  private readonly leases = new Map<string, ReturnType<typeof setInterval>>();

  /** Access tokens and spending caps in this database. */
  get access(): PgAccess {
    return new PgAccess(this.pool);
  }

  private constructor(
    private readonly pool: pg.Pool,
    readonly shown: string,
    options: PgLedgerOptions,
  ) {
    this.leaseMs = options.leaseMs ?? LEASE_MS;
  }

  /** Connects and brings the tables up to date; one clear line (EngineError `usage`) when it cannot. */
  static async open(url: string, opts: PgLedgerOptions = {}): Promise<PgLedger> {
    const shown = showDatabaseUrl(url);
    let pool: pg.Pool;
    try {
      pool = new pg.Pool({ connectionString: url, max: opts.max ?? 8, connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000 });
    } catch (e) {
      throw new EngineError('usage', `FLUXGRAPH_DATABASE_URL ${shown} is not a Postgres URL: ${(e as Error).message}`);
    }
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      try {
        await preparePgSchema(client, shown);
      } finally {
        client.release();
      }
    } catch (e) {
      await pool.end().catch(() => undefined);
      if (e instanceof EngineError) throw e;
      const msg = (e as Error).message;
      const what = /password|authentication|role .* does not exist/i.test(msg) ? 'refused the credentials in' : /database .* does not exist/i.test(msg) ? 'has no such database at' : 'cannot be reached at';
      throw new EngineError('usage', `the Postgres ledger ${what} ${shown} (FLUXGRAPH_DATABASE_URL): ${msg}`);
    }
    return new PgLedger(pool, shown, opts);
  }

  async close(): Promise<void> {
    for (const timer of this.leases.values()) clearInterval(timer);
    this.leases.clear();
    await this.pool.end();
  }

  private readonly q: Q = async (sql, params = []) => (await this.pool.query(sql, params)).rows as Row[];

  /** Runs `fn` in one transaction on one connection. */
  private async tx<T>(fn: (q: Q) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const out = await fn(async (sql, params = []) => (await client.query(sql, params)).rows as Row[]);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  /** Records the run as started (or continued) by this process and holds its lease until it ends. */
  async startRun(run: { runId: string; pipeline: Pipeline; pipelinePath?: string; options: StoredRunOptions; owner?: { person: string; team?: string } }): Promise<void> {
    await this.q(
      `INSERT INTO runs (run_id, name, pipeline_path, pipeline_json, options_json, started_at, status, lease_pid, lease_host, lease_at, owner, team)
       VALUES ($1, $2, $3, $4, $5, ${NOW_MS}, 'running', $6, $7, ${NOW_MS}, $8, $9)
       ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL, options_json = excluded.options_json,
         lease_pid = excluded.lease_pid, lease_host = excluded.lease_host, lease_at = excluded.lease_at`,
      [run.runId, run.pipeline.name ?? null, run.pipelinePath ?? null, JSON.stringify(run.pipeline), JSON.stringify(run.options), process.pid, this.host, run.owner?.person ?? null, run.owner?.team ?? null],
    );
    this.holdLease(run.runId);
  }

  /** Records a run that never started (cancelled while it waited in the queue). */
  async recordUnstarted(run: { runId: string; pipeline: Pipeline; pipelinePath?: string; options: StoredRunOptions; owner?: { person: string; team?: string } }, status: Exclude<RunStatus, 'running'>): Promise<void> {
    await this.q(
      `INSERT INTO runs (run_id, name, pipeline_path, pipeline_json, options_json, started_at, finished_at, status, owner, team)
       VALUES ($1, $2, $3, $4, $5, ${NOW_MS}, ${NOW_MS}, $6, $7, $8)
       ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at, lease_pid = NULL, lease_host = NULL, lease_at = NULL`,
      [run.runId, run.pipeline.name ?? null, run.pipelinePath ?? null, JSON.stringify(run.pipeline), JSON.stringify(run.options), status, run.owner?.person ?? null, run.owner?.team ?? null],
    );
  }

  /** Beats the run's lease every {@link LEASE_HEARTBEAT_MS} (never keeping the process alive for it). */
  holdLease(runId: string, heartbeatMs = Math.min(LEASE_HEARTBEAT_MS, Math.max(50, Math.floor(this.leaseMs / 4)))): void {
    this.stopLease(runId);
    const beat = () =>
      void this.q(`UPDATE runs SET lease_at = ${NOW_MS}, lease_pid = $1, lease_host = $2 WHERE run_id = $3 AND status = 'running'`, [process.pid, this.host, runId]).catch(() => undefined);
    const timer = setInterval(beat, heartbeatMs);
    timer.unref();
    this.leases.set(runId, timer);
  }

  private stopLease(runId: string): void {
    const timer = this.leases.get(runId);
    if (timer) clearInterval(timer);
    this.leases.delete(runId);
  }

  /** Ends a run: its status, its lease released; returns its money as the ledger has it. */
  async finishRun(summary: Pick<RunSummary, 'runId' | 'failures'> & { status: Exclude<RunStatus, 'running'> }): Promise<RunMoney> {
    this.stopLease(summary.runId);
    await this.q(`UPDATE runs SET finished_at = ${NOW_MS}, status = $1, failures = $2, lease_pid = NULL, lease_host = NULL, lease_at = NULL WHERE run_id = $3`, [
      summary.status,
      summary.failures.length,
      summary.runId,
    ]);
    return this.moneyOf(summary.runId, true);
  }

  /** Sets a run's status when it ended without a summary (an error, a worker stopping). */
  async markRun(runId: string, status: Exclude<RunStatus, 'running'>): Promise<void> {
    this.stopLease(runId);
    await this.q(`UPDATE runs SET status = $1, finished_at = ${NOW_MS}, lease_pid = NULL, lease_host = NULL, lease_at = NULL WHERE run_id = $2 AND status = 'running'`, [status, runId]);
  }

  /** Lets the lease go without ending the run: another coordinator continues it. */
  async releaseLease(runId: string): Promise<void> {
    this.stopLease(runId);
    await this.q(`UPDATE runs SET lease_pid = NULL, lease_host = NULL, lease_at = NULL WHERE run_id = $1`, [runId]);
  }

  /** Runs among `runIds` whose lease beats; a run the ledger has no record of cannot be known dead. */
  async liveRuns(runIds: string[]): Promise<Set<string>> {
    const rows = await this.q(`SELECT run_id, status, lease_at, ${NOW_MS} AS now FROM runs WHERE run_id = ANY($1)`, [runIds]);
    const known = new Map(rows.map((r) => [String(r.run_id), r]));
    return new Set(runIds.filter((id) => !known.has(id) || this.isLive(known.get(id)!)));
  }

  async isRunLive(runId: string): Promise<boolean> {
    return (await this.liveRuns([runId])).has(runId);
  }

  private isLive(r: Row): boolean {
    return r.status === 'running' && r.lease_at !== null && Number(r.now) - Number(r.lease_at) <= this.leaseMs;
  }

  /** Cost, unconfirmed submits, calls, shared results and images of one run. */
  async moneyOf(runId: string, settled = false): Promise<RunMoney> {
    const [t] = await this.q(
      `SELECT
        COALESCE(SUM(CASE WHEN NOT shared AND state IN ('submitted', 'done') THEN COALESCE(cost_micros, 0) ELSE 0 END), 0) AS cost,
        COUNT(*) FILTER (WHERE NOT shared AND state IN ('submitted', 'done') AND cost_estimated) AS estimated,
        COALESCE(SUM(CASE WHEN state = 'submitting' THEN COALESCE(expected_micros, 0) ELSE 0 END), 0) AS unconfirmed_micros,
        COUNT(*) FILTER (WHERE state = 'submitting') AS unconfirmed,
        COUNT(*) FILTER (WHERE NOT shared AND (task_id IS NOT NULL OR state = 'submitting')) AS calls,
        COUNT(*) FILTER (WHERE shared) AS shared,
        (SELECT COUNT(*) FROM files WHERE run_id = $1) AS files,
        (SELECT legacy_images FROM runs WHERE run_id = $1) AS legacy
      FROM tasks WHERE run_id = $1`,
      [runId],
    );
    // While the run is live its submits are merely on the wire; afterwards nobody knows.
    const live = !settled && (await this.q(`SELECT status, lease_at, ${NOW_MS} AS now FROM runs WHERE run_id = $1`, [runId])).some((r) => this.isLive(r));
    return {
      costMicros: Number(t.cost),
      costEstimated: Number(t.estimated) > 0,
      unconfirmedMicros: live ? 0 : Number(t.unconfirmed_micros),
      unconfirmed: live ? 0 : Number(t.unconfirmed),
      calls: Number(t.calls),
      shared: Number(t.shared),
      images: Number(t.files) + Number(t.legacy ?? 0),
    };
  }

  /** The requests of a run whose latest attempt the provider accepted and then failed (`--retry-failed`). */
  async failedTasksOf(runId: string): Promise<{ provider: string; request: Record<string, unknown> }[]> {
    const rows = await this.q(
      `SELECT t.provider, t.request_json FROM tasks t
       WHERE t.run_id = $1 AND t.state = 'failed' AND t.task_id IS NOT NULL
         AND t.id = (SELECT MAX(id) FROM tasks u WHERE u.run_id = t.run_id AND u.request_hash = t.request_hash)`,
      [runId],
    );
    return rows.map((r) => ({ provider: String(r.provider), request: JSON.parse(String(r.request_json)) as Record<string, unknown> }));
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const [row] = await this.q(`SELECT *, ${NOW_MS} AS now FROM runs WHERE run_id = $1`, [runId]);
    return row ? this.toRun(row) : undefined;
  }

  async listRuns(limit = 50): Promise<RunRecord[]> {
    const rows = await this.q(`SELECT *, ${NOW_MS} AS now FROM runs ORDER BY started_at DESC LIMIT $1`, [limit]);
    return Promise.all(rows.map((r) => this.toRun(r)));
  }

  /** The latest run of the same pipeline file (or name), for run-to-here. */
  async latestRunOf(pipeline: { path?: string; name?: string }, except?: string): Promise<RunRecord | undefined> {
    const [row] = await this.q(
      `SELECT *, ${NOW_MS} AS now FROM runs WHERE run_id != $1 AND (($2::text IS NOT NULL AND pipeline_path = $2) OR ($3::text IS NOT NULL AND name = $3)) ORDER BY started_at DESC LIMIT 1`,
      [except ?? '', pipeline.path ?? null, pipeline.name ?? null],
    );
    return row ? this.toRun(row) : undefined;
  }

  async tasksOf(runId: string): Promise<TaskRow[]> {
    return (await this.q(`SELECT * FROM tasks WHERE run_id = $1 ORDER BY id`, [runId])).map((r) => toTask(pgRow(r)));
  }

  /** Submits of a run cut off on the wire: maybe accepted and charged, maybe not. */
  async ambiguousOf(runId: string): Promise<TaskRow[]> {
    return (await this.tasksOf(runId)).filter((t) => t.state === 'submitting' && t.errorCode !== RESUBMITTED);
  }

  async filesOf(runId: string): Promise<FileRow[]> {
    const rows = await this.q(`SELECT * FROM files WHERE run_id = $1 ORDER BY node_id, item, created_at`, [runId]);
    return rows.map((r) => ({ runId: String(r.run_id), nodeId: String(r.node_id), item: Number(r.item), path: String(r.path), imageHash: String(r.image_hash), fileSha256: String(r.file_sha256) }));
  }

  async nodeSeedsOf(runId: string): Promise<Record<string, number>> {
    const rows = await this.q(`SELECT node_id, seed FROM node_seeds WHERE run_id = $1`, [runId]);
    return Object.fromEntries(rows.map((r) => [String(r.node_id), Number(r.seed)]));
  }

  /** Hashes of every stored result the ledger still points at. */
  async referencedHashes(): Promise<Set<string>> {
    return new Set((await this.q(`SELECT DISTINCT result_hash AS h FROM tasks WHERE result_hash IS NOT NULL`)).map((r) => String(r.h)));
  }

  /** The engine's hooks for one run: the same rules as the SQLite ledger's. */
  hooks(runId: string, options: PgHookOptions = {}): TaskHooks {
    return pgHooks(
      {
        shown: this.shown,
        q: this.q,
        tx: (fn) => this.tx(fn),
        liveRuns: (ids) => this.liveRuns(ids),
        moneyOf: (id) => this.moneyOf(id, true),
      },
      runId,
      options,
    );
  }

  private async toRun(row: Row): Promise<RunRecord> {
    const runId = String(row.run_id);
    const stored = String(row.status);
    // "running" without a live lease: its coordinator died (or waits to be continued).
    const status: RunStatus = stored === 'running' ? (this.isLive(row) ? 'running' : 'interrupted') : isRunStatus(stored) ? stored : 'interrupted';
    const money = await this.moneyOf(runId, status !== 'running');
    return {
      runId,
      name: (row.name as string | null) ?? null,
      pipelinePath: (row.pipeline_path as string | null) ?? null,
      pipeline: JSON.parse(String(row.pipeline_json)) as Pipeline,
      options: JSON.parse(String(row.options_json)) as StoredRunOptions,
      startedAt: Number(row.started_at),
      finishedAt: row.finished_at === null ? null : Number(row.finished_at),
      status,
      resumable: status !== 'running' && status !== 'done',
      ...money,
      costUsd: money.costMicros / 1_000_000,
      failures: Number(row.failures),
      owner: (row.owner as string | null) ?? null,
      team: (row.team as string | null) ?? null,
    };
  }
}

/** A Postgres row in the SQLite row's shape (booleans as 0/1, bigints as numbers), for `toTask`. */
function pgRow(r: Row): Row {
  return { ...r, cost_estimated: r.cost_estimated === true ? 1 : 0, shared: r.shared === true ? 1 : 0 };
}
