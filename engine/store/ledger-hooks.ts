/**
 * The engine's task hooks on the SQLite ledger: record the intent before the submit, the task
 * after it, the result when it is stored; answer what a request already has (a stored result, a
 * task in flight, a submit cut off on the wire). Async on purpose: team mode implements the same
 * contract on Postgres.
 */
import { dirname } from 'node:path';
import { EngineError, isEngineError } from '../core/errors';
import { toMicros, type RunMoney } from '../core/money';
import type { GeneratedImageRecord, SavedFile, TaskHooks, TaskKey, TaskLookup, TaskRef } from '../core/run-options';
import type { LedgerStatements } from './ledger-statements';
import type { TaskState } from './ledger';
import type { CapScope } from './access';
import { checkCap, windowsParams, type CapRow, type Spent } from './cap-check';

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
  /** Send this run's submits that were cut off on the wire again (`--resubmit-ambiguous`). */
  resubmitAmbiguous?: boolean;
  /** A resumed batch leaves the tasks that failed failed (`--retry-failed` sends them again). */
  keepFailed?: boolean;
  /** Whose money the run spends: recorded on each task, and checked against their spending caps at each claim. */
  owner?: { person: string; team?: string };
}

interface LedgerView {
  path: string;
  moneyOf(runId: string): RunMoney;
  otherRunLive(runId: string): boolean;
}

type Row = Record<string, unknown>;

