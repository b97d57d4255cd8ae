/**
 * Runs started from the editor: validation first, one run at a time (so the provider lanes'
 * caps hold across runs), an event log per run that late or reconnecting SSE clients replay,
 * cancel by AbortSignal, and a small history kept on disk. Also the cost estimate of a run
 * before it starts, against the same store and ledger, so what a run would take from the cache
 * is priced at $0.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isAbortError, toEngineError } from '../core/errors';
import type { RunEvent, RunSummary } from '../core/events';
import type { Pipeline } from '../core/pipeline-schema';
import type { ProviderSet } from '../core/provider';
import type { NodeRegistry } from '../core/registry';
import type { TaskHooks } from '../core/run-options';
import { newRunId, runPipeline } from '../core/run-pipeline';
import { priceOf } from '../providers/pricing';
import type { ArtifactStore } from '../core/store';
import { validatePipeline, type ValidationIssue } from '../core/validate';
import { estimatePipeline, type Estimate } from '../host/estimate';
import type { Ledger } from '../store/ledger';
import type { RunImage, RunRecord } from '../../editor/api/types';
import { HttpError } from './http-util';
import type { ReferenceDelivery } from '../refs/delivery';
import { checkReferenceDelivery } from '../refs/plan';
import { applyMoney } from '../core/run/summarise';
import { isResumable } from '../core/money';
import { checkPromptLengths } from '../host/prompt-length';
import { checkImageSources, runPreflight } from '../host/preflight';

export interface RunRegistryOptions {
  registry: NodeRegistry;
  providers: ProviderSet;
  store: ArtifactStore;
  outDir: string;
  baseDir: string;
  /** JSON file the history is kept in; absent = memory only. */
  historyFile?: string;
  /**
   * The CLI's ledger: paid tasks recorded before polling (an interrupted editor run resumes with
   * `fluxgraph run --resume`), results cached across runs, node seeds kept per run.
   */
  ledger?: Ledger;
  /** Task hooks to use when there is no ledger (tests). */
  tasks?: TaskHooks;
  /** The providers are the embedded emulator, whose tasks do not outlive this process. */
  embedded?: boolean;
  /** Reference delivery for URL-only providers, one per run (engine/refs); absent: user-given URLs only. */
  references?: () => ReferenceDelivery;
  /** Runs whose event logs stay in memory for replay. */
  keepEventLogs?: number;
  historyLimit?: number;
  log?: (line: string) => void;
  /** Downloads of reference URLs (the safe fetch: public addresses only, capped, timed). */
  download?: (url: string, signal: AbortSignal) => Promise<Buffer>;
}

export interface StartRunInput {
  pipeline: unknown;
  provider?: string;
  variables?: Record<string, string>;
  /** Reuse the random seeds of this earlier run, so unchanged nodes make the same (cached) images. */
  seedsFrom?: string;
  /** Run only these nodes and what they depend on ("run to here"). */
  only?: unknown;
  /** The folder relative paths resolve against (the opened file's); default the base folder. */
  folder?: string;
}

type Listener = (seq: number, event: RunEvent) => void;

interface ActiveRun {
  record: RunRecord;
  controller: AbortController;
  /** Event log; superseded progress events become null so replays stay short. */
  events: (RunEvent | null)[];
  lastProgressAt: Map<string, number>;
  listeners: Set<Listener>;
  done: Promise<void>;
  finished: boolean;
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return !!v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

export class RunRegistry {
  private readonly runs = new Map<string, ActiveRun>();
  private history: RunRecord[] = [];
  private active: ActiveRun | undefined;
  private persisting: Promise<void> = Promise.resolve();

  constructor(private readonly opts: RunRegistryOptions) {}

  /** Loads the history file, if any; a damaged file starts a fresh history. */
  async init(): Promise<void> {
    if (!this.opts.historyFile) return;
    try {
      const data = JSON.parse(await readFile(this.opts.historyFile, 'utf8')) as { runs?: RunRecord[] };
      if (Array.isArray(data.runs)) {
        // A run that was in progress when the server stopped did not finish.
        this.history = data.runs.map((r) => (r.status === 'running' ? { ...r, status: 'interrupted' as const } : r));
      }
    } catch {
      this.history = [];
    }
  }

