/**
 * The engine's task hooks on the Postgres ledger: the same rules as the SQLite ledger's
 * (ledger-hooks.ts), written for a database many machines share. Every write commits before it
 * returns, so the claim (`submitting`) is on disk before the HTTP submit leaves the worker;
 * concurrent claims of one request are serialised by an advisory lock on its hash.
 */
import { pgCheckCaps } from './pg-access';
import { EngineError, isEngineError } from '../core/errors';
import { toMicros, type RunMoney } from '../core/money';
import type { GeneratedImageRecord, SavedFile, TaskHooks, TaskKey, TaskLookup, TaskRef } from '../core/run-options';
import type { HookOptions } from './ledger-hooks';
import type { TaskState } from './ledger';
import { NOW_MS } from './pg-schema';

export type Row = Record<string, unknown>;
export type Q = (sql: string, params?: unknown[]) => Promise<Row[]>;

export interface PgView {
  shown: string;
  q: Q;
  tx<T>(fn: (q: Q) => Promise<T>): Promise<T>;
  /** Runs with a live lease among `runIds` (a run the ledger has no record of counts as live). */
  liveRuns(runIds: string[]): Promise<Set<string>>;
  moneyOf(runId: string): Promise<RunMoney>;
}

export interface PgHookOptions extends HookOptions {
  /** The provider account the tasks go to (team mode's call workers), when the key does not say. */
  account?: string;
}

const INSERT = `INSERT INTO tasks (run_id, node_id, item, row_n, request_hash, provider, account, model, node_type, node_version, cacheable, request_json, state, task_id, polling_url, task_json,
    cost_micros, cost_estimated, expected_micros, shared, created_at, submitted_at, updated_at, person, team)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $21, $23, $24) RETURNING id`;

