/**
 * The worker side of the "runs" queue: takes run jobs (highest priority first) and coordinates
 * each (coordinator.ts). A worker that dies loses its lock and the job is re-delivered to another
 * worker, which continues the run; a worker that is stopped (SIGTERM) hands its runs back to the
 * queue at once and takes no new ones.
 */
import { WaitingError, Worker, type Job } from 'bullmq';
import { coordinateRun, HANDED_OFF, type CoordinatorHost } from './coordinator';
import { RUNS_QUEUE, type RunJobData, type RunJobResult } from './run-job';

export interface RunWorkerOptions {
  redisUrl: string;
  host: CoordinatorHost;
  /** Runs coordinated at once by this process. */
  concurrency: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  onLine?(line: string): void;
}

export interface RunWorkers {
  close(): Promise<void>;
}

/** A run's coordinator may die many times (machines come and go); each time another continues it. */
const MAX_STALLS = 50;

export async function startRunWorkers(o: RunWorkerOptions): Promise<RunWorkers> {
  const stopping = new AbortController();
  const processor = async (job: Job<RunJobData, RunJobResult>, token?: string): Promise<RunJobResult> => {
    o.onLine?.(`run ${job.data.runId}: coordinating${job.data.attempt ? ` (attempt ${job.data.attempt + 1})` : ''}`);
    const out = await coordinateRun(job, o.host, stopping.signal);
    if (out === HANDED_OFF) {
      // Back to the queue now, for another worker: the same job, its priority kept.
      await job.moveToWait(token);
      throw new WaitingError();
    }
    o.onLine?.(`run ${job.data.runId}: ${out.status}`);
    return out;
  };
  const worker = new Worker<RunJobData, RunJobResult>(RUNS_QUEUE, processor, {
    connection: { url: o.redisUrl, maxRetriesPerRequest: null },
    name: `fluxgraph-coordinator-${process.pid}`,
    concurrency: o.concurrency,
    maxStalledCount: MAX_STALLS,
    ...(o.lockDurationMs ? { lockDuration: o.lockDurationMs } : {}),
    ...(o.stalledIntervalMs ? { stalledInterval: o.stalledIntervalMs } : {}),
  });
  worker.on('error', (e) => o.onLine?.(`runs worker: ${e.message}`));
  worker.on('failed', (job, e) => {
    if (!(e instanceof WaitingError) && job) o.onLine?.(`run ${job.data.runId}: the run job failed: ${e.message}`);
  });
  await worker.waitUntilReady();
  o.onLine?.(`taking run jobs (${o.concurrency} at once)`);
  return {
    async close() {
      // Runs in hand go back to the queue; nothing new is taken.
      stopping.abort();
      await worker.close();
    },
  };
}
