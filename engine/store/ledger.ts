/**
 * The ledger (SQLite, WAL): runs, node seeds, every paid task and every file written. A task's
 * intent row is committed before its submit and updated when the image is stored: that is what
 * lets an interrupted run re-attach to its tasks instead of paying again, what the cache reads,
 * and the one source of a run's money and image counts. Synchronous writes (better-sqlite3) mean
 * a row is on disk before the next await: a kill -9 right after submit still finds it.
 *
 * A run being worked on holds a lease (process id, host, heartbeat); a run whose lease lapsed
 * reads as interrupted, and its submits still marked "submitting" are ambiguous at once.
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { RunSummary } from '../core/events';
import { isRunStatus, type RunMoney, type RunStatus } from '../core/money';
import type { Pipeline } from '../core/pipeline-schema';
import { prepareSchema } from './ledger-schema';
import { ledgerHooks, type HookOptions } from './ledger-hooks';
import { LedgerStatements } from './ledger-statements';
import { LedgerSlots, pidAlive } from './slot-leases';
import { SqliteAccess } from './sqlite-access';
import type { TaskHooks } from '../core/run-options';

export type { HookOptions } from './ledger-hooks';
export { LEDGER_VERSION } from './ledger-schema';

/** States of a paid task. `submitting`: the request may be on the wire (never re-sent blindly). */
export type TaskState = 'submitting' | 'submitted' | 'done' | 'failed';

/** Marks a submit cut off on the wire that `--resubmit-ambiguous` sent again (it stays unconfirmed money). */
export const RESUBMITTED = 'resubmitted';

/** Heartbeat of a run's lease, and how long without one before the run reads as interrupted. */
export const LEASE_HEARTBEAT_MS = 2_000;
export const LEASE_MS = 10_000;

export interface LedgerOptions {
  /** A run without a heartbeat for this long is interrupted (default {@link LEASE_MS}). */
  leaseMs?: number;
  /** SQLite `max_page_count`: a deliberately small database (tests of a full database). */
  maxPageCount?: number;
}

export interface RunRecord extends RunMoney {
  runId: string;
  name: string | null;
  pipelinePath: string | null;
  pipeline: Pipeline;
  options: StoredRunOptions;
  startedAt: number;
  finishedAt: number | null;
  status: RunStatus;
  resumable: boolean;
  /** Cost in USD (exactly `costMicros` / 1e6). */
  costUsd: number;
  failures: number;
  /** The person who started the run (a token's name on a team server); null for local runs. */
  owner: string | null;
  team: string | null;
}

/** What a resume needs to run the same thing again. */
export interface StoredRunOptions {
  variables?: Record<string, string>;
  provider?: string;
  concurrency?: Record<string, number>;
  outDir?: string;
  baseDir?: string;
  only?: string[];
  /** A batch over `--inputs` (absolute path) and its `--rows` slice. */
  inputs?: string;
  rows?: { from: number; to?: number };
  /** The run is a batch: a resume leaves failed rows failed. */
  batch?: boolean;
  /** `--no-cache`: a resume makes new calls too. */
  noCache?: boolean;
  /** Made on the embedded emulator: its images are stand-ins, not FLUX (`runs` marks it). */
  emulator?: boolean;
  /** Team mode: how the run was queued, so `fluxgraph queue retry` can queue it again. */
  queue?: QueuedRunOptions;
}

export interface QueuedRunOptions {
  attempt: number;
  priority: number;
  /** Who started it (a name and team, never a token). */
  owner?: { person: string; team?: string };
  noCache?: boolean;
  budgetUsd?: number;
  taskTimeoutMs?: number;
  allowPrivateUrls?: boolean;
  retryFailed?: boolean;
}

export interface TaskRow {
  id: number;
  runId: string;
  nodeId: string;
  item: number;
  /** The batch row (from 1) the task was made for; null outside a batch. */
  row: number | null;
  requestHash: string;
  provider: string;
  account: string | null;
  model: string;
  state: TaskState;
  taskId: string | null;
  costMicros: number | null;
  costEstimated: boolean;
  /** The pricing table's figure when the intent was recorded (the worst case of an unconfirmed submit). */
  expectedMicros: number | null;
  /** The result came from a task another run submitted (paid there). */
  shared: boolean;
  resultHash: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: number;
  submittedAt: number | null;
  requestJson: string;
}