export function pgHooks(view: PgView, runId: string, options: PgHookOptions): TaskHooks {
  const { q } = view;
  const cache = options.cache !== false;
  const reattach = options.reattach !== false;
  const now = () => Date.now();
  // A run that borrows an earlier run's seeds keeps all of them (as the SQLite ledger does).
  const seeded = options.seedsFrom
    ? q(`INSERT INTO node_seeds (run_id, node_id, seed) SELECT $1, node_id, seed FROM node_seeds WHERE run_id = $2 ON CONFLICT DO NOTHING`, [runId, options.seedsFrom])
    : Promise.resolve([]);
  const ready = () => seeded;

  const values = (key: TaskKey, state: TaskState, task?: TaskRef, over: { costMicros?: number; shared?: boolean } = {}) => {
    const expected = key.expectedUsd === undefined ? null : toMicros(key.expectedUsd);
    const reported = task?.costUsd === undefined ? null : toMicros(task.costUsd);
    return [
      key.runId,
      key.nodeId,
      key.item,
      key.row ?? null,
      key.requestHash,
      key.provider,
      key.account ?? options.account ?? null,
      key.request.model,
      key.nodeType,
      key.nodeVersion,
      key.cacheable,
      JSON.stringify(key.request),
      state,
      task?.taskId ?? null,
      task?.pollingUrl ?? null,
      task ? JSON.stringify(task) : null,
      over.costMicros ?? reported ?? (task ? expected : null),
      over.costMicros === undefined && reported === null && task !== undefined && expected !== null,
      expected,
      over.shared === true,
      now(),
      task ? now() : null,
      options.owner?.person ?? null,
      options.owner?.team ?? null,
    ];
  };
  const result = (r: Row) => JSON.parse(String(r.result_json)) as GeneratedImageRecord;
  const shared = (r: Row) => (r.shared === true ? { shared: true as const } : {});
  const openRow = async (tq: Q, key: TaskKey) =>
    (await tq(`SELECT id FROM tasks WHERE run_id = $1 AND request_hash = $2 AND state IN ('submitting', 'submitted') ORDER BY id DESC LIMIT 1`, [key.runId, key.requestHash]))[0];

  /** Submits of other runs on the wire for this request: live ones are busy, dead ones ambiguous. */
  const othersSubmitting = async (tq: Q, key: TaskKey): Promise<{ live: boolean; dead?: string }> => {
    const runs = (await tq(`SELECT DISTINCT run_id FROM tasks WHERE request_hash = $1 AND run_id != $2 AND state = 'submitting'`, [key.requestHash, key.runId])).map((r) => String(r.run_id));
    if (!runs.length) return { live: false };
    const live = await view.liveRuns(runs);
    const dead = runs.find((r) => !live.has(r));
    return { live: live.size > 0, ...(dead ? { dead } : {}) };
  };

  const hooks: TaskHooks = {
    nodeSeed: async (run, nodeId, fresh) => {
      await ready();
      const [own] = await q(`SELECT seed FROM node_seeds WHERE run_id = $1 AND node_id = $2`, [run, nodeId]);
      if (own) return { seed: Number(own.seed), reused: true };
      const [earlier] = options.seedsFrom ? await q(`SELECT seed FROM node_seeds WHERE run_id = $1 AND node_id = $2`, [options.seedsFrom, nodeId]) : [];
      const seed = earlier ? Number(earlier.seed) : fresh;
      // A coordinator taking over a run may race the one it replaces: the first seed stays.
      const [kept] = await q(`INSERT INTO node_seeds (run_id, node_id, seed) VALUES ($1, $2, $3) ON CONFLICT (run_id, node_id) DO UPDATE SET seed = node_seeds.seed RETURNING seed`, [run, nodeId, seed]);
      return { seed: Number(kept.seed), reused: earlier !== undefined };
    },

    lookup: async (key): Promise<TaskLookup | undefined> => {
      await ready();
      const [mine] = await q(`SELECT * FROM tasks WHERE run_id = $1 AND request_hash = $2 ORDER BY id DESC LIMIT 1`, [key.runId, key.requestHash]);
      if (mine) {
        const state = mine.state as TaskState;
        if (state === 'done' && !key.regenerate) return { done: result(mine), ...shared(mine) };
        if (state === 'submitted') {
          // Another run may have waited on this task and stored its image already.
          const [collected] =
            mine.task_id && !key.regenerate ? await q(`SELECT * FROM tasks WHERE task_id = $1 AND provider = $2 AND state = 'done' ORDER BY id DESC LIMIT 1`, [mine.task_id, mine.provider]) : [];
          if (collected) return { done: result(collected), ...shared(mine) };
          if (reattach) return { inFlight: JSON.parse(String(mine.task_json)) as TaskRef, ...shared(mine) };
        }
        if (state === 'submitting' && reattach && !options.resubmitAmbiguous) return { interrupted: true };
        if (state === 'failed' && mine.task_id && options.keepFailed && !key.regenerate) {
          return { failed: { code: String(mine.error_code ?? 'provider_failed'), message: String(mine.error_message ?? 'failed') } };
        }
      }
      if (!cache || !key.cacheable) return undefined;
      const [hit] = key.regenerate ? [] : await q(`SELECT * FROM tasks WHERE request_hash = $1 AND state = 'done' ORDER BY id DESC LIMIT 1`, [key.requestHash]);
      if (hit && hit.run_id === key.runId) return { done: result(hit) };
      if (hit) {
        // Another run's finished task: recorded under this run as shared ($0 here), as the SQLite ledger does.
        const task = hit.task_json ? (JSON.parse(String(hit.task_json)) as TaskRef) : undefined;
        const [ins] = await q(INSERT, values(key, 'done', task, { costMicros: 0, shared: true }));
        await q(`UPDATE tasks SET result_hash = $1, result_json = $2 WHERE id = $3`, [hit.result_hash, hit.result_json, ins.id]);
        return { done: result(hit), shared: true };
      }
      if (!reattach) return undefined;
      const [flying] = await q(`SELECT * FROM tasks WHERE request_hash = $1 AND state = 'submitted' ORDER BY id DESC LIMIT 1`, [key.requestHash]);
      if (flying) return { inFlight: JSON.parse(String(flying.task_json)) as TaskRef, ...(flying.run_id !== key.runId ? { shared: true } : {}) };
      const others = await othersSubmitting(q, key);
      if (others.live) return { busyElsewhere: true };
      // The run that was sending it is gone: its submit is ambiguous now.
      if (others.dead) return { interrupted: true, interruptedRun: others.dead };
      return undefined;
    },

    submitting: async (key) => {
      await ready();
      return view.tx(async (tq) => {
        await tq(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [key.requestHash]);
        if (cache && key.cacheable && reattach) {
          // A result another run finished meanwhile counts too, unless it is the damaged one being replaced.
          const states = key.regenerate ? `state = 'submitted'` : `state IN ('submitted', 'done')`;
          const [settled] = await tq(`SELECT id FROM tasks WHERE request_hash = $1 AND run_id != $2 AND ${states} LIMIT 1`, [key.requestHash, key.runId]);
          if (settled || (await othersSubmitting(tq, key)).live) return 'elsewhere' as const;
        }
        // Sending an ambiguous submit again: the old intent stays (it may have been paid), marked as superseded.
        if (options.resubmitAmbiguous) {
          await tq(`UPDATE tasks SET error_code = 'resubmitted', updated_at = $1 WHERE run_id = $2 AND request_hash = $3 AND state = 'submitting' AND error_code IS NULL`, [now(), key.runId, key.requestHash]);
        }
        // A shared result whose stored bytes were damaged is made again, and paid, by this run.
        if (key.regenerate) await tq(`DELETE FROM tasks WHERE run_id = $1 AND request_hash = $2 AND shared AND state = 'done'`, [key.runId, key.requestHash]);
        // A spending cap this call would pass refuses the claim: nothing recorded, nothing sent.
        await pgCheckCaps(tq, options.owner, key);
        await tq(INSERT, values(key, 'submitting'));
        return 'claimed' as const;
      });
    },

    submitted: async (key, task) => {
      await view.tx(async (tq) => {
        const open = await openRow(tq, key);
        const v = values(key, 'submitted', task);
        if (open) {
          await tq(`UPDATE tasks SET state = 'submitted', task_id = $1, polling_url = $2, task_json = $3, cost_micros = $4, cost_estimated = $5, submitted_at = $6, updated_at = $6 WHERE id = $7`, [
            v[13],
            v[14],
            v[15],
            v[16],
            v[17],
            now(),
            open.id,
          ]);
        } else await tq(INSERT, v);
      });
    },

    completed: async (key, task, record) => {
      await view.tx(async (tq) => {
        const [byTask] = await tq(`SELECT id FROM tasks WHERE run_id = $1 AND request_hash = $2 AND task_id = $3 ORDER BY id DESC LIMIT 1`, [key.runId, key.requestHash, task.taskId]);
        const target = byTask ?? (await openRow(tq, key));
        if (target) {
          const reported = record.costUsd ?? task.costUsd;
          await tq(`UPDATE tasks SET state = 'done', result_hash = $1, result_json = $2, cost_micros = $3, cost_estimated = $4, task_json = $5, task_id = $6, updated_at = $7 WHERE id = $8`, [
            record.hash,
            JSON.stringify(record),
            reported === undefined ? null : toMicros(reported),
            record.costEstimated === true,
            JSON.stringify(task),
            task.taskId,
            now(),
            target.id,
          ]);
        } else {
          // Re-attached to another run's task: recorded under this run too, as shared ($0 here).
          const [ins] = await tq(INSERT, values(key, 'done', task, { costMicros: 0, shared: true }));
          await tq(`UPDATE tasks SET result_hash = $1, result_json = $2 WHERE id = $3`, [record.hash, JSON.stringify(record), ins.id]);
        }
      });
    },

    failed: async (key, task, error) => {
      // An ambiguous submit stays "submitting"; a task that may still finish stays "submitted".
      if (error.code === 'ambiguous_submit' || error.code === 'aborted' || error.details?.resumable === true) return;
      await view.tx(async (tq) => {
        const open = await openRow(tq, key);
        if (open) await tq(`UPDATE tasks SET state = 'failed', error_code = $1, error_message = $2, updated_at = $3 WHERE id = $4`, [error.code, error.message, now(), open.id]);
        else if (task?.taskId) {
          const [ins] = await tq(INSERT, values(key, 'failed', task));
          await tq(`UPDATE tasks SET error_code = $1, error_message = $2 WHERE id = $3`, [error.code, error.message, ins.id]);
        }
      });
    },

    runMoney: (id) => view.moneyOf(id),

    savedFiles: async (run, nodeId, item) =>
      (await q(`SELECT path, image_hash, file_sha256 FROM files WHERE run_id = $1 AND node_id = $2 AND item = $3 ORDER BY created_at`, [run, nodeId, item])).map(
        (r): SavedFile => ({ path: String(r.path), imageHash: String(r.image_hash), fileSha256: String(r.file_sha256) }),
      ),

    fileSaved: async (run, nodeId, item, file) => {
      await q(`INSERT INTO files (run_id, node_id, item, path, image_hash, file_sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6, ${NOW_MS}) ON CONFLICT DO NOTHING`, [
        run,
        nodeId,
        item,
        file.path,
        file.imageHash,
        file.fileSha256,
      ]);
    },
  };
  // A write that fails names the ledger and says why.
  for (const name of ['submitting', 'submitted', 'completed', 'failed', 'fileSaved'] as const) {
    const write = hooks[name] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (!write) continue;
    (hooks as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      try {
        return await write(...args);
      } catch (e) {
        // A refusal (a spending cap) is the call's outcome, not a broken ledger.
        if (isEngineError(e)) throw e;
        throw new EngineError('io', `the Postgres ledger at ${view.shown} could not be written: ${(e as Error).message}`, {}, { cause: e });
      }
    };
  }
  return hooks;
}
