/**
 * The queue of runs as its users see it (`run --queue`, `serve --queue`, `fluxgraph queue`):
 * enqueue a run, list what waits and what runs, pause and resume taking new runs, cancel a run,
 * queue a stopped run again. The runs themselves are run by workers' coordinators (coordinator.ts).
 */
import { Queue, type Job } from 'bullmq';
import { EngineError } from '../core/errors';
import type { RunSummary } from '../core/events';
import type { RunRecord } from '../store/ledger';
import type { PgLedger } from '../store/pg-ledger';
import { clearCancel, requestCancel } from './cancel';
import { connectRedis, type RedisHandle } from './redis';
import { appendRunEvent } from './run-events';
import { bullPriority, RUNS_QUEUE, type RunJobData, type RunJobResult } from './run-job';

export type QueuedState = 'running' | 'queued' | 'paused';

export interface QueuedRun {
  runId: string;
  state: QueuedState;
  name?: string;
  /** The person who started it, and their team. */
  owner?: string;
  team?: string;
  priority: number;
  attempt: number;
  enqueuedAt: number;
  startedAt?: number;
}

const WAITING_STATES = ['waiting', 'prioritized', 'delayed', 'paused', 'waiting-children'];
const KEEP_FINISHED = { age: 7 * 24 * 3600, count: 5000 };

export class RunQueue {
  private constructor(
    readonly handle: RedisHandle,
    readonly queue: Queue<RunJobData, RunJobResult>,
  ) {}

  /** Connects and checks Redis (one clear line when it is unreachable or may evict jobs). */
  static async open(redisUrl: string): Promise<RunQueue> {
    const handle = await connectRedis(redisUrl);
    return new RunQueue(handle, new Queue<RunJobData, RunJobResult>(RUNS_QUEUE, { connection: { url: redisUrl, maxRetriesPerRequest: null } }));
  }

  get redis() {
    return this.handle.redis;
  }

  async enqueue(data: RunJobData): Promise<void> {
    const existing = await this.queue.getJob(data.runId);
    if (existing) {
      const state = await existing.getState();
      if (state === 'active' || WAITING_STATES.includes(state)) throw new EngineError('usage', `run ${data.runId} is already in the queue (${state === 'active' ? 'running' : 'queued'})`);
      // A finished attempt's job keeps the id: the new attempt replaces it.
      await existing.remove();
    }
    await clearCancel(this.redis, data.runId);
    await this.queue.add('run', data, { jobId: data.runId, priority: bullPriority(data.priority), removeOnComplete: KEEP_FINISHED, removeOnFail: KEEP_FINISHED });
  }

  job(runId: string): Promise<Job<RunJobData, RunJobResult> | undefined> {
    return this.queue.getJob(runId);
  }

  /** Runs being coordinated, then the queued ones in the order they will start. */
  async list(): Promise<QueuedRun[]> {
    const paused = await this.queue.isPaused();
    const [active, waiting] = await Promise.all([this.queue.getJobs(['active']), this.queue.getJobs(WAITING_STATES as never[])]);
    const entry = (j: Job<RunJobData, RunJobResult>, state: QueuedState): QueuedRun => ({
      runId: j.data.runId,
      state,
      ...(j.data.pipeline.name ? { name: j.data.pipeline.name } : {}),
      ...(j.data.owner ? { owner: j.data.owner.person, ...(j.data.owner.team ? { team: j.data.owner.team } : {}) } : {}),
      priority: j.data.priority,
      attempt: j.data.attempt,
      enqueuedAt: j.data.enqueuedAt,
      ...(j.processedOn ? { startedAt: j.processedOn } : {}),
    });
    const queued = waiting.filter(Boolean).map((j) => entry(j, paused ? 'paused' : 'queued'));
    queued.sort((a, b) => b.priority - a.priority || a.enqueuedAt - b.enqueuedAt);
    return [...active.filter(Boolean).map((j) => entry(j, 'running')), ...queued];
  }

  isPaused(): Promise<boolean> {
    return this.queue.isPaused();
  }

  /** No new run starts on any worker; runs already going go on. */
  pause(): Promise<void> {
    return this.queue.pause();
  }

  resume(): Promise<void> {
    return this.queue.resume();
  }

