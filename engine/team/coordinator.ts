/**
 * The coordinator of one run job: today's streaming scheduler (seeds, picks, saves) in a worker,
 * with each paid call sent as a call job to its provider account's queue (call-queues.ts), the
 * ledger in Postgres and the run's events in its Redis stream. A run whose previous coordinator
 * died is continued with resume semantics: seeds, tasks in flight and stored images all come from
 * the ledger, and the calls it had sent are the same jobs, so nothing is paid twice.
 *
 * Three ways to stop early: a cancel (as Ctrl-C stops a local run: submits on the wire finish and
 * are recorded, the run stays resumable), a hand-off (the worker is stopping: the run goes back to
 * the queue and another worker continues it), and the worker dying (the queue re-delivers the job).
 */
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { hostname } from 'node:os';
import { isAbortError, toEngineError } from '../core/errors';
import type { RunEvent, RunSummary } from '../core/events';
import type { ProviderSet } from '../core/provider';
import type { RemoteCalls } from '../core/provider-calls';
import type { NodeRegistry } from '../core/registry';
import { runPipeline } from '../core/run-pipeline';
import { applyMoney } from '../core/run/summarise';
import type { ArtifactStore } from '../core/store';
import { readRows, scanRows } from '../batch/rows';
import { priceOf } from '../providers/pricing';
import type { PgLedger } from '../store/pg-ledger';
import type { CallQueues } from './call-queues';
import type { CancelWatch } from './cancel';
import { isCancelled } from './cancel';
import { RunEventLog } from './run-events';
import type { RunJobData, RunJobResult } from './run-job';
import { storedOptionsOf, unstartedSummary } from './run-queue';

export interface CoordinatorHost {
  registry: NodeRegistry;
  /** The providers' capabilities (models, sizes) for validation; calls never go through them here. */
  providers: ProviderSet;
  store: ArtifactStore;
  ledger: PgLedger;
  calls: CallQueues;
  redis: Redis;
  cancels: CancelWatch;
  redact: (text: string) => string;
  /** Downloads of URL references (the safe fetch). */
  download(url: string, signal: AbortSignal, allowPrivate: boolean): Promise<Buffer>;
  log?(line: string): void;
}

/** The run went back to the queue for another worker (this one is stopping). */
export const HANDED_OFF = Symbol('handed off');

