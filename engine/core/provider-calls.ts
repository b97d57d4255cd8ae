/**
 * How a node's `ctx.generate` becomes a paid provider task: choose the provider, map the size,
 * consult the ledger hooks (resume or reuse), submit once through the provider's lane, wait,
 * store the image. A submit is retried only when the provider clearly did not accept it.
 */
import { createHash } from 'node:crypto';
import { EngineError, isAbortError, toEngineError, type ErrorCode } from './errors';
import { readImageInfo } from './image-info';
import type { Lanes } from './lanes';
import { accountOfTask, chooseAccount } from './provider-accounts';
import type { ImageAsset } from './ports';
import type { GeneratedImage, ImageRequest, Provider, ProviderSet, TaskRef } from './provider';
import type { DeliveredReference, ReferenceResolver } from './references';
import type { GeneratedImageRecord, TaskHooks, TaskKey } from './run-options';
import type { ArtifactStore } from './store';
import { formatUsd, toMicros } from './money';
import { QUEUED_STATUS } from './events';
import { FIRST_CONTACT_ATTEMPTS, ProviderStops } from './provider-stops';

/** Most submit attempts for one item when the provider keeps answering 429 / refusing connections. */
export const MAX_SUBMIT_ATTEMPTS = 12;
/** How long to wait for another run that is submitting the very same request. */
export const WAIT_ELSEWHERE_MS = 5 * 60_000;

const NEVER_ABORTED = new AbortController().signal;
/** Thrown inside a lane when another run claimed the request first. */
const SUBMITTING_ELSEWHERE = Symbol('submitting elsewhere');

export interface CallContext {
  runId: string;
  nodeId: string;
  nodeType: string;
  nodeVersion: number;
  /** Explicit (or reused) seed: a stored result of another run may be reused. */
  cacheable: boolean;
  item: number;
  /** The batch row (from 1), recorded with the task. */
  row?: number;
  signal: AbortSignal;
  onStatus(status: string, fraction?: number): void;
  onWarning?(message: string): void;
}

export interface ProviderCallsOptions {
  providers: ProviderSet;
  lanes: Lanes;
  store: ArtifactStore;
  tasks?: TaskHooks;
  taskTimeoutMs: number;
  /** Provider when the node did not choose one. */
  defaultProvider: string;
  budgetUsd?: number;
  priceOf?: (providerId: string, request: ImageRequest) => number | undefined;
  /** Public URLs for references of providers that only take URLs (absent: only user-given URLs work). */
  references?: ReferenceResolver;
  /**
   * Try a submit the provider refused (429, connection refused) again here (default). Team-mode
   * workers say false: the refusal goes back to the queue, which pauses the whole account.
   */
  retryRefusals?: boolean;
  /**
   * Paid calls made elsewhere (team mode: a call job on the provider account's queue, run by a
   * worker with the ledger's hooks). The run keeps the in-run sharing, the budget and the counts.
   */
  remote?: RemoteCalls;
}

/** One paid call as team mode sends it away: the size already mapped, references by hash. */
export interface RemoteCall {
  provider: string;
  request: ImageRequest;
  call: Omit<CallContext, 'signal' | 'onStatus' | 'onWarning'>;
  taskTimeoutMs: number;
}

/** Makes the call somewhere else and returns the stored image as that worker's `generate` did. */
export type RemoteCalls = (call: RemoteCall, signal: AbortSignal, onStatus: (status: string) => void) => Promise<ImageAsset>;

export interface CallStats {
  /** Submits sent (provider calls made, not planned). */
  submitted: number;
  reused: number;
  /** Results taken from tasks other runs submitted (paid there). */
  shared: number;
  /** What the tasks this run submitted cost: reported by the provider, else the pricing table's figure. */
  costMicros: number;
  /** Part of `costMicros` is the pricing table's figure. */
  costEstimated: boolean;
}

export function requestHash(providerId: string, request: ImageRequest, node: { type: string; version: number }): string {
  const canonical = { ...request, references: request.references.map((r) => r.asset.hash), provider: providerId, nodeType: node.type, nodeVersion: node.version };
  const keys = Object.keys(canonical).sort();
  return createHash('sha256').update(JSON.stringify(canonical, keys)).digest('hex');
}

