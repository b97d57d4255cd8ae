/**
 * The ledger (SQLite, WAL): runs, node seeds and every paid task, written before polling starts
 * and updated when the image is stored. It is what lets an interrupted run re-attach to its
 * tasks instead of paying again, and what the cache reads. Synchronous writes (better-sqlite3)
 * mean a row is on disk before the next await: a kill -9 right after submit still finds it.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { RunSummary } from '../core/events';
import type { Pipeline } from '../core/pipeline-schema';
import type { TaskRef } from '../core/provider';
import type { GeneratedImageRecord, TaskHooks, TaskKey } from '../core/run-options';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  name TEXT,
  pipeline_path TEXT,
  pipeline_json TEXT NOT NULL,
  options_json TEXT NOT NULL DEFAULT '{}',
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  status TEXT NOT NULL DEFAULT 'running',
  cost_usd REAL NOT NULL DEFAULT 0,
  images INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0
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
  request_hash TEXT NOT NULL,
  provider TEXT NOT NULL,
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
  cost_usd REAL,
  error_code TEXT,
  error_message TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_request ON tasks (request_hash, state);
CREATE INDEX IF NOT EXISTS tasks_by_run ON tasks (run_id, request_hash);
`;

/** How long a "submitting" row of another run counts as a submit still on the wire. */
const SUBMIT_WINDOW_MS = 3 * 60_000;

/** States of a paid task. `submitting`: the request may be on the wire (never re-sent blindly). */
export type TaskState = 'submitting' | 'submitted' | 'done' | 'failed';

export interface RunRecord {
  runId: string;
  name: string | null;
  pipelinePath: string | null;
  pipeline: Pipeline;
  options: StoredRunOptions;
  startedAt: number;
  finishedAt: number | null;
  status: string;
  costUsd: number;
  images: number;
  failures: number;
}

/** What a resume needs to run the same thing again. */
export interface StoredRunOptions {
  variables?: Record<string, string>;
  provider?: string;
  concurrency?: Record<string, number>;
  outDir?: string;
  baseDir?: string;
  only?: string[];
}

export interface TaskRow {
  id: number;
  runId: string;
  nodeId: string;
  item: number;
  requestHash: string;
  provider: string;
  model: string;
  state: TaskState;
  taskId: string | null;
  costUsd: number | null;
  resultHash: string | null;
  errorCode: string | null;
}

export interface HookOptions {
  /** Reuse stored results of other runs for cacheable requests (default true). */
  cache?: boolean;
  /**
   * Wait on tasks recorded as in flight (default true). False for a provider that does not
   * outlive its process (the embedded emulator): those tasks are gone, and making them again is free.
   */
  reattach?: boolean;
  /** Take node seeds from this earlier run (run-to-here re-uses the upstream results it made). */
  seedsFrom?: string;
}

export class Ledger {
  private constructor(readonly db: Database.Database) {}

  static open(path: string): Ledger {
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
    return new Ledger(db);
  }

  close(): void {
    this.db.close();
  }

  startRun(run: { runId: string; pipeline: Pipeline; pipelinePath?: string; options: StoredRunOptions }): void {
    this.db
      .prepare(
        `INSERT INTO runs (run_id, name, pipeline_path, pipeline_json, options_json, started_at, status)
         VALUES (?, ?, ?, ?, ?, ?, 'running')
         ON CONFLICT(run_id) DO UPDATE SET status = 'running', finished_at = NULL`,
      )
      .run(run.runId, run.pipeline.name ?? null, run.pipelinePath ?? null, JSON.stringify(run.pipeline), JSON.stringify(run.options), Date.now());
  }

  finishRun(summary: RunSummary): void {
    const cost = (this.db.prepare(`SELECT COALESCE(SUM(cost_usd), 0) AS c FROM tasks WHERE run_id = ? AND state IN ('submitted', 'done')`).get(summary.runId) as { c: number }).c;
    this.db
      .prepare(`UPDATE runs SET finished_at = ?, status = ?, cost_usd = ?, images = images + ?, failures = ? WHERE run_id = ?`)
      .run(Date.now(), summary.status, cost, summary.imagesWritten.length, summary.failures.length, summary.runId);
  }