export async function coordinateRun(job: Job<RunJobData, RunJobResult>, host: CoordinatorHost, stopping: AbortSignal): Promise<RunJobResult | typeof HANDED_OFF> {
  const d = job.data;
  const { runId } = d;
  const { ledger } = host;
  const log = new RunEventLog(host.redis, runId, host.redact);
  const before = await ledger.getRun(runId);
  // Continued after its coordinator died (or stopped): everything it did is in the ledger.
  const continued = before !== undefined && (before.options.queue?.attempt ?? 0) === d.attempt && before.status !== 'cancelled';
  const controller = new AbortController();
  const unwatch = host.cancels.watch(runId, () => controller.abort());
  let handingOff = false;
  const onStop = () => {
    handingOff = true;
    controller.abort();
  };
  stopping.addEventListener('abort', onStop, { once: true });
  try {
    if (await isCancelled(host.redis, runId)) controller.abort();
    if (continued) {
      log.append({ type: 'warning', runId, at: Date.now(), message: `the run's previous worker stopped; worker ${hostname()}:${process.pid} continues it (what was paid for is read from the ledger)` });
    }
    await ledger.startRun({ runId, pipeline: d.pipeline, ...(d.pipelinePath ? { pipelinePath: d.pipelinePath } : {}), options: storedOptionsOf(d), ...(d.owner ? { owner: d.owner } : {}) });
    const resumed = before !== undefined;
    const batch = d.options.batch === true;
    // A continued attempt, or a retried batch, leaves tasks the provider failed failed.
    const keepFailed = continued || (resumed && batch && !d.retryFailed);
    const ledgerOptions = { ...(keepFailed ? { keepFailed } : {}), ...(d.resubmitAmbiguous ? { resubmitAmbiguous: true } : {}) };
    const owner = d.owner ? { owner: d.owner } : {};
    const hooks = ledger.hooks(runId, { cache: d.noCache !== true, ...(d.seedsFrom ? { seedsFrom: d.seedsFrom } : {}), ...ledgerOptions, ...owner });
    const remote: RemoteCalls = (rc, signal, onStatus) =>
      host.calls.call(
        {
          provider: rc.provider,
          request: { ...rc.request, references: rc.request.references.map((r) => ({ asset: r.asset, ...(r.url ? { url: r.url } : {}) })) },
          call: { ...rc.call, attempt: d.attempt },
          taskTimeoutMs: rc.taskTimeoutMs,
          cache: d.noCache !== true,
          ...(Object.keys(ledgerOptions).length ? { ledger: ledgerOptions } : {}),
          // The worker's claim checks the owner's spending caps.
          ...owner,
        },
        signal,
        onStatus,
      );
    const inputs = d.options.inputs ? await batchInputs(d.options.inputs, d.options.rows) : undefined;
    let runDone: Extract<RunEvent, { type: 'runDone' }> | undefined;
    let summary: RunSummary;
    try {
      summary = await runPipeline(d.pipeline, {
        registry: host.registry,
        providers: host.providers,
        store: host.store,
        baseDir: d.options.baseDir ?? process.cwd(),
        outDir: d.options.outDir ?? 'out',
        runId,
        signal: controller.signal,
        ...(d.options.variables ? { variables: d.options.variables } : {}),
        ...(d.options.provider ? { provider: d.options.provider } : {}),
        ...(d.options.concurrency ? { concurrency: d.options.concurrency } : {}),
        ...(d.taskTimeoutMs ? { taskTimeoutMs: d.taskTimeoutMs } : {}),
        ...(d.budgetUsd !== undefined ? { budgetUsd: d.budgetUsd } : {}),
        ...(d.options.only ? { only: d.options.only } : {}),
        ...(inputs ? { inputs } : {}),
        tasks: hooks,
        priceOf,
        remoteCalls: remote,
        download: (url, signal) => host.download(url, signal, d.allowPrivateUrls === true),
        onEvent: (e) => {
          // Once the run is being handed off, what follows is its wind-down here, not news.
          if (handingOff) return;
          if (e.type === 'runDone') runDone = e;
          else log.append(e);
        },
      });
    } catch (e) {
      const err = toEngineError(e);
      summary = { ...unstartedSummary(d, isAbortError(err) ? 'cancelled' : 'failed'), failures: [{ nodeId: '', code: err.code, message: err.message }] };
      runDone = { type: 'runDone', runId, at: Date.now(), summary };
    }
    if (handingOff) {
      host.calls.forget(runId);
      await ledger.releaseLease(runId);
      log.append({ type: 'warning', runId, at: Date.now(), message: `worker ${hostname()}:${process.pid} is stopping: the run goes back to the queue and another worker continues it` });
      await log.flush();
      return HANDED_OFF;
    }
    if (summary.status === 'cancelled') {
      // As on Ctrl-C: nothing new is sent; what is on the wire finishes and is recorded.
      const dropped = await host.calls.dropWaiting(runId);
      if (dropped) host.log?.(`run ${runId}: cancelled, ${dropped} queued call${dropped === 1 ? '' : 's'} taken back`);
    } else host.calls.forget(runId);
    applyMoney(summary, await ledger.finishRun(summary));
    log.append({ ...(runDone ?? { type: 'runDone', runId, at: Date.now() }), summary });
    await log.end();
    return { status: summary.status };
  } finally {
    unwatch();
    stopping.removeEventListener('abort', onStop);
  }
}

/** `--inputs` rows of a queued batch, read from the path the run was started with. */
async function batchInputs(path: string, range: { from: number; to?: number } | undefined) {
  const scan = await scanRows(path, range ?? {});
  return { count: scan.count, columns: scan.columns, rows: () => readRows(path, range ?? {}) };
}
