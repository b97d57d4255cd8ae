/**
 * Runs started from the editor: validation first, one run at a time (so the provider lanes'
 * caps hold across runs), an event log per run that late or reconnecting SSE clients replay,
 * cancel by AbortSignal, and a small history kept on disk. Also the cost estimate of a run
 * before it starts, against the same store and ledger, so what a run would take from the cache
 * is priced at $0.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { EngineError, isAbortError, toEngineError } from '../core/errors';
import type { RunEvent, RunSummary } from '../core/events';
import type { Pipeline } from '../core/pipeline-schema';
import type { ProviderSet } from '../core/provider';
import type { NodeRegistry } from '../core/registry';
import type { TaskHooks } from '../core/run-options';
import { newRunId, runPipeline } from '../core/run-pipeline';
import { priceOf } from '../providers/pricing';
import type { ArtifactStore } from '../core/store';
import type { ValidationIssue } from '../core/validate';
import { estimatePipeline, type Estimate } from '../host/estimate';
import type { Ledger } from '../store/ledger';
import type { AccountLoad, ImageFacts, RunRecord } from '../../editor/api/types';
import type { Lanes } from '../core/lanes';
import type { ImageMeta } from '../core/ports';
import { fromLedger, ledgerImages } from './run-history';
import type { RunFiles } from './run-zip';
import { HttpError } from './http-util';
import type { ReferenceDelivery } from '../refs/delivery';
import { applyMoney } from '../core/run/summarise';
import { isResumable, toMicros } from '../core/money';
import type { Purpose } from '../host/preflight';
import { ResultsManifest } from '../host/results-manifest';
import { isBatch } from '../core/batch-plan';
import { lexicallyInside } from './confine';
import { LocalImageFiles } from './local-files';
import { serverPreflight, type CheckHost, type ServerChecked } from './run-checks';

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
  /** What the pre-flight knows of the providers (keys, routes, trusted origins); default: none keyed. */
  host?: CheckHost;
  /** Pipeline URLs may reach private addresses (--allow-private-urls / FLUXGRAPH_ALLOW_PRIVATE_URLS). */
  allowPrivateUrls?: boolean;
  /** Redacts secrets from results.csv. */
  redact?: (text: string) => string;
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
  /** Nothing outside this folder is read (the examples folder for a template); default the base folder. */
  confineTo?: string;
  /** Who starts it (a team server's token): the run is theirs, and their spending caps apply. */
  owner?: { person: string; team?: string };
}

type Listener = (seq: number, event: RunEvent) => void;