  /** Sets a run's status when it ended without a summary (an error before or during it). */
  markRun(runId: string, status: string): void {
    this.db.prepare(`UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ? AND status = 'running'`).run(status, Date.now(), runId);
  }

  getRun(runId: string): RunRecord | undefined {
    const row = this.db.prepare(`SELECT * FROM runs WHERE run_id = ?`).get(runId) as Record<string, unknown> | undefined;
    return row ? toRun(row) : undefined;
  }

  listRuns(limit = 50): RunRecord[] {
    return (this.db.prepare(`SELECT * FROM runs ORDER BY started_at DESC LIMIT ?`).all(limit) as Record<string, unknown>[]).map(toRun);
  }

  /** The latest finished or interrupted run of the same pipeline file (or name), for run-to-here. */
  latestRunOf(pipeline: { path?: string; name?: string }, except?: string): RunRecord | undefined {
    const row = this.db
      .prepare(
        `SELECT * FROM runs WHERE run_id != ? AND ((? IS NOT NULL AND pipeline_path = ?) OR (? IS NOT NULL AND name = ?))
         ORDER BY started_at DESC LIMIT 1`,
      )
      .get(except ?? '', pipeline.path ?? null, pipeline.path ?? null, pipeline.name ?? null, pipeline.name ?? null) as Record<string, unknown> | undefined;
    return row ? toRun(row) : undefined;
  }

  tasksOf(runId: string): TaskRow[] {
    return (this.db.prepare(`SELECT * FROM tasks WHERE run_id = ? ORDER BY id`).all(runId) as Record<string, unknown>[]).map(toTask);
  }

  /** Hashes of every stored result the ledger still points at (for pruning the store). */
  referencedHashes(): Set<string> {
    const rows = this.db.prepare(`SELECT DISTINCT result_hash AS h FROM tasks WHERE result_hash IS NOT NULL`).all() as { h: string }[];
    return new Set(rows.map((r) => r.h));
  }

  /**
   * Forgets runs (and their tasks) that started before `before`. A run with a task still in
   * flight is kept whole, so it can still be resumed.
   */
  forgetRunsBefore(before: number): number {
    const old = (
      this.db
        .prepare(
          `SELECT run_id FROM runs WHERE started_at < ? AND status != 'running'
           AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.run_id = runs.run_id AND state IN ('submitting', 'submitted'))`,
        )
        .all(before) as { run_id: string }[]
    ).map((r) => r.run_id);
    const tx = this.db.transaction((ids: string[]) => {
      for (const id of ids) {
        this.db.prepare(`DELETE FROM tasks WHERE run_id = ?`).run(id);
        this.db.prepare(`DELETE FROM node_seeds WHERE run_id = ?`).run(id);
        this.db.prepare(`DELETE FROM runs WHERE run_id = ?`).run(id);
      }
    });
    tx(old);
    return old.length;
  }

  /** The seed each node drew in a run. */
  nodeSeedsOf(runId: string): Record<string, number> {
    const rows = this.db.prepare(`SELECT node_id, seed FROM node_seeds WHERE run_id = ?`).all(runId) as { node_id: string; seed: number }[];
    return Object.fromEntries(rows.map((r) => [r.node_id, r.seed]));
  }