export interface FileRow {
  runId: string;
  nodeId: string;
  item: number;
  path: string;
  imageHash: string;
  fileSha256: string;
}

export class Ledger {
  readonly leaseMs: number;
  private readonly q: LedgerStatements;
  private readonly host = hostname();
  private readonly leases = new Map<string, ReturnType<typeof setInterval>>();

  private constructor(readonly db: Database.Database, options: LedgerOptions, readonly path: string) {
    this.leaseMs = options.leaseMs ?? LEASE_MS;
    this.q = new LedgerStatements(db);
  }

  static open(path: string, options: LedgerOptions = {}): Ledger {
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      prepareSchema(db, path);
      if (options.maxPageCount !== undefined) db.pragma(`max_page_count = ${options.maxPageCount}`);
    } catch (e) {
      db.close();
      throw e;
    }
    return new Ledger(db, options, path);
  }

  close(): void {
    this.slotGate?.close();
    for (const runId of [...this.leases.keys()]) this.releaseLease(runId);
    this.db.close();
  }

  private slotGate?: LedgerSlots;

  /** Access tokens and spending caps kept in this ledger (a server on one machine). */
  get access(): SqliteAccess {
    return new SqliteAccess(this.db);
  }

  /**
   * Account slots shared with every process using this ledger file: runs given this gate stay,
   * all together, within each account's cap (BFL: 24 active tasks).
   */
  get slots(): LedgerSlots {
    this.slotGate ??= new LedgerSlots(this.db, this.leaseMs);
    return this.slotGate;
  }

  /** Records the run as started by this process and holds its lease until it finishes. */
  startRun(run: { runId: string; pipeline: Pipeline; pipelinePath?: string; options: StoredRunOptions; owner?: { person: string; team?: string } }): void {
    this.q.startRun.run({
      runId: run.runId,
      name: run.pipeline.name ?? null,
      path: run.pipelinePath ?? null,
      pipeline: JSON.stringify(run.pipeline),
      options: JSON.stringify(run.options),
      at: Date.now(),
      pid: process.pid,
      host: this.host,
      owner: run.owner?.person ?? null,
      team: run.owner?.team ?? null,
    });
    this.holdLease(run.runId);
  }

  /** Beats the run's lease every {@link LEASE_HEARTBEAT_MS} (never keeping the process alive for it). */
  holdLease(runId: string, heartbeatMs = Math.min(LEASE_HEARTBEAT_MS, Math.max(50, Math.floor(this.leaseMs / 4)))): void {
    this.releaseLease(runId, false);
    const beat = () => {
      try {
        this.q.beat.run(Date.now(), process.pid, this.host, runId);
      } catch {
        // A busy or full database: the next beat tries again; a lapsed lease only reads as interrupted.
      }
    };
    beat();
    const timer = setInterval(beat, heartbeatMs);
    timer.unref();
    this.leases.set(runId, timer);
  }

  private releaseLease(runId: string, clear = true): void {
    const timer = this.leases.get(runId);
    if (timer) clearInterval(timer);
    this.leases.delete(runId);
    if (clear && this.db.open) this.q.release.run(runId);
  }

  /** Ends a run: its status, its lease released; returns its money as the ledger has it. */
  finishRun(summary: Pick<RunSummary, 'runId' | 'failures'> & { status: Exclude<RunStatus, 'running'> }): RunMoney {
    this.q.finish.run(Date.now(), summary.status, summary.failures.length, summary.runId);
    this.releaseLease(summary.runId);
    return this.moneyOf(summary.runId, true);
  }

  /** Sets a run's status when it ended without a summary (an error, a closed pipe, a crash caught). */
  markRun(runId: string, status: Exclude<RunStatus, 'running'>): void {
    this.releaseLease(runId, false);
    this.q.mark.run(status, Date.now(), runId);
  }

  /** Cost, unconfirmed submits, calls, shared results and images of one run. */
  moneyOf(runId: string, settled = false): RunMoney {
    // `settled`: asked by the process whose invocation just ended, so nothing of it is still on the wire.
    const live = !settled && this.isLive(this.q.lease.get(runId) as LeaseRow | undefined);
    const t = this.q.money.get(runId) as Record<string, number | null>;
    const files = (this.q.fileCount.get(runId) as { n: number }).n;
    const legacy = (this.q.legacyImages.get(runId) as { n: number } | undefined)?.n ?? 0;
    return {
      costMicros: Number(t.cost ?? 0),
      costEstimated: Number(t.estimated ?? 0) > 0,
      // While the run is live its submits are merely on the wire; afterwards nobody knows.
      unconfirmedMicros: live ? 0 : Number(t.unconfirmedMicros ?? 0),
      unconfirmed: live ? 0 : Number(t.unconfirmed ?? 0),
      calls: Number(t.calls ?? 0),
      shared: Number(t.shared ?? 0),
      images: files + legacy,
    };
  }

  /**
   * The requests of a run whose latest attempt the provider accepted and then failed: what
   * `--retry-failed` sends again (and prices before it does).
   */
  failedTasksOf(runId: string): { provider: string; request: Record<string, unknown> }[] {
    const rows = this.db
      .prepare(
        `SELECT t.provider, t.request_json FROM tasks t
         WHERE t.run_id = ? AND t.state = 'failed' AND t.task_id IS NOT NULL
           AND t.id = (SELECT MAX(id) FROM tasks u WHERE u.run_id = t.run_id AND u.request_hash = t.request_hash)`,
      )
      .all(runId) as { provider: string; request_json: string }[];
    return rows.map((r) => ({ provider: r.provider, request: JSON.parse(r.request_json) as Record<string, unknown> }));
  }

  getRun(runId: string): RunRecord | undefined {
    const row = this.q.getRun.get(runId) as Record<string, unknown> | undefined;
    return row ? this.toRun(row) : undefined;
  }

  listRuns(limit = 50): RunRecord[] {
    return (this.q.listRuns.all(limit) as Record<string, unknown>[]).map((r) => this.toRun(r));
  }

  /** The latest finished or interrupted run of the same pipeline file (or name), for run-to-here. */
  latestRunOf(pipeline: { path?: string; name?: string }, except?: string): RunRecord | undefined {
    const row = this.q.latestOf.get(except ?? '', pipeline.path ?? null, pipeline.path ?? null, pipeline.name ?? null, pipeline.name ?? null) as Record<string, unknown> | undefined;
    return row ? this.toRun(row) : undefined;
  }

  tasksOf(runId: string): TaskRow[] {
    return (this.q.tasksOf.all(runId) as Record<string, unknown>[]).map(toTask);
  }

  /** Submits of a run cut off on the wire: maybe accepted and charged, maybe not. */
  ambiguousOf(runId: string): TaskRow[] {
    return this.tasksOf(runId).filter((t) => t.state === 'submitting' && t.errorCode !== RESUBMITTED);
  }

  filesOf(runId: string): FileRow[] {
    return this.q.filesOf.all(runId) as FileRow[];
  }

  /** Is a process still working on this run (its lease beats)? */
  isRunLive(runId: string): boolean {
    const lease = this.q.lease.get(runId) as LeaseRow | undefined;
    // A run the ledger has no record of (hooks used without startRun) cannot be known dead.
    return lease === undefined || this.isLive(lease);
  }

  private isLive(lease: LeaseRow | undefined): boolean {
    if (!lease || lease.status !== 'running' || lease.lease_at === null) return false;
    if (Date.now() - lease.lease_at > this.leaseMs) return false;
    // On this machine a dead process is known at once, before its lease runs out.
    if (lease.lease_host === this.host && lease.lease_pid !== null && !pidAlive(lease.lease_pid)) return false;
    return true;
  }

  /**
   * What `prune` would do for runs started before `before`: which runs it forgets and which stored
   * results stay referenced afterwards. A live run, and a resumable run that still refers to a
   * task in flight or a stored result, are never forgotten; a run resumed to done can be.
   */
  prunePlan(before: number): { forget: string[]; keepHashes: Set<string>; liveSince: number | undefined } {
    return this.db
      .transaction(() => {
        const runs = this.q.allRuns.all() as Record<string, unknown>[];
        const forget: string[] = [];
        let liveSince: number | undefined;
        for (const r of runs) {
          const run = this.toRun(r);
          if (run.status === 'running') liveSince = Math.min(liveSince ?? Infinity, run.startedAt);
          if (run.startedAt >= before || run.status === 'running') continue;
          if (run.status === 'done' || !(this.q.holdsWork.get(run.runId) as unknown)) forget.push(run.runId);
        }
        const gone = new Set(forget);
        const keepHashes = new Set((this.q.hashes.all() as { run_id: string; h: string }[]).filter((x) => !gone.has(x.run_id)).map((x) => x.h));
        return { forget, keepHashes, liveSince };
      })
      .deferred();
  }

  /** Forgets runs (their tasks, seeds and file records). */
  forgetRuns(runIds: readonly string[]): number {
    this.db.transaction((ids: readonly string[]) => {
      for (const id of ids) for (const stmt of this.q.forget) stmt.run(id);
    })(runIds);
    return runIds.length;
  }

  /** Forgets what {@link prunePlan} allows for runs started before `before`. */
  forgetRunsBefore(before: number): number {
    return this.forgetRuns(this.prunePlan(before).forget);
  }

  /** Hashes of every stored result the ledger still points at (for pruning the store). */
  referencedHashes(): Set<string> {
    return new Set((this.q.hashes.all() as { h: string }[]).map((r) => r.h));
  }

  /** The seed each node drew in a run. */
  nodeSeedsOf(runId: string): Record<string, number> {
    const rows = this.q.seedsOf.all(runId) as { node_id: string; seed: number }[];
    return Object.fromEntries(rows.map((r) => [r.node_id, r.seed]));
  }

  /** The engine's hooks for one run. */
  hooks(runId: string, options: HookOptions = {}): TaskHooks {
    return ledgerHooks(this.q, runId, options, {
      path: this.path,
      moneyOf: (id) => this.moneyOf(id, true),
      otherRunLive: (id) => this.isRunLive(id),
    });
  }

  private toRun(row: Record<string, unknown>): RunRecord {
    const runId = String(row.run_id);
    const stored = String(row.status);
    const lease = { status: stored, lease_pid: row.lease_pid as number | null, lease_host: row.lease_host as string | null, lease_at: row.lease_at as number | null };
    // "running" without a live lease: the process died (or an old file's run never finished).
    const status: RunStatus = stored === 'running' ? (this.isLive(lease) ? 'running' : 'interrupted') : isRunStatus(stored) ? stored : 'interrupted';
    const money = this.moneyOf(runId);
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

interface LeaseRow {
  status: string;
  lease_pid: number | null;
  lease_host: string | null;
  lease_at: number | null;
}


export function toTask(row: Record<string, unknown>): TaskRow {
  return {
    id: Number(row.id),
    runId: String(row.run_id),
    nodeId: String(row.node_id),
    item: Number(row.item),
    row: row.row_n === null || row.row_n === undefined ? null : Number(row.row_n),
    requestHash: String(row.request_hash),
    provider: String(row.provider),
    account: (row.account as string | null) ?? null,
    model: String(row.model),
    state: row.state as TaskState,
    taskId: (row.task_id as string | null) ?? null,
    costMicros: row.cost_micros === null || row.cost_micros === undefined ? null : Number(row.cost_micros),
    costEstimated: Number(row.cost_estimated ?? 0) === 1,
    expectedMicros: row.expected_micros === null || row.expected_micros === undefined ? null : Number(row.expected_micros),
    shared: Number(row.shared ?? 0) === 1,
    resultHash: (row.result_hash as string | null) ?? null,
    errorCode: (row.error_code as string | null) ?? null,
    errorMessage: (row.error_message as string | null) ?? null,
    createdAt: Number(row.created_at),
    submittedAt: row.submitted_at === null || row.submitted_at === undefined ? null : Number(row.submitted_at),
    requestJson: String(row.request_json),
  };
}