  /** The pipeline, validated, or a 4xx naming what is wrong with the request. */
  private checked(input: StartRunInput): { pipeline: Pipeline; issues: ValidationIssue[]; only?: string[] } {
    if (input.provider !== undefined && (typeof input.provider !== 'string' || !this.opts.providers.get(input.provider))) {
      throw new HttpError(400, 'unknown_provider', `unknown provider "${String(input.provider)}" (known: ${this.opts.providers.ids().join(', ')})`);
    }
    const checked = this.validate(input);
    if (!checked.ok || !checked.pipeline) {
      const errors = checked.issues.filter((i) => i.severity === 'error').length;
      throw new HttpError(422, 'invalid_pipeline', `the pipeline has ${errors} problem${errors === 1 ? '' : 's'}`, { issues: checked.issues });
    }
    const only = onlyOf(input.only, checked.pipeline);
    return { pipeline: checked.pipeline, issues: checked.issues, ...(only ? { only } : {}) };
  }

  /**
   * The earlier run whose seeds (and so cached results) a run reuses: the one asked for, or for a
   * run to here without one, the latest run of the same pipeline (as `fluxgraph run --only` does).
   */
  private seedSource(input: StartRunInput, pipeline: Pipeline, only: string[] | undefined): string | undefined {
    const { ledger } = this.opts;
    if (!ledger) return undefined;
    if (typeof input.seedsFrom === 'string' && ledger.getRun(input.seedsFrom)) return input.seedsFrom;
    if (only && pipeline.name) return ledger.latestRunOf({ name: pipeline.name })?.runId;
    return undefined;
  }

  /**
   * What the run would cost: every provider call priced, the ones the store already holds at $0.
   * Estimates run one at a time (each is a dry run of the scheduler); one whose client went away
   * (`signal`, e.g. the editor asked again after another edit) is skipped while it waits.
   */
  async estimate(input: StartRunInput, signal?: AbortSignal): Promise<Estimate> {
    const { pipeline, only } = this.checked(input);
    const variables = isStringRecord(input.variables) ? input.variables : undefined;
    const { ledger } = this.opts;
    const seedsFrom = this.seedSource(input, pipeline, only);
    // The run would reuse that run's seeds for nodes without one; as explicit seeds they make
    // the same requests, so the estimate finds the same cached results.
    const doc = seedsFrom && ledger ? withSeeds(pipeline, seedsOfRun(ledger, seedsFrom), (type) => this.seedable(type)) : pipeline;
    const tasks = ledger ? ledger.hooks(`estimate-${newRunId()}`) : this.opts.tasks;
    const job = this.estimating.then(() => {
      if (signal?.aborted) throw new HttpError(499, 'client_gone', 'the estimate is no longer wanted');
      return estimatePipeline(doc, {
        registry: this.opts.registry,
        providers: this.opts.providers,
        store: this.opts.store,
        ...(tasks ? { tasks } : {}),
        baseDir: input.folder ?? this.opts.baseDir,
        ...(variables ? { variables } : {}),
        ...(typeof input.provider === 'string' ? { provider: input.provider } : {}),
        ...(only ? { only } : {}),
      });
    });
    this.estimating = job.catch(() => undefined);
    return job;
  }

  private estimating: Promise<unknown> = Promise.resolve();

  private seedable(type: string): boolean {
    const def = this.opts.registry.get(type);
    const shape = (def?.params as { shape?: Record<string, unknown> } | undefined)?.shape;
    return !!shape && 'seed' in shape;
  }

