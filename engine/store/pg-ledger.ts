/**
 * The ledger on PostgreSQL, for team mode: the same runs, node seeds and paid tasks as the SQLite
 * ledger, with the same task hooks, so never paying twice holds across machines. Every hook
 * commits before it returns: the claim (`submitting`) is on disk before the HTTP submit leaves
 * the worker. Concurrent claims of one request are serialised by an advisory lock on its hash.
 */
import pg from 'pg';
import { fromMicros, isResumable, isRunStatus, toMicros } from '../core/money';
import { EngineError } from '../core/errors';
import type { RunSummary } from '../core/events';
import type { Pipeline } from '../core/pipeline-schema';
import type { TaskRef } from '../core/provider';
import type { GeneratedImageRecord, TaskHooks, TaskKey } from '../core/run-options';
import type { HookOptions, RunRecord, StoredRunOptions, TaskRow, TaskState } from './ledger';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  name TEXT,
  pipeline_path TEXT,
  pipeline_json TEXT NOT NULL,
  options_json TEXT NOT NULL DEFAULT '{}',
  started_at BIGINT NOT NULL,
  finished_at BIGINT,
  status TEXT NOT NULL DEFAULT 'running',
  cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
  images INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0
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
  cost_usd DOUBLE PRECISION,
  error_code TEXT,
  error_message TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_request ON tasks (request_hash, state);
