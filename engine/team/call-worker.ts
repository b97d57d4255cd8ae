/**
 * The worker side of team mode: one BullMQ worker per provider account, each taking call jobs
 * from its account's queue. The queue's global concurrency is the account's cap, so however many
 * workers run on however many machines, the account never has more active tasks than its cap.
 *
 * A job is the whole paid call — claim, submit, wait, download, store — run through the same
 * `ProviderCalls` a local run uses, with the ledger's hooks: the claim is committed before the
 * submit, so a job re-delivered after its worker died re-attaches to the recorded task (or
 * reports `ambiguous_submit`) and never pays twice. A 429 pauses the account's queue for every
 * worker (BullMQ's manual rate limit) and honours Retry-After.
 */
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { EngineError, toEngineError } from '../core/errors';
import { Lanes } from '../core/lanes';
import type { ImageRequest, ProviderSet, ReferenceImage } from '../core/provider';
import type { ReferenceResolver } from '../core/references';
import { ProviderCalls } from '../core/provider-calls';
import type { TaskHooks } from '../core/run-options';
import type { ArtifactStore } from '../core/store';
import { connectRedis } from './redis';
import { ACCOUNT_TTL_MS, accountKey, callQueueName, cancelKey, encodeFailure, type CallJobData, type CallJobProgress, type CallJobResult } from './call-job';

export interface WorkerAccount {
  provider: string;
  name: string;
  cap: number;
  /** Adapters that call with this account's key (the key never leaves this process). */
  providers: ProviderSet;
}

export interface CallWorkerOptions {
  redisUrl: string;
  accounts: WorkerAccount[];
  store: ArtifactStore;
  /** The ledger's hooks for a run; undefined only in the negative control of the tests. */
  tasksFor(runId: string, o: { account: string; cache: boolean; keepFailed?: boolean; resubmitAmbiguous?: boolean; owner?: { person: string; team?: string } }): TaskHooks | undefined;
  /** The pricing table: a claim records what the call is expected to cost (the worst case of an ambiguous submit). */
  priceOf?: (providerId: string, request: ImageRequest) => number | undefined;
  /** Public URLs for references of URL-only providers (one resolver per call job). */
  references?: () => ReferenceResolver;
  /** Jobs this process works on at once per account (the global cap still holds). */
  concurrency?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Times a job may stall (its worker died) before BullMQ moves it to failed; the coordinator then sends it again. */
  maxStalledCount?: number;
  /** Leave the queue's global concurrency alone (the tests' negative control). */
  noGlobalCap?: boolean;
  onLine?(line: string): void;
}

/** Statuses worth a Redis write each: the steps of a call, not every poll. */
const RELAYED = /^(submitting|submitted|preparing references|waiting for another run.*|rate limited.*)$/;

export interface CallWorkers {
  close(): Promise<void>;
}