  validate(input: StartRunInput): { ok: boolean; pipeline?: Pipeline; issues: ValidationIssue[] } {
    const variables = isStringRecord(input.variables) ? input.variables : undefined;
    const checked = validatePipeline(input.pipeline, {
      registry: this.opts.registry,
      providers: this.opts.providers,
      ...(input.provider ? { provider: input.provider } : {}),
      ...(variables ? { variables } : {}),
      baseDir: input.folder ?? this.opts.baseDir,
    });
    // Way 5 of issue 10: a local reference no way can deliver is refused before anything is spent.
    if (!checked.pipeline) return checked;
    const delivery = this.opts.references?.();
    const where = { registry: this.opts.registry, providers: this.opts.providers, ...(input.provider ? { provider: input.provider } : {}) };
    const more = [
      ...(delivery ? checkReferenceDelivery(checked.pipeline, { ...where, availability: (p) => delivery.availability(p) }) : []),
      ...checkPromptLengths(checked.pipeline, { ...where, ...(variables ? { variables } : {}) }),
    ];
    return more.length ? { ...checked, ok: false, issues: [...checked.issues, ...more] } : checked;
  }

  /** `validate` plus the reference files read by header (the host pre-flight's file check; URLs are never fetched here). */
  async validateWithFiles(input: StartRunInput): Promise<{ ok: boolean; pipeline?: Pipeline; issues: ValidationIssue[] }> {
    const checked = this.validate(input);
    if (!checked.pipeline) return checked;
    const host = { providers: this.opts.providers, embedded: this.opts.embedded === true, keyed: [], route: () => undefined, trustedOrigins: [] };
    const files = await runPreflight({ pipeline: checked.pipeline, registry: this.opts.registry, host, purpose: 'validate', baseDir: input.folder ?? this.opts.baseDir }, [checkImageSources]);
    const more = files.issues;
    return more.length ? { ...checked, ok: checked.ok && !more.some((i) => i.severity === 'error'), issues: [...checked.issues, ...more] } : checked;
  }

  start(input: StartRunInput): { runId: string; issues: ValidationIssue[] } {
    if (this.active && !this.active.finished) {
      throw new HttpError(409, 'run_in_progress', `run ${this.active.record.runId} is still in progress: stop it first`, { runId: this.active.record.runId });
    }
    const checked = this.checked(input);
    const { pipeline, only } = checked;
    const runId = newRunId();
    const controller = new AbortController();
    const record: RunRecord = {
      runId,
      ...(pipeline.name ? { pipeline: pipeline.name } : {}),
      status: 'running',
      startedAt: Date.now(),
      nodeCount: pipeline.nodes.length,
      ...(only ? { only } : {}),
      images: [],
      imagesWritten: [],
      failures: 0,
    };
    const run: ActiveRun = {
      record,
      controller,
      events: [],
      lastProgressAt: new Map(),
      listeners: new Set(),
      done: Promise.resolve(),
      finished: false,
    };
    this.runs.set(runId, run);
    this.active = run;
    this.history = [record, ...this.history.filter((r) => r.runId !== runId)].slice(0, this.opts.historyLimit ?? 100);
    this.forgetOldLogs();

    const variables = isStringRecord(input.variables) ? input.variables : undefined;
    const { ledger } = this.opts;
    const seedsFrom = this.seedSource(input, pipeline, only);
    const tasks = ledger ? ledger.hooks(runId, { cache: true, reattach: this.opts.embedded !== true, ...(seedsFrom ? { seedsFrom } : {}) }) : this.opts.tasks;
    ledger?.startRun({
      runId,
      pipeline,
      options: {
        ...(variables ? { variables } : {}),
        ...(input.provider ? { provider: input.provider } : {}),
        outDir: this.opts.outDir,
        baseDir: input.folder ?? this.opts.baseDir,
        ...(only ? { only } : {}),
      },
    });
    run.done = runPipeline(pipeline, {
      ...(this.opts.download ? { download: this.opts.download } : {}),
      registry: this.opts.registry,
      providers: this.opts.providers,
      store: this.opts.store,
      baseDir: input.folder ?? this.opts.baseDir,
      outDir: this.opts.outDir,
      signal: controller.signal,
      runId,
      ...(input.provider ? { provider: input.provider } : {}),
      ...(variables ? { variables } : {}),
      ...(tasks ? { tasks } : {}),
      ...(only ? { only } : {}),
      priceOf,
      ...(this.opts.references ? { references: this.opts.references() } : {}),
      onEvent: (e) => this.record(run, e),
    })
      .then((summary) => this.finish(run, summary))
      .catch((e: unknown) => this.finish(run, this.failedSummary(run, e)));
    return { runId, issues: checked.issues };
  }