export function ledgerHooks(q: LedgerStatements, runId: string, options: HookOptions, view: LedgerView): TaskHooks {
  const cache = options.cache !== false;
  const reattach = options.reattach !== false;
  const now = () => Date.now();
  // A run that borrows an earlier run's seeds keeps all of them, also for nodes it leaves out,
  // so a later run from this one still finds the same requests.
  if (options.seedsFrom) q.seedCopy.run(runId, options.seedsFrom);

  const row = (key: TaskKey, state: TaskState, task?: TaskRef) => {
    const expected = key.expectedUsd === undefined ? null : toMicros(key.expectedUsd);
    const reported = task?.costUsd === undefined ? null : toMicros(task.costUsd);
    return {
      runId: key.runId,
      nodeId: key.nodeId,
      item: key.item,
      row: key.row ?? null,
      requestHash: key.requestHash,
      provider: key.provider,
      account: key.account ?? null,
      model: key.request.model,
      nodeType: key.nodeType,
      nodeVersion: key.nodeVersion,
      cacheable: key.cacheable ? 1 : 0,
      requestJson: JSON.stringify(key.request),
      state,
      taskId: task?.taskId ?? null,
      pollingUrl: task?.pollingUrl ?? null,
      taskJson: task ? JSON.stringify(task) : null,
      costMicros: reported ?? (task ? expected : null),
      costEstimated: reported === null && task && expected !== null ? 1 : 0,
      expectedMicros: expected,
      shared: 0,
      at: now(),
      submittedAt: task ? now() : null,
      person: options.owner?.person ?? null,
      team: options.owner?.team ?? null,
    };
  };

  /** The caps of the run's owner and team, against what they spent (in the claim's transaction). */
  const checkCaps = (key: TaskKey) => {
    const owner = options.owner;
    if (!owner) return;
    const expected = key.expectedUsd === undefined ? 0 : toMicros(key.expectedUsd);
    const windows = windowsParams();
    const scopes: [CapScope, string | undefined, typeof q.spentPerson][] = [
      ['person', owner.person, q.spentPerson],
      ['team', owner.team, q.spentTeam],
    ];
    for (const [scope, name, spentOf] of scopes) {
      if (!name) continue;
      const cap = q.capGet.get(scope, name) as CapRow | undefined;
      if (cap) checkCap(scope, name, cap, spentOf.get({ name, ...windows }) as Spent, expected);
    }
  };
  const result = (r: Row) => JSON.parse(String(r.result_json)) as GeneratedImageRecord;

  /** Submits of other runs on the wire for this request: live ones are busy, dead ones ambiguous. */
  const othersSubmitting = (key: TaskKey): { live: boolean; dead?: string } => {
    const runs = (q.submittingElsewhere.all(key.requestHash, key.runId) as { run_id: string }[]).map((r) => r.run_id);
    const dead = runs.find((r) => !view.otherRunLive(r));
    return { live: runs.some((r) => view.otherRunLive(r)), ...(dead ? { dead } : {}) };
  };

  const hooks: TaskHooks = {
    nodeSeed: async (run, nodeId, fresh) => {
      const own = q.seedGet.get(run, nodeId) as { seed: number } | undefined;
      if (own) return { seed: own.seed, reused: true };
      const earlier = options.seedsFrom ? (q.seedGet.get(options.seedsFrom, nodeId) as { seed: number } | undefined) : undefined;
      const seed = earlier?.seed ?? fresh;
      q.seedPut.run(run, nodeId, seed);
      return { seed, reused: earlier !== undefined };
    },

    lookup: async (key): Promise<TaskLookup | undefined> => {
      const mine = q.latest.get(key.runId, key.requestHash) as Row | undefined;
      if (mine) {
        const state = mine.state as TaskState;
        if (state === 'done' && !key.regenerate) return { done: result(mine), ...(mine.shared ? { shared: true } : {}) };
        if (state === 'submitted') {
          // Another run may have waited on this task and stored its image already.
          const collected = mine.task_id && !key.regenerate ? (q.doneByTask.get(mine.task_id, mine.provider) as Row | undefined) : undefined;
          if (collected) return { done: result(collected), ...(mine.shared ? { shared: true } : {}) };
          if (reattach) return { inFlight: JSON.parse(String(mine.task_json)) as TaskRef, ...(mine.shared ? { shared: true } : {}) };
        }
        if (state === 'submitting' && reattach && !options.resubmitAmbiguous) return { interrupted: true };
        // Only a task the provider accepted and then failed (moderated, errored): a refused or
        // budget-stopped submit never ran, so the resume sends it.
        if (state === 'failed' && mine.task_id && options.keepFailed && !key.regenerate) {
          return { failed: { code: String(mine.error_code ?? 'provider_failed'), message: String(mine.error_message ?? 'failed') } };
        }
      }
      if (!cache || !key.cacheable) return undefined;
      const hit = key.regenerate ? undefined : (q.cached.get(key.requestHash) as Row | undefined);
      if (hit && hit.run_id === key.runId) return { done: result(hit) };
      if (hit) {
        // Another run's finished task: recorded under this run as shared ($0 here), as a re-attached
        // task is, so the summary and `runs` show it shared whichever run finished first.
        const task = hit.task_json ? (JSON.parse(String(hit.task_json)) as TaskRef) : undefined;
        const info = q.insert.run({ ...row(key, 'done', task), costMicros: 0, costEstimated: 0, shared: 1 });
        q.setError.run(null, null, hit.result_hash, hit.result_json, info.lastInsertRowid);
        return { done: result(hit), shared: true };
      }
      if (!reattach) return undefined;
      const flying = q.inFlightAnywhere.get(key.requestHash) as Row | undefined;
      if (flying) return { inFlight: JSON.parse(String(flying.task_json)) as TaskRef, ...(flying.run_id !== key.runId ? { shared: true } : {}) };
      const others = othersSubmitting(key);
      if (others.live) return { busyElsewhere: true };
      // The run that was sending it is gone: its submit is ambiguous now, not in three minutes.
      if (others.dead) return { interrupted: true, interruptedRun: others.dead };
      return undefined;
    },

    // Claims the request and records the intent in one transaction, so two runs sharing the
    // ledger never both send the same cacheable request.
    submitting: async (key) =>
      q.db
        .transaction((): 'claimed' | 'elsewhere' => {
          if (cache && key.cacheable && reattach) {
            // A result another run finished meanwhile counts too, unless it is the damaged one being replaced.
            const settled = (key.regenerate ? q.inFlightElsewhere : q.settledElsewhere).get(key.requestHash, key.runId);
            if (settled || othersSubmitting(key).live) return 'elsewhere';
          }
          // Sending an ambiguous submit again: the old intent stays (it may have been paid), marked as superseded.
          if (options.resubmitAmbiguous) q.supersede.run(now(), key.runId, key.requestHash);
          // A shared result whose stored bytes were damaged is made again, and paid, by this run.
          if (key.regenerate) q.dropShared.run(key.runId, key.requestHash);
          // A spending cap that this call would pass refuses the claim: nothing recorded, nothing sent.
          checkCaps(key);
          q.insert.run(row(key, 'submitting'));
          return 'claimed';
        })
        .immediate(),

    submitted: async (key, task) => {
      const open = q.open.get(key.runId, key.requestHash) as { id: number } | undefined;
      const r = row(key, 'submitted', task);
      if (open) q.markSubmitted.run({ id: open.id, taskId: r.taskId, pollingUrl: r.pollingUrl, taskJson: r.taskJson, costMicros: r.costMicros, costEstimated: r.costEstimated, at: r.at });
      else q.insert.run(r);
    },

    completed: async (key, task, record) => {
      const target = (q.byTaskId.get(key.runId, key.requestHash, task.taskId) ?? q.open.get(key.runId, key.requestHash)) as { id: number } | undefined;
      const at = now();
      if (target) {
        const reported = record.costUsd ?? task.costUsd;
        q.complete.run({
          id: target.id,
          hash: record.hash,
          json: JSON.stringify(record),
          costMicros: reported === undefined ? null : toMicros(reported),
          costEstimated: record.costEstimated ? 1 : 0,
          taskJson: JSON.stringify(task),
          taskId: task.taskId,
          at,
        });
      } else {
        // Re-attached to another run's task: the result is recorded under this run too, as shared ($0 here).
        const info = q.insert.run({ ...row(key, 'done', task), costMicros: 0, costEstimated: 0, shared: 1 });
        q.setError.run(null, null, record.hash, JSON.stringify(record), info.lastInsertRowid);
      }
    },

    failed: async (key, task, error) => {
      // An ambiguous submit stays "submitting": a resume must not send it again. A task that may
      // still finish (timeout, poll errors, a result that could not be recorded) stays
      // "submitted": a resume waits on it again.
      if (error.code === 'ambiguous_submit' || error.code === 'aborted' || error.details?.resumable === true) return;
      const target = q.open.get(key.runId, key.requestHash) as { id: number } | undefined;
      if (target) q.fail.run(error.code, error.message, now(), target.id);
      else if (task?.taskId) {
        const info = q.insert.run(row(key, 'failed', task));
        q.setError.run(error.code, error.message, null, null, info.lastInsertRowid);
      }
    },

    runMoney: async (id) => view.moneyOf(id),

    savedFiles: async (run, nodeId, item) => q.fileGet.all(run, nodeId, item) as SavedFile[],

    fileSaved: async (run, nodeId, item, file) => {
      q.filePut.run(run, nodeId, item, file.path, file.imageHash, file.fileSha256, now());
    },
  };
  // A write that fails names the ledger and says why (a full disk or database above all).
  for (const name of ['submitting', 'submitted', 'completed', 'failed', 'fileSaved'] as const) {
    const write = hooks[name] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (!write) continue;
    (hooks as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      try {
        return await write(...args);
      } catch (e) {
        // A refusal (a spending cap) is the call's outcome, not a broken ledger.
        throw isEngineError(e) ? e : ledgerWriteError(e, view.path);
      }
    };
  }
  return hooks;
}

function ledgerWriteError(e: unknown, path: string): EngineError {
  const code = (e as { code?: string }).code ?? '';
  const full = code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_WRITE' || /ENOSPC|full/i.test(String((e as Error).message));
  return new EngineError(
    'io',
    full ? `the ledger ${path} is full (${code || 'no space'}): free space in ${dirname(path)}` : `the ledger ${path} could not be written: ${(e as Error).message}`,
    {},
    { cause: e },
  );
}
