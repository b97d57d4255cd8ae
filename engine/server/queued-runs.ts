/**
 * The editor's runs in team mode (`fluxgraph serve --queue`): a run is put on the shared queue
 * and coordinated by a worker; its events are relayed from the run's Redis stream to SSE, so the
 * live view and `Last-Event-ID` replay survive a restart of this server (nothing of a run lives
 * in this process). History, details and files come from the Postgres ledger. Validation and
 * estimates are the local server's (a RunRegistry without runs of its own).
 */
import { isResumable } from '../core/money';
import type { RunEvent } from '../core/events';
import type { Pipeline } from '../core/pipeline-schema';
import type { ProviderSet } from '../core/provider';
import type { NodeRegistry } from '../core/registry';
import type { ArtifactStore } from '../core/store';
import { newRunId } from '../core/run-pipeline';
import { providerOfNodes, type ValidationIssue } from '../core/validate';
import type { Estimate } from '../host/estimate';
import type { RunRecord as LedgerRun } from '../store/ledger';
import type { PgLedger } from '../store/pg-ledger';
import { callQueueName } from '../team/call-job';
import { liveAccounts } from '../team/call-queues';
import { followRunEvents } from '../team/run-events';
import type { RunJobData } from '../team/run-job';
import type { RunQueue, QueuedRun } from '../team/run-queue';
import type { AccountLoad, RunImage, RunRecord } from '../../editor/api/types';
import { Queue } from 'bullmq';
import { HttpError } from './http-util';
import { fromLedger } from './run-history';
import type { RunFiles } from './run-zip';
import { serverPreflight, type CheckHost } from './run-checks';
import type { RunRegistry, StartRunInput } from './runs';

export interface QueuedRunsOptions {
  registry: NodeRegistry;
  providers: ProviderSet;
  store: ArtifactStore;
  outDir: string;
  baseDir: string;
  queue: RunQueue;
  ledger: PgLedger;
  redisUrl: string;
  /** Validation and estimates, as the local server makes them. */
  checks: RunRegistry;
  host: CheckHost;
  allowPrivateUrls?: boolean;
  log?: (line: string) => void;
}

type Listener = (seq: number, event: RunEvent) => void;

/** How often the history, the queue and the accounts are read again (get, list and accounts answer from them). */
const REFRESH_MS = 1000;

export class QueuedRuns {
  private runs = new Map<string, RunRecord>();
  private loads: AccountLoad[] = [];
  private timer?: ReturnType<typeof setInterval>;
  private readonly accountQueues = new Map<string, Queue>();
  private readonly followers = new Set<AbortController>();

  constructor(private readonly o: QueuedRunsOptions) {}