  private failedSummary(run: ActiveRun, e: unknown): RunSummary {
    const err = toEngineError(e);
    this.opts.log?.(`run ${run.record.runId} failed: ${err.message}`);
    return {
      runId: run.record.runId,
      ...(run.record.pipeline ? { pipeline: run.record.pipeline } : {}),
      status: isAbortError(e) ? 'cancelled' : 'failed',
      startedAt: run.record.startedAt,
      elapsedMs: Date.now() - run.record.startedAt,
      imagesWritten: run.record.imagesWritten,
      failures: [{ nodeId: '', code: err.code, message: err.message }],
      skipped: [],
      warnings: [],
      costUsd: 0,
      providerCalls: 0,
      nodes: {},
    };
  }

  private record(run: ActiveRun, e: RunEvent): void {
    if (run.finished) return;
    if (e.type === 'nodeProgress') {
      const prev = run.lastProgressAt.get(e.nodeId);
      if (prev !== undefined) run.events[prev] = null;
      run.lastProgressAt.set(e.nodeId, run.events.length);
    } else if (e.type === 'itemDone' && e.value.kind === 'image') {
      const img: RunImage = {
        nodeId: e.nodeId,
        item: e.item,
        hash: e.value.image.hash,
        width: e.value.image.width,
        height: e.value.image.height,
        ...(e.cached ? { cached: true } : {}),
      };
      run.record.images.push(img);
    } else if (e.type === 'fileWritten') {
      run.record.imagesWritten.push(e.path);
    }
    run.events.push(e);
    const seq = run.events.length;
    for (const l of run.listeners) l(seq, e);
  }

  private finish(run: ActiveRun, summary: RunSummary): void {
    if (run.finished) return;
    // A run that ended without its own runDone (it threw) still tells its followers.
    if (!run.events.some((e) => e?.type === 'runDone')) {
      this.record(run, { type: 'runDone', runId: run.record.runId, at: Date.now(), summary });
    }
    run.finished = true;
    try {
      if (this.opts.ledger) applyMoney(summary, this.opts.ledger.finishRun(summary));
    } catch (e) {
      this.opts.log?.(`could not record run ${summary.runId} in the ledger: ${(e as Error).message}`);
    }
    Object.assign(run.record, {
      status: summary.status,
      elapsedMs: summary.elapsedMs,
      imagesWritten: summary.imagesWritten.length ? summary.imagesWritten : run.record.imagesWritten,
      failures: summary.failures.length,
      ...recordMoney(summary),
    });
    run.listeners.clear();
    this.persist();
  }

  private forgetOldLogs(): void {
    const keep = this.opts.keepEventLogs ?? 20;
    const ids = [...this.runs.keys()];
    for (const id of ids.slice(0, Math.max(0, ids.length - keep))) {
      const r = this.runs.get(id)!;
      if (r.finished) this.runs.delete(id);
    }
  }

  private persist(): void {
    const file = this.opts.historyFile;
    if (!file) return;
    const text = JSON.stringify({ version: 1, runs: this.history }, null, 1);
    this.persisting = this.persisting.then(async () => {
      try {
        await mkdir(dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, text);
        await rename(tmp, file);
      } catch (e) {
        this.opts.log?.(`could not write the run history to ${file}: ${(e as Error).message}`);
      }
    });
  }