  /** The engine's hooks for one run. */
  hooks(runId: string, options: HookOptions = {}): TaskHooks {
    const cache = options.cache !== false;
    const db = this.db;
    // A run that borrows an earlier run's seeds keeps all of them, also for nodes it leaves out,
    // so a later run from this one still finds the same requests.
    if (options.seedsFrom) {
      db.prepare(`INSERT OR IGNORE INTO node_seeds (run_id, node_id, seed) SELECT ?, node_id, seed FROM node_seeds WHERE run_id = ?`).run(runId, options.seedsFrom);
    }
    const now = () => Date.now();
    const latest = db.prepare(`SELECT * FROM tasks WHERE run_id = ? AND request_hash = ? ORDER BY id DESC LIMIT 1`);
    const cached = db.prepare(`SELECT * FROM tasks WHERE request_hash = ? AND state = 'done' ORDER BY id DESC LIMIT 1`);
    const reattach = options.reattach !== false;
    const inFlightElsewhere = db.prepare(`SELECT * FROM tasks WHERE request_hash = ? AND state = 'submitted' ORDER BY id DESC LIMIT 1`);
    const doneByTask = db.prepare(`SELECT * FROM tasks WHERE task_id = ? AND provider = ? AND state = 'done' ORDER BY id DESC LIMIT 1`);
    // Another run's submit of the same request that is recent enough to still be on the wire.
    const busyElsewhere = db.prepare(`SELECT id FROM tasks WHERE request_hash = ? AND run_id != ? AND state = 'submitting' AND created_at > ? LIMIT 1`);
    const takenElsewhere = db.prepare(
      `SELECT id FROM tasks WHERE request_hash = ? AND run_id != ? AND (state IN ('submitted', 'done') OR (state = 'submitting' AND created_at > ?)) LIMIT 1`,
    );
    const inFlightOrSending = db.prepare(
      `SELECT id FROM tasks WHERE request_hash = ? AND run_id != ? AND (state = 'submitted' OR (state = 'submitting' AND created_at > ?)) LIMIT 1`,
    );
    const insert = db.prepare(
      `INSERT INTO tasks (run_id, node_id, item, request_hash, provider, model, node_type, node_version, cacheable, request_json, state, task_id, polling_url, task_json, cost_usd, created_at, updated_at)
       VALUES (@runId, @nodeId, @item, @requestHash, @provider, @model, @nodeType, @nodeVersion, @cacheable, @requestJson, @state, @taskId, @pollingUrl, @taskJson, @costUsd, @at, @at)`,
    );
    const open = db.prepare(`SELECT id FROM tasks WHERE run_id = ? AND request_hash = ? AND state IN ('submitting', 'submitted') ORDER BY id DESC LIMIT 1`);

    const row = (key: TaskKey, state: TaskState, task?: TaskRef) => ({
      runId: key.runId,
      nodeId: key.nodeId,
      item: key.item,
      requestHash: key.requestHash,
      provider: key.provider,
      model: key.request.model,
      nodeType: key.nodeType,
      nodeVersion: key.nodeVersion,
      cacheable: key.cacheable ? 1 : 0,
      requestJson: JSON.stringify(key.request),
      state,
      taskId: task?.taskId ?? null,
      pollingUrl: task?.pollingUrl ?? null,
      taskJson: task ? JSON.stringify(task) : null,
      costUsd: task?.costUsd ?? null,
      at: now(),
    });

    return {
      nodeSeed: async (run, nodeId, fresh) => {
        const own = db.prepare(`SELECT seed FROM node_seeds WHERE run_id = ? AND node_id = ?`).get(run, nodeId) as { seed: number } | undefined;
        if (own) return { seed: own.seed, reused: true };
        const earlier = options.seedsFrom
          ? (db.prepare(`SELECT seed FROM node_seeds WHERE run_id = ? AND node_id = ?`).get(options.seedsFrom, nodeId) as { seed: number } | undefined)
          : undefined;
        const seed = earlier?.seed ?? fresh;
        db.prepare(`INSERT INTO node_seeds (run_id, node_id, seed) VALUES (?, ?, ?)`).run(run, nodeId, seed);
        return { seed, reused: earlier !== undefined };
      },

      lookup: async (key) => {
        const mine = latest.get(key.runId, key.requestHash) as Record<string, unknown> | undefined;
        if (mine) {
          const t = toTask(mine);
          if (t.state === 'done' && !key.regenerate) return { done: JSON.parse(String(mine.result_json)) as GeneratedImageRecord };
          if (t.state === 'submitted') {
            // Another run may have waited on this task and stored its image already.
            const collected = t.taskId && !key.regenerate ? (doneByTask.get(t.taskId, t.provider) as Record<string, unknown> | undefined) : undefined;
            if (collected) return { done: JSON.parse(String(collected.result_json)) as GeneratedImageRecord };
            if (reattach) return { inFlight: JSON.parse(String(mine.task_json)) as TaskRef };
          }
          if (t.state === 'submitting' && reattach) return { interrupted: true };
        }
        if (!cache || !key.cacheable) return undefined;
        const hit = key.regenerate ? undefined : (cached.get(key.requestHash) as Record<string, unknown> | undefined);
        if (hit) return { done: JSON.parse(String(hit.result_json)) as GeneratedImageRecord };
        if (!reattach) return undefined;
        const flying = inFlightElsewhere.get(key.requestHash) as Record<string, unknown> | undefined;
        if (flying) return { inFlight: JSON.parse(String(flying.task_json)) as TaskRef };
        if (busyElsewhere.get(key.requestHash, key.runId, now() - SUBMIT_WINDOW_MS)) return { busyElsewhere: true };
        return undefined;
      },

      // Claims the request and records the intent in one transaction, so two runs sharing the
      // ledger never both send the same cacheable request.
      submitting: async (key) =>
        db
          .transaction((): 'claimed' | 'elsewhere' => {
            // A result another run finished meanwhile counts too, unless it is the damaged one being replaced.
            const taken = key.regenerate ? inFlightOrSending : takenElsewhere;
            if (cache && key.cacheable && reattach && taken.get(key.requestHash, key.runId, now() - SUBMIT_WINDOW_MS)) return 'elsewhere';
            insert.run(row(key, 'submitting'));
            return 'claimed';
          })
          .immediate(),

      submitted: async (key, task) => {
        const openRow = open.get(key.runId, key.requestHash) as { id: number } | undefined;
        if (openRow) {
          db.prepare(`UPDATE tasks SET state = 'submitted', task_id = ?, polling_url = ?, task_json = ?, cost_usd = ?, updated_at = ? WHERE id = ?`).run(
            task.taskId,
            task.pollingUrl ?? null,
            JSON.stringify(task),
            task.costUsd ?? null,
            now(),
            openRow.id,
          );
        } else insert.run(row(key, 'submitted', task));
      },

      completed: async (key, task, result) => {
        const target = (db.prepare(`SELECT id FROM tasks WHERE run_id = ? AND request_hash = ? AND task_id = ? ORDER BY id DESC LIMIT 1`).get(key.runId, key.requestHash, task.taskId) as
          | { id: number }
          | undefined) ?? open.get(key.runId, key.requestHash);
        const cost = result.costUsd ?? task.costUsd ?? null;
        if (target) {
          db.prepare(`UPDATE tasks SET state = 'done', result_hash = ?, result_json = ?, cost_usd = ?, task_json = ?, task_id = ?, updated_at = ? WHERE id = ?`).run(
            result.hash,
            JSON.stringify(result),
            cost,
            JSON.stringify(task),
            task.taskId,
            now(),
            (target as { id: number }).id,
          );
        } else {
          // Re-attached to another run's task (cache): record the result under this run too, at no cost.
          insert.run({ ...row(key, 'done', task), costUsd: 0 });
          db.prepare(`UPDATE tasks SET result_hash = ?, result_json = ? WHERE id = last_insert_rowid()`).run(result.hash, JSON.stringify(result));
        }
      },

      failed: async (key, task, error) => {
        const target = open.get(key.runId, key.requestHash) as { id: number } | undefined;
        // An ambiguous submit stays "submitting": a resume must not send it again. A task that may
        // still finish (timeout, poll errors) stays "submitted": a resume waits on it again.
        if (error.code === 'ambiguous_submit' || error.code === 'aborted' || error.details?.resumable === true) return;
        if (target) {
          db.prepare(`UPDATE tasks SET state = 'failed', error_code = ?, error_message = ?, updated_at = ? WHERE id = ?`).run(error.code, error.message, now(), target.id);
        } else if (task?.taskId) {
          insert.run({ ...row(key, 'failed', task) });
          db.prepare(`UPDATE tasks SET error_code = ?, error_message = ? WHERE id = last_insert_rowid()`).run(error.code, error.message);
        }
      },
    };
  }
}

function toRun(row: Record<string, unknown>): RunRecord {
  return {
    runId: String(row.run_id),
    name: (row.name as string | null) ?? null,
    pipelinePath: (row.pipeline_path as string | null) ?? null,
    pipeline: JSON.parse(String(row.pipeline_json)) as Pipeline,
    options: JSON.parse(String(row.options_json)) as StoredRunOptions,
    startedAt: Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
    status: String(row.status),
    costUsd: Number(row.cost_usd),
    images: Number(row.images),
    failures: Number(row.failures),
  };
}

function toTask(row: Record<string, unknown>): TaskRow {
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
    costUsd: (row.cost_usd as number | null) ?? null,
    resultHash: (row.result_hash as string | null) ?? null,
    errorCode: (row.error_code as string | null) ?? null,
  };
}