export async function startCallWorkers(o: CallWorkerOptions): Promise<CallWorkers> {
  const connection = { url: o.redisUrl, maxRetriesPerRequest: null };
  const redis = await connectRedis(o.redisUrl);
  for (const w of redis.warnings) o.onLine?.(`warning: ${w}`);
  const queues: Queue[] = [];
  const workerId = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const announced: { key: string; cap: number }[] = [];
  const announce = () => Promise.all(announced.map((a) => redis.redis.set(a.key, String(a.cap), 'PX', ACCOUNT_TTL_MS)));
  const workers: Worker[] = [];
  // In-process lanes are unlimited here: the queue's global concurrency is the cap.
  const lanes = new Lanes(() => Number.POSITIVE_INFINITY);
  for (const account of o.accounts) {
    const name = callQueueName(account.provider, account.name);
    const queue = new Queue(name, { connection });
    queues.push(queue);
    if (!o.noGlobalCap) await queue.setGlobalConcurrency(account.cap);
    announced.push({ key: accountKey(account.provider, account.name, workerId), cap: account.cap });

    let worker: Worker;
    const processor = async (job: Job<CallJobData, CallJobResult>, _token?: string, signal?: AbortSignal): Promise<CallJobResult> => {
      const d = job.data;
      // A run cancelled in the queue sends nothing more; what is already on the wire was recorded.
      if (await redis.redis.exists(cancelKey(d.call.runId))) throw new UnrecoverableError(encodeFailure(new EngineError('aborted', 'the run was cancelled')));
      const tasks = o.tasksFor(d.call.runId, { account: account.name, cache: d.cache, ...d.ledger, ...(d.owner ? { owner: d.owner } : {}) });
      const resolver = o.references?.();
      const calls = new ProviderCalls({
        providers: account.providers,
        lanes,
        store: o.store,
        ...(tasks ? { tasks } : {}),
        ...(o.priceOf ? { priceOf: o.priceOf } : {}),
        ...(resolver ? { references: resolver } : {}),
        taskTimeoutMs: d.taskTimeoutMs,
        defaultProvider: d.provider,
        retryRefusals: false,
      });
      const references: ReferenceImage[] = d.request.references.map((r) => ({ asset: r.asset, ...(r.url ? { url: r.url } : {}), read: () => o.store.read(r.asset.hash) }));
      // Status changes go to the coordinator (and so to the run's events); progress fractions do not.
      let last = '';
      const onStatus = (status: string) => {
        if (status === last || !RELAYED.test(status)) return;
        last = status;
        void job.updateProgress({ status } satisfies CallJobProgress).catch(() => undefined);
      };
      try {
        return await calls.generate({ ...d.request, references }, d.provider, {
          ...d.call,
          signal: signal ?? new AbortController().signal,
          onStatus,
        });
      } catch (e) {
        const err = toEngineError(e, 'provider_failed', { provider: d.provider });
        // A task another account created (a run continued elsewhere): only that account's key
        // collects it, so the coordinator sends the call to that account's queue.
        if (typeof err.details.account === 'string' && err.details.account !== account.name && err.details.taskId) {
          throw new UnrecoverableError(encodeFailure(new EngineError('usage', err.message, { provider: d.provider, taskId: err.details.taskId, redirectAccount: err.details.account })));
        }
        if (err.code === 'rate_limited' && err.details.retryable === true) {
          // The claim row was closed: trying again later is safe. Every worker on this account waits.
          await worker.rateLimit(Math.max(250, (err.details.retryAfterSec ?? 2) * 1000));
          throw Worker.RateLimitError();
        }
        // A refusal the provider surely did not accept may be tried again (BullMQ's attempts);
        // anything else is the item's outcome, reported to the coordinator as it is.
        if (err.details.retryable === true) throw new Error(encodeFailure(err));
        throw new UnrecoverableError(encodeFailure(err));
      }
    };
    worker = new Worker<CallJobData, CallJobResult>(name, processor, {
      connection,
      name: `fluxgraph-worker-${process.pid}`,
      concurrency: o.concurrency ?? Math.max(account.cap, 1),
      ...(o.lockDurationMs ? { lockDuration: o.lockDurationMs } : {}),
      ...(o.stalledIntervalMs ? { stalledInterval: o.stalledIntervalMs } : {}),
      ...(o.maxStalledCount !== undefined ? { maxStalledCount: o.maxStalledCount } : {}),
    });
    worker.on('error', (e) => o.onLine?.(`worker ${name}: ${e.message}`));
    workers.push(worker);
    o.onLine?.(`serving ${account.provider} account "${account.name}" (cap ${account.cap})`);
  }
  await announce();
  const renew = setInterval(() => void announce().catch(() => undefined), ACCOUNT_TTL_MS / 3);
  return {
    // Stops taking jobs and lets the ones in hand finish, so nothing is left ambiguous.
    async close() {
      clearInterval(renew);
      await redis.redis.del(...announced.map((a) => a.key)).catch(() => undefined);
      await Promise.all(workers.map((w) => w.close()));
      lanes.close();
      await Promise.all(queues.map((q) => q.close()));
      await redis.close();
    },
  };
}