  /**
   * Replays the events after `afterSeq`, then follows live ones. `onEnd` is called once the run
   * is over and everything was delivered. Returns an unsubscribe function.
   */
  follow(runId: string, afterSeq: number, listener: Listener, onEnd: () => void): () => void {
    const run = this.runs.get(runId);
    if (!run) throw new HttpError(404, 'run_not_found', `no run "${runId}" (its events are kept for the last ${this.opts.keepEventLogs ?? 20} runs)`);
    for (let i = afterSeq; i < run.events.length; i++) {
      const e = run.events[i];
      if (e) listener(i + 1, e);
    }
    if (run.finished) {
      onEnd();
      return () => undefined;
    }
    const wrapped: Listener = (seq, e) => {
      listener(seq, e);
      if (e.type === 'runDone') onEnd();
    };
    run.listeners.add(wrapped);
    return () => run.listeners.delete(wrapped);
  }

  cancel(runId: string): boolean {
    const run = this.runs.get(runId);
    if (!run) throw new HttpError(404, 'run_not_found', `no run "${runId}"`);
    if (run.finished) return false;
    run.controller.abort();
    return true;
  }

  get(runId: string): RunRecord | undefined {
    return this.runs.get(runId)?.record ?? this.history.find((r) => r.runId === runId);
  }

  list(): RunRecord[] {
    return this.history;
  }

  /** Resolves when the run has finished (tests, shutdown). */
  async settled(runId: string): Promise<void> {
    await this.runs.get(runId)?.done;
  }

  /** Cancels what is running and waits for it to wind down. */
  async close(): Promise<void> {
    for (const run of this.runs.values()) if (!run.finished) run.controller.abort();
    await Promise.all([...this.runs.values()].map((r) => r.done));
    await this.persisting;
  }
}

/** `only` of a request: undefined (the whole pipeline) or ids of nodes of `pipeline`. */
function onlyOf(value: unknown, pipeline: Pipeline): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new HttpError(400, 'invalid_body', '"only" must be a list of node ids');
  }
  if (value.length === 0) return undefined;
  const ids = new Set(pipeline.nodes.map((n) => n.id));
  const unknown = (value as string[]).filter((id) => !ids.has(id));
  if (unknown.length > 0) {
    throw new HttpError(400, 'unknown_node', `cannot run up to ${unknown.map((id) => `"${id}"`).join(', ')}: no such node (nodes: ${[...ids].join(', ')})`);
  }
  return [...new Set(value as string[])];
}

/** The seed each node drew in a run (the ledger's node_seeds). */
function seedsOfRun(ledger: Ledger, runId: string): Map<string, number> {
  const rows = ledger.db.prepare(`SELECT node_id AS nodeId, seed FROM node_seeds WHERE run_id = ?`).all(runId) as { nodeId: string; seed: number }[];
  return new Map(rows.map((r) => [r.nodeId, r.seed]));
}

/** The pipeline with `seeds` filled into the nodes that take a seed and have none. */
function withSeeds(pipeline: Pipeline, seeds: Map<string, number>, seedable: (type: string) => boolean): Pipeline {
  return {
    ...pipeline,
    nodes: pipeline.nodes.map((n) => {
      const seed = seeds.get(n.id);
      if (seed === undefined || n.params?.seed !== undefined || !seedable(n.type)) return n;
      return { ...n, params: { ...n.params, seed } };
    }),
  };
}

/** The money fields of the editor's run record, as the summary (and so the ledger) has them. */
function recordMoney(summary: RunSummary): Pick<RunRecord, 'costUsd' | 'costMicros' | 'costEstimated' | 'unconfirmedMicros' | 'providerCalls' | 'shared' | 'imageCount' | 'resumable'> {
  return {
    costUsd: summary.costUsd,
    costMicros: summary.costMicros ?? Math.round(summary.costUsd * 1e6),
    costEstimated: summary.costEstimated === true,
    unconfirmedMicros: summary.unconfirmedMicros ?? 0,
    providerCalls: summary.providerCalls,
    shared: summary.shared ?? 0,
    imageCount: summary.images ?? summary.imagesWritten.length,
    resumable: isResumable(summary.status),
  };
}