  async init(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch((e: unknown) => this.o.log?.(`could not read the queue: ${(e as Error).message}`)), REFRESH_MS);
    this.timer.unref();
  }

  /** The ledger's runs and the queue's (a queued run is not in the ledger until a worker starts it). */
  private async refresh(): Promise<void> {
    const [stored, queued] = await Promise.all([this.o.ledger.listRuns(200), this.o.queue.list()]);
    const next = new Map<string, RunRecord>();
    for (const l of stored) next.set(l.runId, fromLedger(l, this.runs.get(l.runId)));
    // Queued (not started yet, or queued again) or being coordinated: running, as the editor sees it.
    for (const q of queued) {
      const known = next.get(q.runId);
      next.set(q.runId, known ? { ...known, status: 'running', resumable: false } : queuedRecord(q));
    }
    this.runs = next;
    this.loads = await this.accountLoad();
  }

  private async accountLoad(): Promise<AccountLoad[]> {
    const live = await liveAccounts(this.o.queue.redis);
    const out: AccountLoad[] = [];
    for (const [provider, accounts] of live) {
      for (const a of accounts) {
        const name = callQueueName(provider, a.account);
        let q = this.accountQueues.get(name);
        if (!q) this.accountQueues.set(name, (q = new Queue(name, { connection: { url: this.o.redisUrl, maxRetriesPerRequest: null } })));
        const c = await q.getJobCounts('active', 'waiting', 'delayed', 'prioritized');
        out.push({ provider, account: a.account, cap: a.cap, active: c.active ?? 0, elsewhere: 0, waiting: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), paused: (await q.getRateLimitTtl()) > 0 });
      }
    }
    return out.sort((a, b) => a.provider.localeCompare(b.provider) || a.account.localeCompare(b.account));
  }

  accounts(): AccountLoad[] {
    return this.loads;
  }

  validate(input: StartRunInput): ReturnType<RunRegistry['validate']> {
    return this.o.checks.validate(input);
  }

  estimate(input: StartRunInput, signal?: AbortSignal): Promise<Estimate> {
    return this.o.checks.estimate(input, signal);
  }

  /** The pre-flight, then the run onto the queue (any number at once: each account's cap holds in the queue). */
  async start(input: StartRunInput): Promise<{ runId: string; issues: ValidationIssue[] }> {
    const variables = input.variables && typeof input.variables === 'object' ? (input.variables as Record<string, string>) : undefined;
    const folder = input.folder ?? this.o.baseDir;
    const checked = await serverPreflight(
      {
        pipeline: input.pipeline,
        ...(input.provider ? { provider: input.provider } : {}),
        ...(variables ? { variables } : {}),
        folder,
        confineTo: input.confineTo ?? this.o.baseDir,
        outDir: this.o.outDir,
        allowPrivateUrls: this.o.allowPrivateUrls === true,
      },
      'run',
      { registry: this.o.registry, providers: this.o.providers, host: this.o.host },
    );
    if (!checked.ok || !checked.pipeline) {
      const errors = checked.issues.filter((i) => i.severity === 'error').length;
      throw new HttpError(422, 'invalid_pipeline', `the pipeline has ${errors} problem${errors === 1 ? '' : 's'}`, { issues: checked.issues });
    }
    const pipeline: Pipeline = checked.pipeline;
    const only = Array.isArray(input.only) && input.only.length ? (input.only as string[]) : undefined;
    const live = await liveAccounts(this.o.queue.redis);
    const unserved = [...new Set(providerOfNodes(pipeline, this.o.registry, this.o.providers, input.provider).values())].filter((p) => !live.get(p)?.length);
    if (unserved.length) throw new HttpError(409, 'no_worker', `no worker serves provider ${unserved.map((p) => `"${p}"`).join(', ')}: start fluxgraph worker on a machine with its key; nothing was queued`);
    const runId = newRunId();
    const seedsFrom = typeof input.seedsFrom === 'string' && (await this.o.ledger.getRun(input.seedsFrom)) ? input.seedsFrom : only && pipeline.name ? (await this.o.ledger.latestRunOf({ name: pipeline.name }, runId))?.runId : undefined;
    const data: RunJobData = {
      runId,
      attempt: 0,
      ...(input.owner ? { owner: input.owner } : {}),
      pipeline,
      options: { ...(variables ? { variables } : {}), ...(input.provider ? { provider: input.provider } : {}), outDir: this.o.outDir, baseDir: folder, ...(only ? { only } : {}) },
      priority: 0,
      ...(this.o.allowPrivateUrls ? { allowPrivateUrls: true } : {}),
      ...(seedsFrom ? { seedsFrom } : {}),
      enqueuedAt: Date.now(),
    };
    await this.o.queue.enqueue(data);
    this.runs.set(runId, queuedRecord({ runId, state: 'queued', ...(pipeline.name ? { name: pipeline.name } : {}), ...(input.owner ? { owner: input.owner.person } : {}), priority: 0, attempt: 0, enqueuedAt: data.enqueuedAt }, pipeline));
    return { runId, issues: checked.issues };
  }

  async resume(runId: string): Promise<{ runId: string; issues: ValidationIssue[] }> {
    const stored = await this.o.ledger.getRun(runId);
    if (!stored) throw new HttpError(404, 'run_not_found', `no run "${runId}" in the ledger`);
    if (!isResumable(stored.status)) throw new HttpError(409, 'not_resumable', `run ${runId} is ${stored.status}: there is nothing to resume`);
    try {
      await this.o.queue.retry(runId, this.o.ledger);
    } catch (e) {
      throw new HttpError(409, 'not_resumable', (e as Error).message);
    }
    return { runId, issues: [] };
  }

  async cancel(runId: string): Promise<boolean> {
    return (await this.o.queue.cancel(runId, this.o.ledger)) !== 'not-queued';
  }

  get(runId: string): RunRecord | undefined {
    return this.runs.get(runId);
  }

  list(limit = 100): RunRecord[] {
    return [...this.runs.values()].sort((a, b) => b.startedAt - a.startedAt).slice(0, limit);
  }

  async details(runId: string): Promise<RunRecord | undefined> {
    const stored = await this.o.ledger.getRun(runId);
    if (!stored) return this.runs.get(runId);
    const files = await this.o.ledger.filesOf(runId);
    return { ...fromLedger(stored, this.runs.get(runId)), images: await this.images(stored), imagesWritten: files.map((f) => f.path) };
  }

  /** The images a run made, as its tasks recorded them. */
  private async images(run: LedgerRun): Promise<RunImage[]> {
    const tasks = await this.o.ledger.tasksOf(run.runId);
    const out: RunImage[] = [];
    for (const t of tasks) {
      if (t.state !== 'done' || !t.resultHash) continue;
      out.push({ nodeId: t.nodeId, item: t.item, ...(t.row !== null ? { row: t.row } : {}), hash: t.resultHash, width: 0, height: 0, ...(t.shared ? { cached: true } : {}) });
    }
    return out;
  }

  async filesOf(runId: string): Promise<RunFiles | undefined> {
    const record = await this.details(runId);
    if (!record) return undefined;
    const stored = await this.o.ledger.getRun(runId);
    return { runId, ...(record.pipeline ? { pipeline: record.pipeline } : {}), outDir: stored?.options.outDir ?? this.o.outDir, files: record.imagesWritten, images: record.images };
  }

  /** Replays the run's events after `afterSeq` from its Redis stream, then follows it to its end. */
  follow(runId: string, afterSeq: number, listener: Listener, onEnd: () => void): () => void {
    const stop = new AbortController();
    this.followers.add(stop);
    void (async () => {
      try {
        for await (const { seq, event } of followRunEvents(this.o.queue.redis, runId, afterSeq, stop.signal)) {
          listener(seq, event);
          if (event.type === 'runDone') break;
        }
      } catch (e) {
        if (!stop.signal.aborted) this.o.log?.(`events of run ${runId}: ${(e as Error).message}`);
      } finally {
        this.followers.delete(stop);
        if (!stop.signal.aborted) onEnd();
        stop.abort();
      }
    })();
    return () => stop.abort();
  }

  /** Stops following; the runs themselves go on in the queue. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const f of this.followers) f.abort();
    await Promise.all([...this.accountQueues.values()].map((q) => q.close().catch(() => undefined)));
  }
}

/** A run the queue has and the ledger not yet. */
function queuedRecord(q: QueuedRun, pipeline?: Pipeline): RunRecord {
  return {
    runId: q.runId,
    ...(q.name ? { pipeline: q.name } : {}),
    ...(q.owner ? { owner: q.owner } : {}),
    status: 'running',
    startedAt: q.enqueuedAt,
    nodeCount: pipeline?.nodes.length ?? 0,
    images: [],
    imagesWritten: [],
    failures: 0,
    origin: 'editor',
  };
}
