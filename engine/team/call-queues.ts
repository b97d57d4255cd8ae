/**
 * The coordinator side of team mode: sends each paid call to the account of its provider with the
 * most room, keeps at most about twice the cap waiting per account (so a 100,000-image batch never
 * floods Redis, and a new worker or account picks up work at once), and waits for the result.
 *
 * BullMQ delivers at least once and its defaults move a job that stalled too often to failed; such
 * a job is added again and its worker re-attaches through the ledger, so a worker's death is never
 * reported as a failed item.
 */
import { Queue, QueueEvents, type Job } from 'bullmq';
import { createHash } from 'node:crypto';
import { EngineError } from '../core/errors';
import { connectRedis, type RedisHandle } from './redis';
import { ACCOUNT_KEY_PREFIX, callQueueName, decodeFailure, type CallJobData, type CallJobResult } from './call-job';

export interface AccountLoad {
  provider: string;
  account: string;
  cap: number;
  active: number;
  waiting: number;
  /** Paused by a 429 (BullMQ's rate limit) right now. */
  rateLimited: boolean;
}

interface AccountQueue {
  provider: string;
  account: string;
  cap: number;
  queue: Queue<CallJobData, CallJobResult>;
  events: QueueEvents;
  /** Jobs this coordinator added that have not finished. */
  mine: number;
  /** Some worker serves it right now. */
  live: boolean;
}

/** How often dispatch re-reads which accounts have live workers. */
const REFRESH_MS = 2000;

/** Waiting jobs allowed per account, as a multiple of its cap. */
const WAITING_PER_CAP = 2;
/** Most times a call whose worker died is sent again (each time re-attaching through the ledger). */
const MAX_REDELIVERIES = 5;

export class CallQueues {
  private readonly byAccount = new Map<string, AccountQueue>();
  private readonly inflight = new Map<string, Promise<CallJobResult>>();
  /**
   * Calls waiting for their job, by queue and job id. One listener per queue serves them all
   * (BullMQ's job.waitUntilFinished adds two per job, and rejects unhandled when its queue closes).
   */
  private readonly waiters = new Map<string, { resolve(v: CallJobResult): void; reject(e: Error): void; onStatus?: (status: string) => void }>();
  /** Jobs waiting for their outcome per run, so a cancelled run's jobs not yet started can be taken back. */
  private readonly byRun = new Map<string, Set<{ queue: Queue<CallJobData, CallJobResult>; jobId: string }>>();
  private closed = false;
  private refreshedAt = 0;

  private constructor(
    private readonly redisUrl: string,
    private readonly redis: RedisHandle,
  ) {}

  /** Connects and checks Redis (one clear line when it is unreachable or evicts keys). */
  static async open(redisUrl: string): Promise<CallQueues> {
    const q = new CallQueues(redisUrl, await connectRedis(redisUrl));
    await q.refreshAccounts();
    return q;
  }

  private refreshing: Promise<void> | undefined;

  /**
   * Reads the accounts live workers announce (new workers and accounts are picked up as they
   * come). Calls picking at once share one refresh: each new account gets one listener, not one per caller.
   */
  refreshAccounts(): Promise<void> {
    this.refreshing ??= this.readAccounts().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async readAccounts(): Promise<void> {
    const live = new Map<string, number>();
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.redis.scan(cursor, 'MATCH', `${ACCOUNT_KEY_PREFIX}*`, 'COUNT', 200);
      cursor = next;
      const caps = keys.length ? await this.redis.redis.mget(...keys) : [];
      keys.forEach((k, i) => {
        const id = k.slice(ACCOUNT_KEY_PREFIX.length, k.lastIndexOf(':'));
        if (caps[i] !== null) live.set(id, Math.max(live.get(id) ?? 0, Number(caps[i])));
      });
    } while (cursor !== '0');
    this.refreshedAt = Date.now();
    for (const a of this.byAccount.values()) a.live = live.has(`${a.provider}.${a.account}`);
    for (const [id, cap] of live) {
      const known = this.byAccount.get(id);
      if (known) {
        known.cap = cap;
        continue;
      }
      const dot = id.indexOf('.');
      const provider = id.slice(0, dot);
      const account = id.slice(dot + 1);
      const name = callQueueName(provider, account);
      const connection = { url: this.redisUrl, maxRetriesPerRequest: null };
      const events = new QueueEvents(name, { connection });
      await events.waitUntilReady();
      const queue = new Queue<CallJobData, CallJobResult>(name, { connection });
      events.on('completed', ({ jobId, returnvalue }) => this.settle(name, jobId, { value: returnvalue as unknown as CallJobResult }));
      events.on('failed', ({ jobId, failedReason }) => this.settle(name, jobId, { reason: failedReason }));
      events.on('progress', ({ jobId, data }) => {
        const status = (data as { status?: unknown } | undefined)?.status;
        if (typeof status === 'string') this.waiters.get(`${name}\n${jobId}`)?.onStatus?.(status);
      });
      // Thousands of calls add jobs to one queue at once; each add listens for the queue closing.
      queue.setMaxListeners(0);
      this.byAccount.set(id, { provider, account, cap, queue, events, mine: 0, live: true });
    }
  }