  /**
   * Cancels a run: one still queued is taken out and recorded as cancelled (nothing was spent); one
   * running stops as a local run stops on Ctrl-C. Returns what it was.
   */
  async cancel(runId: string, ledger: PgLedger): Promise<'queued' | 'running' | 'not-queued'> {
    const job = await this.queue.getJob(runId);
    const state = job ? await job.getState() : 'unknown';
    if (!job || (state !== 'active' && !WAITING_STATES.includes(state))) return 'not-queued';
    await requestCancel(this.redis, runId);
    if (state === 'active') return 'running';
    // A worker may take it between the look and the removal: its coordinator then sees the cancel.
    if (!(await job.remove().then(() => true, () => false))) return 'running';
    const d = job.data;
    await ledger.recordUnstarted({ runId, pipeline: d.pipeline, ...(d.pipelinePath ? { pipelinePath: d.pipelinePath } : {}), options: storedOptionsOf(d), ...(d.owner ? { owner: d.owner } : {}) }, 'cancelled');
    await appendRunEvent(this.redis, runId, { type: 'runDone', runId, at: Date.now(), summary: unstartedSummary(d, 'cancelled') });
    return 'queued';
  }

  /** Queues a stopped run again (resume semantics: what it paid for is read from the ledger). */
  async retry(runId: string, ledger: PgLedger, over: { priority?: number; owner?: RunJobData['owner'] } = {}): Promise<RunJobData> {
    const run = await ledger.getRun(runId);
    const job = await this.queue.getJob(runId);
    const state = job ? await job.getState() : 'unknown';
    if (state === 'active' || WAITING_STATES.includes(state)) throw new EngineError('usage', `run ${runId} is ${state === 'active' ? 'running' : 'queued'} already`);
    if (!run) throw new EngineError('usage', `no run ${runId} in the Postgres ledger (fluxgraph queue list shows queued runs)`);
    if (run.status === 'running') throw new EngineError('usage', `run ${runId} is still running`);
    if (run.status === 'done') throw new EngineError('usage', `run ${runId} finished: there is nothing to retry (start a new run)`);
    const data = jobDataOf(run, job?.data);
    const next: RunJobData = { ...data, attempt: data.attempt + 1, enqueuedAt: Date.now(), ...(over.priority !== undefined ? { priority: over.priority } : {}), ...(over.owner ? { owner: over.owner } : {}) };
    await this.enqueue(next);
    return next;
  }

  async close(): Promise<void> {
    await this.queue.close();
    await this.handle.close();
  }
}

/** The options the ledger keeps for a queued run (a retry reads them back). */
export function storedOptionsOf(d: RunJobData): RunRecord['options'] {
  return {
    ...d.options,
    queue: {
      attempt: d.attempt,
      priority: d.priority,
      ...(d.owner ? { owner: d.owner } : {}),
      ...(d.noCache ? { noCache: true } : {}),
      ...(d.budgetUsd !== undefined ? { budgetUsd: d.budgetUsd } : {}),
      ...(d.taskTimeoutMs !== undefined ? { taskTimeoutMs: d.taskTimeoutMs } : {}),
      ...(d.allowPrivateUrls ? { allowPrivateUrls: true } : {}),
      ...(d.retryFailed ? { retryFailed: true } : {}),
    },
  };
}

/** A run job again from the ledger's record (the queue forgets finished jobs after a week). */
function jobDataOf(run: RunRecord, job: RunJobData | undefined): RunJobData {
  const { queue: q, ...options } = run.options;
  return {
    runId: run.runId,
    attempt: job?.attempt ?? q?.attempt ?? 0,
    ...(q?.owner ? { owner: q.owner } : {}),
    pipeline: run.pipeline,
    ...(run.pipelinePath ? { pipelinePath: run.pipelinePath } : {}),
    options,
    priority: q?.priority ?? 0,
    ...(q?.noCache ? { noCache: true } : {}),
    ...(q?.budgetUsd !== undefined ? { budgetUsd: q.budgetUsd } : {}),
    ...(q?.taskTimeoutMs !== undefined ? { taskTimeoutMs: q.taskTimeoutMs } : {}),
    ...(q?.allowPrivateUrls ? { allowPrivateUrls: true } : {}),
    enqueuedAt: Date.now(),
  };
}

export function unstartedSummary(d: RunJobData, status: RunSummary['status']): RunSummary {
  return {
    runId: d.runId,
    ...(d.pipeline.name ? { pipeline: d.pipeline.name } : {}),
    status,
    startedAt: Date.now(),
    elapsedMs: 0,
    imagesWritten: [],
    failures: [],
    skipped: [],
    warnings: [],
    costUsd: 0,
    costMicros: 0,
    providerCalls: 0,
    nodes: {},
  };
}