function backoffMs(attempt: number, retryAfterSec?: number): number {
  if (retryAfterSec !== undefined && retryAfterSec >= 0) return retryAfterSec * 1000 + Math.random() * 100;
  return Math.min(30_000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
}

export class ProviderCalls {
  readonly stats: CallStats = { submitted: 0, reused: 0, shared: 0, costMicros: 0, costEstimated: false };
  /** Expected cost (micro-dollars) of submits on the wire, counted against the budget. */
  private reservedMicros = 0;
  /** Accounts no more submits go to in this run: unreachable, or refused the key or credits. */
  private readonly stops = new ProviderStops();
  /** Cacheable requests being obtained right now, by request hash. */
  private readonly inflight = new Map<string, Promise<Obtained>>();

  constructor(private readonly o: ProviderCallsOptions) {}

  resolveProvider(nodeProvider?: string): Provider {
    const id = nodeProvider ?? this.o.defaultProvider;
    const provider = this.o.providers.get(id);
    if (!provider) throw new EngineError('unknown_provider', `unknown provider "${id}" (known: ${this.o.providers.ids().join(', ')})`, { provider: id });
    return provider;
  }

  async generate(request: ImageRequest, providerId: string | undefined, call: CallContext): Promise<ImageAsset> {
    const provider = this.resolveProvider(providerId);
    const caps = provider.capabilities;
    if (!caps.models.includes(request.model)) {
      throw new EngineError('unsupported_model', `provider "${provider.id}" has no FLUX.2 [${request.model}]`, { provider: provider.id, model: request.model });
    }
    const warnings: string[] = [];
    if (request.width !== undefined && request.height !== undefined) {
      const mapped = caps.mapSize(request.width, request.height);
      if (mapped.width !== request.width || mapped.height !== request.height) {
        warnings.push(`size ${request.width}×${request.height} sent to ${provider.id} as ${mapped.width}×${mapped.height}${mapped.note ? ` (${mapped.note})` : ''}`);
        request = { ...request, width: mapped.width, height: mapped.height };
      }
    }
    const { references, ...rest } = request;
    const key: TaskKey = {
      runId: call.runId,
      nodeId: call.nodeId,
      item: call.item,
      ...(call.row !== undefined ? { row: call.row } : {}),
      provider: provider.id,
      nodeType: call.nodeType,
      nodeVersion: call.nodeVersion,
      cacheable: call.cacheable,
      requestHash: requestHash(provider.id, request, { type: call.nodeType, version: call.nodeVersion }),
      request: { ...rest, referenceHashes: references.map((r) => r.asset.hash) },
    };
    const expectedUsd = this.o.priceOf?.(provider.id, request);
    if (expectedUsd !== undefined) key.expectedUsd = expectedUsd;

    // Identical requests in one run are the same work: the first pays, the others wait for it.
    if (key.cacheable) {
      const leader = this.inflight.get(key.requestHash);
      if (leader) {
        const shared = await leader;
        this.stats.reused++;
        call.onStatus('shared', 1);
        return this.asset(shared.record, request, provider, call, warnings, true);
      }
    }
    const obtained = this.o.remote ? this.obtainRemote(this.o.remote, provider, request, key, call) : this.obtain(provider, request, key, call);
    if (key.cacheable) {
      this.inflight.set(key.requestHash, obtained);
      void obtained.then(
        () => this.inflight.delete(key.requestHash),
        () => this.inflight.delete(key.requestHash),
      );
    }
    const { record, cached, taskId, delivered } = await obtained;
    return this.asset(record, request, provider, call, warnings, cached, taskId, delivered);
  }

  /** A stored result for the request, or a new (paid) one, stored. */
  private async obtain(provider: Provider, request: ImageRequest, firstKey: TaskKey, call: CallContext): Promise<Obtained> {
    let key = firstKey;
    const waitUntil = Date.now() + WAIT_ELSEWHERE_MS;
    let result: Submitted | undefined;
    let shared = false;
    while (!result) {
      const known = await this.o.tasks?.lookup(key);
      if (known?.done) {
        // A stored result is used only if its bytes are intact; otherwise it is made again.
        const intact = await this.o.store.read(known.done.hash, { stored: true }).then(
          () => true,
          (e: unknown) => (call.onWarning?.(`${(e as Error).message}; generating it again`), false),
        );
        if (intact) {
          this.stats.reused++;
          if (known.shared) this.stats.shared++;
          call.onStatus('cached', 1);
          return { record: known.done, cached: true };
        }
        key = { ...key, regenerate: true };
      }
      if (known?.failed && !known.done) {
        // A resumed batch leaves failed rows failed: sending them again is `--retry-failed`'s choice.
        throw new EngineError(known.failed.code as ErrorCode, `${known.failed.message} (failed in an earlier attempt of this run; resume with --retry-failed to send it again)`, { provider: provider.id });
      }
      if (known?.interrupted && !known.inFlight) {
        throw new EngineError(
          'ambiguous_submit',
          known.interruptedRun
            ? `run ${known.interruptedRun} was stopped while it was sending this same request to ${provider.id}, so it may have been accepted (and paid); not submitting it again. Resume that run with --resubmit-ambiguous to send it again, or check your ${provider.id} dashboard`
            : `an earlier attempt was interrupted while its request to ${provider.id} was being sent, so it may have been accepted (and paid); not submitting again. Check your ${provider.id} dashboard (fluxgraph runs show ${key.runId} lists the submit), then send it again with: fluxgraph run --resume ${key.runId} --resubmit-ambiguous`,
          { provider: provider.id, resumable: true },
        );
      }
      try {
        if (known?.busyElsewhere) throw SUBMITTING_ELSEWHERE;
        shared = known?.inFlight !== undefined && known.shared === true;
        result = await this.submitAndWait(provider, request, key, known?.inFlight, call);
      } catch (e) {
        if (e === SUBMITTING_ELSEWHERE) {
          // Another run (the editor, another terminal) is paying for this exact request now.
          if (Date.now() > waitUntil) {
            throw new EngineError('ambiguous_submit', `another run was sending the same request to ${provider.id} and never recorded its outcome; not submitting it a second time`, { provider: provider.id });
          }
          call.onStatus('waiting for another run making the same image');
          await sleep(250, call.signal);
          continue;
        }
        const err = toEngineError(e, 'provider_failed', { provider: provider.id, nodeId: call.nodeId, item: call.item });
        if (!isAbortError(err)) await this.record(() => this.o.tasks?.failed(key, err.details.taskId ? ({ taskId: err.details.taskId } as TaskRef) : undefined, err), call);
        throw err;
      }
    }
    const { task, image, delivered, countedMicros } = result;
    const info = readImageInfo(image.bytes);
    // Not an image: the task stays recorded as submitted (and counted), as the ledger keeps it.
    if (!info) throw new EngineError('provider_failed', `provider "${provider.id}" returned something that is not a JPEG, PNG or WebP image (task ${task.taskId})`, { provider: provider.id, taskId: task.taskId });
    // From here the provider made (and charged for) the image: failing to keep it leaves the
    // task resumable with its id, never "failed" (a resume downloads it again, it does not pay again).
    let hash: string;
    try {
      hash = await this.o.store.put(image.bytes, image.sha256);
    } catch (e) {
      const where = (this.o.store as { root?: string }).root;
      const cause = e as NodeJS.ErrnoException;
      const why = ['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS'].includes(cause.code ?? '') ? `${where ? `the folder ${where}` : 'the store'} is full or read-only (${cause.code})` : cause.message;
      throw new EngineError(
        'io',
        `task ${task.taskId} at ${provider.id} finished (and was paid for), but its image could not be stored: ${why}. Free space, then resume the run: it fetches the image again without paying again`,
        { provider: provider.id, taskId: task.taskId, resumable: true },
        { cause: e },
      );
    }
    // Its result URL can carry it to the next URL-only provider while it is valid.
    if (image.resultUrl) this.o.references?.produced(hash, provider.id, image.resultUrl, image.resultExpiresAt);
    const record: GeneratedImageRecord = {
      hash,
      width: info.width,
      height: info.height,
      mime: info.mime,
      ...(image.seed !== undefined ? { seed: image.seed } : task.seed !== undefined ? { seed: task.seed } : {}),
      ...(image.costUsd !== undefined ? { costUsd: image.costUsd } : task.costUsd !== undefined ? { costUsd: task.costUsd } : {}),
      ...(image.resultUrl ? { resultUrl: image.resultUrl } : {}),
    };
    if (record.costUsd === undefined && key.expectedUsd !== undefined) Object.assign(record, { costUsd: key.expectedUsd, costEstimated: true });
    // The provider's final figure replaces what was counted at submit (often the pricing table's).
    if (countedMicros !== undefined) {
      this.uncount(countedMicros, call.nodeId);
      this.count(toMicros(record.costUsd), record.costEstimated === true, call.nodeId);
    }
    await this.record(() => this.o.tasks?.completed(task.account ? { ...key, account: task.account } : key, task, record), call);
    return { record, cached: shared, taskId: task.taskId, ...(delivered ? { delivered } : {}) };
  }

  /** The call made by a worker (team mode): the budget holds its expected price while it is out. */
  private async obtainRemote(remote: RemoteCalls, provider: Provider, request: ImageRequest, key: TaskKey, call: CallContext): Promise<Obtained> {
    const reserved = this.reserveBudget(provider.id, key.expectedUsd);
    let asset: ImageAsset;
    try {
      call.onStatus('queued');
      const { signal, onStatus, onWarning, ...place } = call;
      asset = await remote({ provider: provider.id, request, call: place, taskTimeoutMs: this.o.taskTimeoutMs }, signal, (status) => onStatus(status));
    } finally {
      this.reservedMicros -= reserved;
    }
    const meta = asset.meta ?? {};
    for (const w of meta.warnings ?? []) call.onWarning?.(w);
    if (meta.cached) {
      this.stats.reused++;
    } else if (meta.taskId) {
      this.stats.submitted++;
      this.count(toMicros(meta.costUsd), meta.costEstimated === true, call.nodeId);
    }
    const record: GeneratedImageRecord = {
      hash: asset.hash,
      width: asset.width,
      height: asset.height,
      mime: asset.mime,
      ...(meta.seed !== undefined ? { seed: meta.seed } : {}),
      ...(meta.costUsd !== undefined && !meta.cached ? { costUsd: meta.costUsd, ...(meta.costEstimated ? { costEstimated: true } : {}) } : {}),
    };
    return { record, cached: meta.cached === true, ...(meta.taskId ? { taskId: meta.taskId } : {}), ...(meta.referenceDelivery?.length ? { delivered: meta.referenceDelivery } : {}) };
  }

  /** A ledger write that failed (database full, disk full) is reported, never turned into a failed paid task. */
  private async record(write: () => Promise<void> | undefined, call: CallContext): Promise<void> {
    try {
      await write();
    } catch (e) {
      call.onWarning?.(`could not record a task in the ledger: ${(e as Error).message}`);
    }
  }

  private count(micros: number, estimated: boolean, nodeId: string): void {
    this.stats.costMicros += micros;
    if (estimated && micros > 0) this.stats.costEstimated = true;
    this.costByNode.set(nodeId, (this.costByNode.get(nodeId) ?? 0) + micros);
  }

  private uncount(micros: number | undefined, nodeId: string): void {
    if (micros) this.count(-micros, false, nodeId);
  }

  /** What each node's own submits cost (micro-dollars). */
  readonly costByNode = new Map<string, number>();

  /** Refuses a submit that could take the run past its budget; returns the amount reserved (micro-dollars). */
  private reserveBudget(providerId: string, expectedUsd: number | undefined): number {
    const budget = this.o.budgetUsd;
    if (budget === undefined) return 0;
    const expected = toMicros(expectedUsd ?? 0);
    const committed = this.stats.costMicros + this.reservedMicros;
    if (committed >= toMicros(budget) || committed + expected > toMicros(budget)) {
      throw new EngineError(
        'budget_exceeded',
        `budget of ${formatUsd(toMicros(budget))} reached (${formatUsd(this.stats.costMicros, this.stats.costEstimated)} spent${this.reservedMicros ? `, ${formatUsd(this.reservedMicros, true)} in flight` : ''}; this call would cost about ${formatUsd(expected, true)}); not submitting`,
        { provider: providerId },
      );
    }
    this.reservedMicros += expected;
    return expected;
  }

  private asset(record: GeneratedImageRecord, request: ImageRequest, provider: Provider, call: CallContext, warnings: string[], cached: boolean, taskId?: string, delivered?: DeliveredReference[]): ImageAsset {
    return {
      hash: record.hash,
      mime: record.mime,
      width: record.width,
      height: record.height,
      meta: {
        nodeId: call.nodeId,
        seed: record.seed ?? request.seed,
        provider: provider.id,
        model: request.model,
        ...(taskId ? { taskId } : {}),
        ...(record.costUsd !== undefined && !cached ? { costUsd: record.costUsd, ...(record.costEstimated ? { costEstimated: true } : {}) } : {}),
        sourceHashes: request.references.map((r) => r.asset.hash),
        ...(delivered?.length ? { referenceDelivery: delivered } : {}),
        prompt: request.prompt,
        ...(warnings.length ? { warnings } : {}),
        ...(cached ? { cached: true, costUsd: 0 } : {}),
      },
    };
  }

  private async submitAndWait(provider: Provider, request: ImageRequest, firstKey: TaskKey, inFlight: TaskRef | undefined, call: CallContext): Promise<Submitted> {
    for (let attempt = 0; ; attempt++) {
      let refused: EngineError | undefined;
      /** A first contact that found no host: retried at once, a few times only. */
      let quick: { retryInMs: number; reason: string } | undefined;
      // A new call goes to the account with the most room; a task in flight to the one that sent it.
      const account = inFlight ? accountOfTask(this.o.providers, provider, inFlight) : chooseAccount(this.o.providers, provider, this.o.lanes);
      const key: TaskKey = account.name ? { ...firstKey, account: account.name } : firstKey;
      // Waiting for room on the account's lane is queued, not running (the progress table counts it so).
      if (this.o.lanes.room(account.lane) <= 0) call.onStatus(QUEUED_STATUS);
      const outcome = await this.o.lanes.run(
        account.lane,
        async (): Promise<Submitted | undefined> => {
          let task = inFlight;
          let reserved = 0;
          let delivered: DeliveredReference[] | undefined;
          let sent = request;
          /** What this submit added to the run's cost (undefined: re-attached, counted where it was sent). */
          let counted: number | undefined;
          if (!task) {
            const stopped = this.stops.check(account.lane, provider.title);
            if (stopped) throw stopped;
            // URLs are chosen now, at the submit, so a provider URL is passed on only while it stays valid.
            if (provider.capabilities.referencesMustBeUrls && request.references.length > 0 && this.o.references) {
              call.onStatus('preparing references');
              const got = await this.o.references.resolve(account.provider, request.references, { signal: call.signal, ...(call.onWarning ? { onWarning: call.onWarning } : {}) });
              sent = { ...request, references: got.refs };
              delivered = got.delivered;
            }
            if ((await this.o.tasks?.submitting?.(key)) === 'elsewhere') throw SUBMITTING_ELSEWHERE;
            reserved = this.reserveBudget(provider.id, key.expectedUsd);
            call.onStatus('submitting');
            try {
              // Not the run's signal: a submit cut off mid-request may have been paid for, so a
              // Ctrl-C lets it finish and records the task (a resume then waits on it). The
              // adapter's own timeout turns a submit that never answers into ambiguous_submit.
              task = await account.provider.submit(sent, { signal: NEVER_ABORTED });
              if (account.name) task = { ...task, account: account.name };
            } catch (e) {
              this.reservedMicros -= reserved;
              const err = toEngineError(e, 'provider_failed', { provider: provider.id });
              const verdict = this.stops.afterSubmitError(account.lane, provider.title, err, attempt);
              if (verdict && 'fail' in verdict) throw verdict.fail;
              if (verdict) quick = verdict;
              // Only a refusal the provider surely did not accept may be tried again; the intent
              // row is closed so a resume does not mistake it for a submit on the wire.
              if (err.details.retryable === true && !call.signal.aborted) {
                await this.record(() => this.o.tasks?.failed(key, undefined, err), call);
                refused = err;
                return undefined;
              }
              throw err;
            }
            this.stops.reached(account.lane);
            this.stats.submitted++;
            this.reservedMicros -= reserved;
            reserved = 0;
            // Accepted: it counts now (BFL prices a task at submit; others at the pricing table's
            // figure until they report), so the budget stops the next submit and a cancel shows it.
            counted = toMicros(task.costUsd ?? key.expectedUsd);
            this.count(counted, task.costUsd === undefined && key.expectedUsd !== undefined, call.nodeId);
            await this.record(() => this.o.tasks?.submitted(key, task!), call);
          }
          try {
            if (call.signal.aborted) throw new EngineError('aborted', 'the run was cancelled', { taskId: task.taskId });
            call.onStatus('submitted');
            const image = await account.provider.wait(task, {
              signal: call.signal,
              timeoutMs: this.o.taskTimeoutMs,
              onProgress: (fraction, status) => call.onStatus(status, fraction),
            });
            return { task, image, ...(delivered ? { delivered } : {}), ...(counted !== undefined ? { countedMicros: counted } : {}) };
          } catch (e) {
            // Providers do not charge a task that failed or was moderated; one that may still
            // finish (timeout, cancel, poll errors) stays counted.
            const err = toEngineError(e, 'provider_failed', { provider: provider.id, taskId: task.taskId });
            if (!isAbortError(err) && err.details.resumable !== true && err.code !== 'timeout') this.uncount(counted, call.nodeId);
            throw err;
          }
        },
        call.signal,
      );
      if (outcome) return outcome;
      const err = refused!;
      if (this.o.retryRefusals === false) throw err;
      if (attempt + 1 >= MAX_SUBMIT_ATTEMPTS) {
        throw new EngineError(err.code, `${err.message} (gave up after ${MAX_SUBMIT_ATTEMPTS} attempts)`, { ...err.details, retryable: false }, { cause: err });
      }
      const wait = quick?.retryInMs ?? backoffMs(attempt, err.details.retryAfterSec);
      if (err.code === 'rate_limited') this.o.lanes.pause(account.lane, wait);
      // The reason and the attempt, never a bare "retrying".
      const of = quick ? FIRST_CONTACT_ATTEMPTS : MAX_SUBMIT_ATTEMPTS;
      call.onStatus(`retrying in ${wait < 1000 ? `${Math.round(wait)} ms` : `${Math.round(wait / 1000)} s`} (attempt ${attempt + 2} of ${of}): ${quick?.reason ?? retryReason(err)}`);
      await sleep(wait, call.signal);
    }
  }
}

/** Why a submit is tried again, in a few words: "rate limited (HTTP 429)", "network (ECONNRESET)". */
function retryReason(err: EngineError): string {
  const what = err.code === 'rate_limited' ? 'rate limited' : err.code === 'network' ? 'connection failed' : err.code.replace(/_/g, ' ');
  const detail = typeof err.details.httpStatus === 'number' ? `HTTP ${err.details.httpStatus}` : typeof err.details.errno === 'string' ? err.details.errno : undefined;
  return detail ? `${what} (${detail})` : what;
}

/** A task that finished at the provider, with what its submit added to the run's cost. */
interface Submitted {
  task: TaskRef;
  image: GeneratedImage;
  delivered?: DeliveredReference[];
  countedMicros?: number;
}

interface Obtained {
  record: GeneratedImageRecord;
  cached: boolean;
  taskId?: string;
  delivered?: DeliveredReference[];
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new EngineError('aborted', 'the run was cancelled'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new EngineError('aborted', 'the run was cancelled'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