  /** Active, waiting and rate-limited counts per account (what the editor shows while a run goes). */
  async load(): Promise<AccountLoad[]> {
    return Promise.all(
      [...this.byAccount.values()].map(async (a) => {
        const c = await a.queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized');
        const ttl = await a.queue.getRateLimitTtl();
        return { provider: a.provider, account: a.account, cap: a.cap, active: c.active ?? 0, waiting: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), rateLimited: ttl > 0 };
      }),
    );
  }

  /**
   * Runs one paid call on some worker and returns the stored image. Adding the same call again
   * (a coordinator that took over the run) is the same job, so it waits on that job's outcome.
   */
  call(data: Omit<CallJobData, 'account'>, signal?: AbortSignal, onStatus?: (status: string) => void): Promise<CallJobResult> {
    const id = jobIdOf(data);
    const running = this.inflight.get(id);
    if (running) return running;
    const p = this.dispatch(id, data, signal, onStatus).finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
    return p;
  }

  /**
   * Takes back the jobs of a cancelled run that no worker started yet (they are never sent); jobs
   * already running finish, and their submits are recorded. Returns how many were taken back.
   */
  async dropWaiting(runId: string): Promise<number> {
    let dropped = 0;
    for (const { queue, jobId } of [...(this.byRun.get(runId) ?? [])]) {
      const job = await queue.getJob(jobId).catch(() => undefined);
      if (!job) continue;
      const state = await job.getState().catch(() => 'unknown');
      if (state !== 'waiting' && state !== 'prioritized' && state !== 'delayed') continue;
      // A worker may take it between the look and the removal: then it sees the cancel and stops.
      if (await job.remove().then(() => true, () => false)) dropped++;
    }
    this.byRun.delete(runId);
    return dropped;
  }

  /** Stops tracking a run's jobs (they go on in the queue: a run handed to another coordinator). */
  forget(runId: string): void {
    this.byRun.delete(runId);
  }

  private async dispatch(id: string, data: Omit<CallJobData, 'account'>, signal?: AbortSignal, onStatus?: (status: string) => void): Promise<CallJobResult> {
    // Sent again after its worker died: to the same account (its tasks are polled with its key).
    let pinned: string | undefined;
    for (let delivery = 0; ; delivery++) {
      const target = await this.pick(data.provider, signal, onStatus, pinned);
      let job: Job<CallJobData, CallJobResult>;
      try {
        job = await target.queue.add('call', { ...data, account: target.account }, {
          jobId: delivery === 0 ? id : `${id}.r${delivery}`,
          removeOnComplete: { age: 3600 },
          removeOnFail: { age: 24 * 3600 },
          attempts: 5,
          backoff: { type: 'exponential', delay: 500 },
        });
      } catch (e) {
        target.mine--;
        throw e;
      }
      const mine = { queue: target.queue, jobId: String(job.id) };
      const runJobs = this.byRun.get(data.call.runId) ?? new Set();
      this.byRun.set(data.call.runId, runJobs.add(mine));
      try {
        return await this.waitFor(target, String(job.id), signal, onStatus);
      } catch (e) {
        const reason = (e as Error).message;
        const failure = decodeFailure(reason);
        // Its task was created by another account: send it there (the ledger re-attaches it).
        const redirect = failure?.details.redirectAccount;
        if (typeof redirect === 'string' && redirect !== target.account && delivery < MAX_REDELIVERIES) {
          pinned = redirect;
          continue;
        }
        if (failure) throw failure;
        // Not an outcome of the call: its worker died (stalled too often). Send it again; the
        // worker that takes it re-attaches to the recorded task through the ledger.
        if (/stalled/i.test(reason) && delivery < MAX_REDELIVERIES) {
          pinned = target.account;
          continue;
        }
        throw new EngineError('provider_failed', `the call job ${job.id} failed in the queue: ${reason}`, { provider: data.provider, resumable: true });
      } finally {
        target.mine--;
        // A run that stopped waiting (cancelled, handed off) keeps its jobs listed for dropWaiting/forget.
        if (!signal?.aborted) {
          runJobs.delete(mine);
          if (runJobs.size === 0) this.byRun.delete(data.call.runId);
        }
      }
    }
  }

  private settle(queueName: string, jobId: string, outcome: { value?: CallJobResult; reason?: string }): void {
    const key = `${queueName}\n${jobId}`;
    const w = this.waiters.get(key);
    if (!w) return;
    this.waiters.delete(key);
    if (outcome.reason !== undefined) w.reject(new Error(outcome.reason));
    else w.resolve(outcome.value!);
  }

  /** The job's result, from its queue's events, or from its state when it finished before we listened. */
  private waitFor(a: AccountQueue, jobId: string, signal?: AbortSignal, onStatus?: (status: string) => void): Promise<CallJobResult> {
    const name = a.queue.name;
    const key = `${name}\n${jobId}`;
    return new Promise<CallJobResult>((resolve, reject) => {
      const onAbort = () => {
        // The job goes on in the queue (a submit on the wire is recorded); this run stops waiting.
        this.waiters.delete(key);
        reject(new EngineError('aborted', 'the run was cancelled'));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(key, {
        resolve: (v) => (signal?.removeEventListener('abort', onAbort), resolve(v)),
        reject: (e) => (signal?.removeEventListener('abort', onAbort), reject(e)),
        ...(onStatus ? { onStatus } : {}),
      });
      void (async () => {
        const job = await a.queue.getJob(jobId);
        const state = job ? await job.getState() : 'unknown';
        if (state === 'completed') this.settle(name, jobId, { value: job!.returnvalue });
        else if (state === 'failed') this.settle(name, jobId, { reason: job!.failedReason });
      })().catch(() => undefined);
    });
  }

  /** The account with the most room, waiting while every account has 2 × cap waiting already. */
  private async pick(provider: string, signal?: AbortSignal, onStatus?: (status: string) => void, only?: string): Promise<AccountQueue> {
    for (let round = 0; ; round++) {
      if (this.closed) throw new EngineError('aborted', 'the queue connection was closed');
      if (signal?.aborted) throw new EngineError('aborted', 'the run was cancelled');
      if (Date.now() - this.refreshedAt > REFRESH_MS) await this.refreshAccounts();
      const accounts = [...this.byAccount.values()].filter((a) => a.provider === provider && a.live && (only === undefined || a.account === only));
      if (accounts.length === 0) {
        if (round === 0) await this.refreshAccounts();
        // Workers come and go (a machine restarting): the call waits for one. Enqueuing a run with
        // no worker for its provider at all is refused before it starts (run --queue, serve --queue).
        if (round === 1) onStatus?.(`waiting for a worker that serves ${provider}${only ? ` account "${only}"` : ''}`);
        await sleep(250, signal);
        continue;
      }
      const counts = await Promise.all(accounts.map((a) => a.queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized')));
      // Choose and reserve in one synchronous step: many calls are picking at once.
      let best: AccountQueue | undefined;
      let bestRoom = 0;
      accounts.forEach((a, i) => {
        const c = counts[i];
        const queued = (c.active ?? 0) + (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0);
        const room = a.cap * (1 + WAITING_PER_CAP) - Math.max(queued, a.mine);
        if (room > bestRoom) {
          best = a;
          bestRoom = room;
        }
      });
      if (best) best.mine++;
      if (best) return best;
      await sleep(100, signal);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.values()) w.reject(new Error(JSON.stringify({ fluxgraph: 1, code: 'aborted', message: 'the queue connection was closed', details: {} })));
    this.waiters.clear();
    await Promise.all([...this.byAccount.values()].map(async (a) => {
      await a.events.close();
      await a.queue.close();
    }));
    await this.redis.close();
  }
}

/**
 * The call's job id: its request, provider and place in its run and the run's attempt (BullMQ ids
 * cannot hold ":"). A coordinator continuing a run adds the very same jobs; two runs that make the
 * same cacheable request are two jobs, and the ledger's claim lets only one of them pay.
 */
export function jobIdOf(data: Omit<CallJobData, 'account'>): string {
  const canonical = {
    provider: data.provider,
    nodeType: data.call.nodeType,
    nodeVersion: data.call.nodeVersion,
    ...data.request,
    references: data.request.references.map((r) => r.asset.hash),
    runId: data.call.runId,
    nodeId: data.call.nodeId,
    item: data.call.item,
    attempt: data.call.attempt ?? 0,
  };
  return createHash('sha256').update(JSON.stringify(canonical, Object.keys(canonical).sort())).digest('hex');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The accounts live workers announce right now, by provider, with their caps (never keys). */
export async function liveAccounts(redis: RedisHandle['redis']): Promise<Map<string, { account: string; cap: number }[]>> {
  const out = new Map<string, { account: string; cap: number }[]>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${ACCOUNT_KEY_PREFIX}*`, 'COUNT', 200);
    cursor = next;
    const caps = keys.length ? await redis.mget(...keys) : [];
    keys.forEach((k, i) => {
      if (caps[i] === null) return;
      const id = k.slice(ACCOUNT_KEY_PREFIX.length, k.lastIndexOf(':'));
      const dot = id.indexOf('.');
      const [provider, account] = [id.slice(0, dot), id.slice(dot + 1)];
      const list = out.get(provider) ?? [];
      const known = list.find((a) => a.account === account);
      if (known) known.cap = Math.max(known.cap, Number(caps[i]));
      else list.push({ account, cap: Number(caps[i]) });
      out.set(provider, list);
    });
  } while (cursor !== '0');
  return out;
}