CREATE INDEX IF NOT EXISTS tasks_by_run ON tasks (run_id, request_hash);
`;

/** How long a "submitting" row of another run counts as a submit still on the wire (as in SQLite). */
const SUBMIT_WINDOW_MS = 3 * 60_000;

type Row = Record<string, unknown>;

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

export class PgLedger {
  private constructor(private readonly pool: pg.Pool) {}

  /** Connects and creates the tables; one clear line (EngineError `usage`) when it cannot. */
  static async open(url: string, opts: { max?: number; connectTimeoutMs?: number } = {}): Promise<PgLedger> {
    const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 8, connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000 });
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      try {
        // One creator at a time: several workers starting together would race on CREATE TABLE.
        await client.query('SELECT pg_advisory_lock(7411)');
        await client.query(SCHEMA);
        await client.query('SELECT pg_advisory_unlock(7411)');
      } finally {
        client.release();
      }
    } catch (e) {
      await pool.end().catch(() => undefined);
      const msg = (e as Error).message;
      const what = /password|authentication/i.test(msg) ? 'refused the credentials in' : 'cannot be reached at';
      throw new EngineError('usage', `the Postgres ledger ${what} ${showDatabaseUrl(url)} (FLUXGRAPH_DATABASE_URL): ${msg}`);
    }
    return new PgLedger(pool);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async q(sql: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query(sql, params)).rows as Row[];
  }

  /** Runs `fn` in one transaction on one connection. */
  private async tx<T>(fn: (q: (sql: string, params?: unknown[]) => Promise<Row[]>) => Promise<T>): Promise<T> {
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

  async startRun(run: { runId: string; pipeline: Pipeline; pipelinePath?: string; options: StoredRunOptions }): Promise<void> {
    await this.q(
      `INSERT INTO runs (run_id, name, pipeline_path, pipeline_json, options_json, started_at, status)
       VALUES ($1, $2, $3, $4, $5, $6, 'running')
       ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL`,
      [run.runId, run.pipeline.name ?? null, run.pipelinePath ?? null, JSON.stringify(run.pipeline), JSON.stringify(run.options), Date.now()],
    );
  }

  async finishRun(summary: RunSummary): Promise<void> {
    const [{ c }] = await this.q(`SELECT COALESCE(SUM(cost_usd), 0) AS c FROM tasks WHERE run_id = $1 AND state IN ('submitted', 'done')`, [summary.runId]);
    await this.q(`UPDATE runs SET finished_at = $1, status = $2, cost_usd = $3, images = images + $4, failures = $5 WHERE run_id = $6`, [
      Date.now(),
      summary.status,
      Number(c),
      summary.imagesWritten.length,
      summary.failures.length,
      summary.runId,
    ]);
  }

  async markRun(runId: string, status: string): Promise<void> {
    await this.q(`UPDATE runs SET status = $1, finished_at = $2 WHERE run_id = $3 AND status = 'running'`, [status, Date.now(), runId]);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const [row] = await this.q(`SELECT * FROM runs WHERE run_id = $1`, [runId]);
    return row ? toRun(row) : undefined;
  }

  async listRuns(limit = 50): Promise<RunRecord[]> {
    return (await this.q(`SELECT * FROM runs ORDER BY started_at DESC LIMIT $1`, [limit])).map(toRun);
  }

  async tasksOf(runId: string): Promise<TaskRow[]> {
    return (await this.q(`SELECT * FROM tasks WHERE run_id = $1 ORDER BY id`, [runId])).map(toTask);
  }

  async nodeSeedsOf(runId: string): Promise<Record<string, number>> {
    const rows = await this.q(`SELECT node_id, seed FROM node_seeds WHERE run_id = $1`, [runId]);
    return Object.fromEntries(rows.map((r) => [String(r.node_id), Number(r.seed)]));
  }

  /** The engine's hooks for one run: the same rules as `Ledger.hooks` of the SQLite ledger. */
  hooks(runId: string, options: HookOptions & { account?: string } = {}): TaskHooks {
    const cache = options.cache !== false;
    const reattach = options.reattach !== false;
    const now = () => Date.now();
    const seeded = options.seedsFrom
      ? this.q(`INSERT INTO node_seeds (run_id, node_id, seed) SELECT $1, node_id, seed FROM node_seeds WHERE run_id = $2 ON CONFLICT DO NOTHING`, [runId, options.seedsFrom])
      : Promise.resolve([]);
    const ready = () => seeded;
    const row = (key: TaskKey, state: TaskState, task?: TaskRef) => [
      key.runId,
      key.nodeId,
      key.item,
      key.requestHash,
      key.provider,
      options.account ?? null,
      key.request.model,
      key.nodeType,
      key.nodeVersion,
      key.cacheable,
      JSON.stringify(key.request),
      state,
      task?.taskId ?? null,
      task?.pollingUrl ?? null,
      task ? JSON.stringify(task) : null,
      task?.costUsd ?? null,
      now(),
    ];
    const INSERT = `INSERT INTO tasks (run_id, node_id, item, request_hash, provider, account, model, node_type, node_version, cacheable, request_json, state, task_id, polling_url, task_json, cost_usd, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) RETURNING id`;
    const openRow = async (q: (sql: string, p?: unknown[]) => Promise<Row[]>, key: TaskKey) =>
      (await q(`SELECT id FROM tasks WHERE run_id = $1 AND request_hash = $2 AND state IN ('submitting', 'submitted') ORDER BY id DESC LIMIT 1`, [key.runId, key.requestHash]))[0];
    const q = this.q.bind(this);

    return {
      nodeSeed: async (run, nodeId, fresh) => {
        await ready();
        const [own] = await q(`SELECT seed FROM node_seeds WHERE run_id = $1 AND node_id = $2`, [run, nodeId]);
        if (own) return { seed: Number(own.seed), reused: true };
        const [earlier] = options.seedsFrom ? await q(`SELECT seed FROM node_seeds WHERE run_id = $1 AND node_id = $2`, [options.seedsFrom, nodeId]) : [];
        const seed = earlier ? Number(earlier.seed) : fresh;
        // A coordinator taking over a run races nobody else for its seeds, but keep the first one.
        const [kept] = await q(
          `INSERT INTO node_seeds (run_id, node_id, seed) VALUES ($1, $2, $3) ON CONFLICT (run_id, node_id) DO UPDATE SET seed = node_seeds.seed RETURNING seed`,
          [run, nodeId, seed],
        );
        return { seed: Number(kept.seed), reused: earlier !== undefined };
      },

      lookup: async (key) => {
        await ready();
        const [mine] = await q(`SELECT * FROM tasks WHERE run_id = $1 AND request_hash = $2 ORDER BY id DESC LIMIT 1`, [key.runId, key.requestHash]);
        if (mine) {
          const t = toTask(mine);
          if (t.state === 'done' && !key.regenerate) return { done: JSON.parse(String(mine.result_json)) as GeneratedImageRecord };
          if (t.state === 'submitted') {
            const [collected] =
              t.taskId && !key.regenerate ? await q(`SELECT * FROM tasks WHERE task_id = $1 AND provider = $2 AND state = 'done' ORDER BY id DESC LIMIT 1`, [t.taskId, t.provider]) : [];
            if (collected) return { done: JSON.parse(String(collected.result_json)) as GeneratedImageRecord };
            if (reattach) return { inFlight: JSON.parse(String(mine.task_json)) as TaskRef };
          }
          if (t.state === 'submitting' && reattach) return { interrupted: true };
        }
        if (!cache || !key.cacheable) return undefined;
        const [hit] = key.regenerate ? [] : await q(`SELECT * FROM tasks WHERE request_hash = $1 AND state = 'done' ORDER BY id DESC LIMIT 1`, [key.requestHash]);
        if (hit) return { done: JSON.parse(String(hit.result_json)) as GeneratedImageRecord, ...(hit.run_id !== key.runId ? { shared: true } : {}) };
        if (!reattach) return undefined;
        const [flying] = await q(`SELECT * FROM tasks WHERE request_hash = $1 AND state = 'submitted' ORDER BY id DESC LIMIT 1`, [key.requestHash]);
        if (flying) return { inFlight: JSON.parse(String(flying.task_json)) as TaskRef, ...(flying.run_id !== key.runId ? { shared: true } : {}) };
        const [busy] = await q(`SELECT id FROM tasks WHERE request_hash = $1 AND run_id != $2 AND state = 'submitting' AND created_at > $3 LIMIT 1`, [
          key.requestHash,
          key.runId,
          now() - SUBMIT_WINDOW_MS,
        ]);
        return busy ? { busyElsewhere: true } : undefined;
      },

      submitting: async (key) => {
        await ready();
        return this.tx(async (tq) => {
          await tq(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [key.requestHash]);
          if (cache && key.cacheable && reattach) {
            const states = key.regenerate ? `state = 'submitted'` : `state IN ('submitted', 'done')`;
            const [taken] = await tq(`SELECT id FROM tasks WHERE request_hash = $1 AND run_id != $2 AND (${states} OR (state = 'submitting' AND created_at > $3)) LIMIT 1`, [
              key.requestHash,
              key.runId,
              now() - SUBMIT_WINDOW_MS,
            ]);
            if (taken) return 'elsewhere' as const;
          }
          await tq(INSERT, row(key, 'submitting'));
          return 'claimed' as const;
        });
      },

      submitted: async (key, task) => {
        await this.tx(async (tq) => {
          const open = await openRow(tq, key);
          if (open) {
            await tq(`UPDATE tasks SET state = 'submitted', task_id = $1, polling_url = $2, task_json = $3, cost_usd = $4, updated_at = $5 WHERE id = $6`, [
              task.taskId,
              task.pollingUrl ?? null,
              JSON.stringify(task),
              task.costUsd ?? null,
              now(),
              open.id,
            ]);
          } else await tq(INSERT, row(key, 'submitted', task));
        });
      },

      completed: async (key, task, result) => {
        await this.tx(async (tq) => {
          const [byTask] = await tq(`SELECT id FROM tasks WHERE run_id = $1 AND request_hash = $2 AND task_id = $3 ORDER BY id DESC LIMIT 1`, [key.runId, key.requestHash, task.taskId]);
          const target = byTask ?? (await openRow(tq, key));
          const cost = result.costUsd ?? task.costUsd ?? null;
          if (target) {
            await tq(`UPDATE tasks SET state = 'done', result_hash = $1, result_json = $2, cost_usd = $3, task_json = $4, task_id = $5, updated_at = $6 WHERE id = $7`, [
              result.hash,
              JSON.stringify(result),
              cost,
              JSON.stringify(task),
              task.taskId,
              now(),
              target.id,
            ]);
          } else {
            const values = row(key, 'done', task);
            values[15] = 0;
            const [ins] = await tq(INSERT, values);
            await tq(`UPDATE tasks SET result_hash = $1, result_json = $2 WHERE id = $3`, [result.hash, JSON.stringify(result), ins.id]);
          }
        });
      },

      failed: async (key, task, error) => {
        if (error.code === 'ambiguous_submit' || error.code === 'aborted' || error.details?.resumable === true) return;
        await this.tx(async (tq) => {
          const open = await openRow(tq, key);
          if (open) {
            await tq(`UPDATE tasks SET state = 'failed', error_code = $1, error_message = $2, updated_at = $3 WHERE id = $4`, [error.code, error.message, now(), open.id]);
          } else if (task?.taskId) {
            const [ins] = await tq(INSERT, row(key, 'failed', task));
            await tq(`UPDATE tasks SET error_code = $1, error_message = $2 WHERE id = $3`, [error.code, error.message, ins.id]);
          }
        });
      },
    };
  }
}

function toRun(row: Row): RunRecord {
  return {
    runId: String(row.run_id),
    name: (row.name as string | null) ?? null,
    pipelinePath: (row.pipeline_path as string | null) ?? null,
    pipeline: JSON.parse(String(row.pipeline_json)) as Pipeline,
    options: JSON.parse(String(row.options_json)) as StoredRunOptions,
    startedAt: Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
    // Not yet in the Postgres ledger: leases, file records, shared and unconfirmed counts (see the SQLite ledger).
    status: isRunStatus(row.status) ? row.status : 'interrupted',
    resumable: isRunStatus(row.status) ? isResumable(row.status) : true,
    costUsd: fromMicros(toMicros(Number(row.cost_usd))),
    costMicros: toMicros(Number(row.cost_usd)),
    costEstimated: false,
    unconfirmedMicros: 0,
    unconfirmed: 0,
    calls: 0,
    shared: 0,
    images: Number(row.images),
    failures: Number(row.failures),
  };
}

function toTask(row: Row): TaskRow {
  return {
    id: Number(row.id),
    runId: String(row.run_id),
    nodeId: String(row.node_id),
    item: Number(row.item),
    requestHash: String(row.request_hash),
    provider: String(row.provider),
    model: String(row.model),
    state: row.state as TaskState,
    taskId: (row.task_id as string | null) ?? null,
    account: null,
    costMicros: row.cost_usd === null || row.cost_usd === undefined ? null : toMicros(Number(row.cost_usd)),
    costEstimated: false,
    expectedMicros: null,
    shared: false,
    resultHash: (row.result_hash as string | null) ?? null,
    errorCode: (row.error_code as string | null) ?? null,
    errorMessage: (row.error_message as string | null) ?? null,
    createdAt: Number(row.created_at),
    submittedAt: null,
    requestJson: String(row.request_json),
  };
}