/** A run about to start (new or resumed), after its pre-flight. */
interface Launch {
  runId: string;
  checked: ServerChecked & { pipeline: Pipeline; only?: string[] };
  folder: string;
  resumed?: boolean;
  pipelinePath?: string;
  variables?: Record<string, string>;
  provider?: string;
  concurrency?: Record<string, number>;
  seedsFrom?: string;
  outDir?: string;
  batch?: boolean;
  owner?: { person: string; team?: string };
}

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
  /** The lanes of the run in progress (its accounts' active, waiting and paused calls). */
  private lanes?: Lanes;
  private history: RunRecord[] = [];
  private active: ActiveRun | undefined;
  private persisting: Promise<void> = Promise.resolve();
  private readonly files: LocalImageFiles;

  constructor(private readonly opts: RunRegistryOptions) {
    this.files = new LocalImageFiles(opts.store);
  }

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

  /** The server's pre-flight of a request (see run-checks.ts); a 400 for a request that names an unknown provider. */
  private async preflight(input: StartRunInput, purpose: Purpose): Promise<ServerChecked & { only?: string[] }> {
    if (input.provider !== undefined && (typeof input.provider !== 'string' || !this.opts.providers.get(input.provider))) {
      throw new HttpError(400, 'unknown_provider', `unknown provider "${String(input.provider)}" (known: ${this.opts.providers.ids().join(', ')})`);
    }
    const variables = isStringRecord(input.variables) ? input.variables : undefined;
    // "only" names nodes of the document: checked once the document is read.
    const rawOnly = Array.isArray(input.only) && input.only.every((v) => typeof v === 'string') ? [...new Set(input.only as string[])] : undefined;
    const result = await serverPreflight(
      {
        pipeline: input.pipeline,
        ...(input.provider ? { provider: input.provider } : {}),
        ...(variables ? { variables } : {}),
        folder: input.folder ?? this.opts.baseDir,
        confineTo: input.confineTo ?? this.opts.baseDir,
        ...(purpose === 'run' ? { outDir: this.opts.outDir } : {}),
        allowPrivateUrls: this.opts.allowPrivateUrls === true,
      },
      purpose,
      {
        registry: this.opts.registry,
        providers: this.opts.providers,
        host: this.opts.host ?? { providers: this.opts.providers, embedded: this.opts.embedded === true, keyed: [], route: () => undefined, trustedOrigins: [] },
        ...(this.opts.references ? { references: this.opts.references } : {}),
      },
    );
    const only = result.pipeline ? onlyOf(input.only, result.pipeline) : rawOnly;
    return { ...result, ...(only?.length ? { only } : {}) };
  }

  /** The pre-flight that must pass before an estimate or a run: a 422 with the issues otherwise. */
  private async passed(input: StartRunInput, purpose: Purpose): Promise<ServerChecked & { pipeline: Pipeline; only?: string[] }> {
    const checked = await this.preflight(input, purpose);
    if (!checked.ok || !checked.pipeline) {
      const errors = checked.issues.filter((i) => i.severity === 'error').length;
      throw new HttpError(422, 'invalid_pipeline', `the pipeline has ${errors} problem${errors === 1 ? '' : 's'}`, { issues: checked.issues });
    }
    return checked as ServerChecked & { pipeline: Pipeline; only?: string[] };
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
    const pre = await this.passed(input, 'estimate');
    const { pipeline, only } = pre;
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
        // The pre-flight's result: no second validation, no second scan of the rows.
        ...(doc === pipeline ? { checked: pre.checked } : {}),
        ...(pre.batch ? { batch: pre.batch } : {}),
        // Reference files are read by header only; a file a run here read is priced as that image.
        readImageFile: (path, maxBytes) => this.files.standIn(path, maxBytes),
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

  /** The pre-flight of `validate`: the document, and files by header inside the base folder (URLs are never fetched here). */
  async validate(input: StartRunInput): Promise<{ ok: boolean; pipeline?: Pipeline; issues: ValidationIssue[] }> {
    const checked = await this.preflight(input, 'validate');
    return { ok: checked.ok, issues: checked.issues, ...(checked.pipeline ? { pipeline: checked.pipeline } : {}) };
  }

  /** Starts a run of the document after its pre-flight (a 422 with the issues when it fails). */
  async start(input: StartRunInput): Promise<{ runId: string; issues: ValidationIssue[] }> {
    return this.exclusively(async () => {
      const checked = await this.passed(input, 'run');
      const variables = isStringRecord(input.variables) ? input.variables : undefined;
      const runId = newRunId();
      const seedsFrom = this.seedSource(input, checked.pipeline, checked.only);
      this.launch({
        runId,
        checked,
        folder: input.folder ?? this.opts.baseDir,
        ...(variables ? { variables } : {}),
        ...(input.provider ? { provider: input.provider } : {}),
        ...(seedsFrom ? { seedsFrom } : {}),
        ...(input.owner ? { owner: input.owner } : {}),
      });
      return { runId, issues: checked.issues };
    });
  }

  /**
   * Continues an interrupted (or otherwise resumable) run from the ledger, as `fluxgraph run
   * --resume` does: the stored document and options, the same run id, paid tasks re-attached,
   * stored results free, a batch's failed rows left failed.
   */
  async resume(runId: string): Promise<{ runId: string; issues: ValidationIssue[] }> {
    const { ledger } = this.opts;
    if (!ledger) throw new HttpError(409, 'no_ledger', 'this server keeps no ledger, so it cannot resume runs');
    return this.exclusively(async () => {
      const stored = ledger.getRun(runId);
      if (!stored) throw new HttpError(404, 'run_not_found', `no run "${runId}" in the ledger`);
      if (!isResumable(stored.status)) {
        throw new HttpError(409, 'not_resumable', stored.status === 'running' ? `run ${runId} is still running in another process` : `run ${runId} is ${stored.status}: there is nothing to resume`);
      }
      const o = stored.options;
      const folder = o.baseDir ?? (stored.pipelinePath ? dirname(stored.pipelinePath) : this.opts.baseDir);
      const confineTo = this.confineRootOf?.(folder) ?? this.opts.baseDir;
      if (!lexicallyInside(confineTo, folder)) {
        throw new HttpError(403, 'outside_base_dir', `run ${runId} reads its files from ${folder}, outside the base folder ${this.opts.baseDir}: resume it with fluxgraph run --resume ${runId}`);
      }
      const checked = await this.passed({ pipeline: stored.pipeline, ...(o.provider ? { provider: o.provider } : {}), ...(o.variables ? { variables: o.variables } : {}), ...(o.only ? { only: o.only } : {}), folder, confineTo }, 'run');
      this.launch({
        runId,
        checked,
        folder,
        resumed: true,
        ...(stored.pipelinePath ? { pipelinePath: stored.pipelinePath } : {}),
        ...(o.variables ? { variables: o.variables } : {}),
        ...(o.provider ? { provider: o.provider } : {}),
        ...(o.concurrency ? { concurrency: o.concurrency } : {}),
        ...(o.outDir ? { outDir: o.outDir } : {}),
        ...(o.batch ? { batch: true } : {}),
        // A resumed run stays its starter's, and their caps keep applying.
        ...(stored.owner ? { owner: { person: stored.owner, ...(stored.team ? { team: stored.team } : {}) } } : {}),
      });
      this.opts.log?.(`run ${runId} resumed from the editor`);
      return { runId, issues: checked.issues };
    });
  }

  /** Which folder a document in `folder` may read from (set by the server: the examples folder for templates). */
  confineRootOf?: (folder: string) => string | undefined;

  /** One start or resume at a time, and none while a run is in progress (so the lanes' caps hold across runs). */
  private async exclusively<T>(start: () => Promise<T>): Promise<T> {
    if ((this.active && !this.active.finished) || this.starting) {
      const id = this.active && !this.active.finished ? this.active.record.runId : undefined;
      throw new HttpError(409, 'run_in_progress', id ? `run ${id} is still in progress: stop it first` : 'a run is starting: wait for it, or stop it', id ? { runId: id } : undefined);
    }
    this.starting = true;
    try {
      return await start();
    } finally {
      this.starting = false;
    }
  }

  private starting = false;

  private launch(l: Launch): void {
    const { runId, checked } = l;
    const { pipeline, only } = checked;
    const outDir = l.outDir ?? this.opts.outDir;
    const controller = new AbortController();
    const earlier = l.resumed ? this.get(runId) : undefined;
    const record: RunRecord = {
      runId,
      ...(pipeline.name ? { pipeline: pipeline.name } : {}),
      status: 'running',
      startedAt: earlier?.startedAt ?? Date.now(),
      nodeCount: pipeline.nodes.length,
      ...(only ? { only } : {}),
      images: [],
      imagesWritten: [],
      failures: 0,
      origin: 'editor',
      ...(l.resumed ? { resumed: true } : {}),
      ...(l.owner ? { owner: l.owner.person } : {}),
    };
    const run: ActiveRun = { record, controller, events: [], lastProgressAt: new Map(), listeners: new Set(), done: Promise.resolve(), finished: false };
    this.runs.set(runId, run);
    this.active = run;
    this.history = [record, ...this.history.filter((r) => r.runId !== runId)].slice(0, this.opts.historyLimit ?? 100);
    this.forgetOldLogs();

    const { ledger } = this.opts;
    const batch = checked.batch !== undefined && isBatch(checked.batch.plan);
    const tasks = ledger
      ? ledger.hooks(runId, {
          cache: true,
          reattach: this.opts.embedded !== true,
          ...(l.seedsFrom ? { seedsFrom: l.seedsFrom } : {}),
          ...(l.resumed && (l.batch || batch) ? { keepFailed: true } : {}),
          ...(l.owner ? { owner: l.owner } : {}),
        })
      : this.opts.tasks;
    ledger?.startRun({
      runId,
      pipeline,
      ...(l.owner ? { owner: l.owner } : {}),
      ...(l.pipelinePath ? { pipelinePath: l.pipelinePath } : {}),
      options: {
        ...(l.variables ? { variables: l.variables } : {}),
        ...(l.provider ? { provider: l.provider } : {}),
        ...(l.concurrency ? { concurrency: l.concurrency } : {}),
        outDir,
        baseDir: l.folder,
        ...(only ? { only } : {}),
        ...(batch ? { batch } : {}),
      },
    });
    // A batch writes results.csv in its folder, one line per row and image, as the CLI does.
    const manifest = batch ? new ResultsManifest(join(outDir, runId, 'results.csv'), [...checked.batch!.sources.values()].flatMap((src) => src.columns), this.opts.redact) : undefined;
    const prefetched = checked.prefetched?.prefetched;
    const download = this.opts.download;
    run.done = runPipeline(pipeline, {
      download: async (url, signal) => {
        const got = prefetched?.get(url);
        if (got) return got;
        if (!download) throw new EngineError('invalid_input', `cannot download ${url}: this server has no downloader`);
        return download(url, signal);
      },
      registry: this.opts.registry,
      providers: this.opts.providers,
      store: this.opts.store,
      baseDir: l.folder,
      outDir,
      signal: controller.signal,
      runId,
      ...(l.provider ? { provider: l.provider } : {}),
      ...(l.variables ? { variables: l.variables } : {}),
      ...(l.concurrency ? { concurrency: l.concurrency } : {}),
      ...(tasks ? { tasks } : {}),
      // The CLI in another terminal shares each account's cap through the ledger.
      ...(ledger && this.opts.embedded !== true ? { slots: ledger.slots } : {}),
      ...(only ? { only } : {}),
      // The pre-flight's own result: the run does not validate the document again.
      checked: checked.checked,
      priceOf,
      onLanes: (lanes) => (this.lanes = lanes),
      readImageFile: (path, maxBytes) => this.files.read(path, maxBytes),
      ...(this.opts.references ? { references: this.opts.references() } : {}),
      onEvent: (e) => {
        manifest?.onEvent(e);
        this.record(run, e);
      },
    })
      .then((summary) => this.finish(run, summary, manifest))
      .catch((e: unknown) => this.finish(run, this.failedSummary(run, e), manifest));
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
      const { image } = e.value;
      run.record.images.push({
        nodeId: e.nodeId,
        item: e.item,
        ...(e.row ? { row: e.row.n } : {}),
        hash: image.hash,
        width: image.width,
        height: image.height,
        ...(e.cached ? { cached: true } : {}),
        facts: factsOf(image.meta, e.cached === true),
      });
    } else if (e.type === 'fileWritten') {
      run.record.imagesWritten.push(e.path);
    }
    run.events.push(e);
    const seq = run.events.length;
    for (const l of run.listeners) l(seq, e);
  }

  private async finish(run: ActiveRun, summary: RunSummary, manifest?: ResultsManifest): Promise<void> {
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
    // results.csv is complete once its stream is closed; the history names it then.
    if (manifest) {
      await manifest.close().catch(() => undefined);
      run.record.results = manifest.path;
    }
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

  /** A run as the history lists it: the live record while it runs, else the ledger's (with the editor's record of it). */
  get(runId: string): RunRecord | undefined {
    const live = this.runs.get(runId);
    if (live && !live.finished) return live.record;
    const editor = live?.record ?? this.history.find((r) => r.runId === runId);
    const stored = this.opts.ledger?.getRun(runId);
    return stored ? fromLedger(stored, editor) : editor;
  }

  /** One run with its images: those the editor showed, and what the ledger knows it made (CLI runs, resumes). */
  async details(runId: string): Promise<RunRecord | undefined> {
    const record = this.get(runId);
    if (!record || !this.opts.ledger || record.status === 'running') return record;
    const known = new Set(record.images.map((i) => i.hash));
    const more = (await ledgerImages(this.opts.ledger, this.opts.store, runId)).filter((i) => !known.has(i.hash));
    const files = record.imagesWritten.length ? record.imagesWritten : this.opts.ledger.filesOf(runId).map((f) => f.path);
    return { ...record, images: [...record.images, ...more], imagesWritten: files };
  }

  /** What "download all" packs for a run: its files (inside its output folder), else its images. */
  async filesOf(runId: string): Promise<RunFiles | undefined> {
    const record = await this.details(runId);
    if (!record) return undefined;
    const stored = this.opts.ledger?.getRun(runId);
    return {
      runId,
      ...(record.pipeline ? { pipeline: record.pipeline } : {}),
      outDir: stored?.options.outDir ?? this.opts.outDir,
      files: record.imagesWritten,
      images: record.images,
      ...(record.results ? { results: record.results } : {}),
    };
  }

  /** Newest first: the ledger's runs (editor, CLI and library alike), and editor runs it does not have. */
  list(limit = 100): RunRecord[] {
    const { ledger } = this.opts;
    if (!ledger) return this.history;
    const editor = new Map(this.history.map((r) => [r.runId, r]));
    const listed = ledger.listRuns(limit).map((l) => {
      const live = this.runs.get(l.runId);
      return live && !live.finished ? live.record : fromLedger(l, live?.record ?? editor.get(l.runId));
    });
    const ids = new Set(listed.map((r) => r.runId));
    const extra = this.history.filter((r) => !ids.has(r.runId));
    return [...listed, ...extra].sort((a, b) => b.startedAt - a.startedAt).slice(0, limit);
  }

  /** Each provider account's calls: this server's run in progress, and the slots other processes hold in the ledger. */
  accounts(): AccountLoad[] {
    const out = new Map<string, AccountLoad>();
    const live = this.active && !this.active.finished ? this.lanes?.stats() : undefined;
    for (const [lane, s] of Object.entries(live ?? {})) {
      const [provider, account = 'default'] = lane.split(':');
      out.set(lane, { provider, account, cap: s.cap, active: s.active, elsewhere: 0, waiting: s.queued, paused: s.paused });
    }
    for (const l of this.opts.ledger && this.opts.embedded !== true ? this.opts.ledger.slots.load() : []) {
      const mine = out.get(l.lane);
      const [provider, account = 'default'] = l.lane.split(':');
      const cap = mine?.cap ?? this.opts.providers.get(provider)?.capabilities.defaultConcurrency ?? 0;
      out.set(l.lane, { ...(mine ?? { provider, account, cap, active: 0, waiting: 0, paused: false }), elsewhere: Math.max(0, l.active - (mine?.active ?? 0)) });
    }
    return [...out.values()].sort((a, b) => a.provider.localeCompare(b.provider) || a.account.localeCompare(b.account));
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

/** The lightbox's facts of an image, from its metadata. */
function factsOf(meta: ImageMeta | undefined, cached: boolean): ImageFacts {
  if (!meta) return {};
  return {
    ...(meta.provider ? { provider: meta.provider } : {}),
    ...(meta.model ? { model: meta.model } : {}),
    ...(meta.seed !== undefined ? { seed: meta.seed } : {}),
    ...(meta.prompt ? { prompt: meta.prompt } : {}),
    ...(meta.taskId ? { taskId: meta.taskId } : {}),
    ...(meta.provider ? { costMicros: cached ? 0 : toMicros(meta.costUsd), costEstimated: meta.costEstimated === true } : {}),
    ...(meta.source ? { source: meta.source } : {}),
  };
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
