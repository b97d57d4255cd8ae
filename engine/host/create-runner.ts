/**
 * The library's front door: a runner that holds what the CLI opens for a run (the ledger, the
 * image store, the providers with the embedded emulator when no key is set), so library runs
 * get the cache, resume, run history in `fluxgraph runs`, the budget and the emulator notice
 * just as `fluxgraph run` does. `close()` releases them.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineError } from '../core/errors';
import type { EventListener, RunSummary } from '../core/events';
import type { Pipeline, PipelineInput } from '../core/pipeline-schema';
import type { ProviderSet } from '../core/provider';
import type { NodeRegistry } from '../core/registry';
import { newRunId, runPipeline } from '../core/run-pipeline';
import { validatePipeline, type ValidationIssue, type ValidationResult } from '../core/validate';
import { priceOf } from '../providers/pricing';
import { FileArtifactStore } from '../store/artifacts';
import { Ledger, type RunRecord } from '../store/ledger';
import { createRegistry } from '../../nodes/index';
import { createProviders, type HostProviders } from './create-providers';
import { checkImageSources, checkProviderKeys, runPreflight } from './preflight';
import { safeFetch } from './safe-fetch';
import { loadEnv } from './env';
import { estimatePipeline, type Estimate } from './estimate';

export interface RunnerOptions {
  /** Ledger and image store. Default: env FLUXGRAPH_CACHE_DIR, else ./.fluxgraph (as the CLI). */
  cacheDir?: string;
  /** Where save-image writes files. Default ./out. */
  outDir?: string;
  /** Keys and settings. Default: process.env plus ./.env, as the CLI reads them. */
  env?: Record<string, string | undefined>;
  /** Cancels every run of this runner; a run's own `signal` cancels only that run. */
  signal?: AbortSignal;
  /** Every event of every run (a run's own `onEvent` gets its events too). */
  onEvent?: EventListener;
  /** One-line notices, such as the embedded emulator being used. Default: standard error. */
  onNotice?: (line: string) => void;
  /** Node types. Default: the built-in ones. */
  registry?: NodeRegistry;
  /** auto (default, or env FLUXGRAPH_EMULATOR): the embedded emulator only when no key is set. */
  emulator?: 'auto' | 'always' | 'never';
}

/** A pipeline file (JSON with comments allowed) by path or file URL, or the document itself. */
export type PipelineSource = string | URL | PipelineInput;

export interface CheckOptions {
  /** Run-level provider; a node's own `provider` param still wins. */
  provider?: string;
  /** `{name}` placeholder values, over `settings.variables`. */
  variables?: Record<string, string>;
  /** Folder relative reference paths resolve against. Default: the file's folder, else the working directory. */
  baseDir?: string;
}

export interface EstimateCallOptions extends CheckOptions {
  /** Only these nodes and what they need. */
  only?: string[];
  /** Price cached items too (as `cache: false` would run them). */
  cache?: boolean;
}

export interface RunCallOptions extends EstimateCallOptions {
  /** Default: the runner's outDir. */
  outDir?: string;
  /** Lane caps per provider, e.g. { bfl: 8 }. */
  concurrency?: Record<string, number>;
  /** Overall limit per provider task in ms. */
  taskTimeoutMs?: number;
  /** Refuses to start when the estimate is higher; stops submitting once the reported cost would pass it. */
  budgetUsd?: number;
  signal?: AbortSignal;
  onEvent?: EventListener;
}

export interface ResumeCallOptions {
  concurrency?: Record<string, number>;
  taskTimeoutMs?: number;
  budgetUsd?: number;
  signal?: AbortSignal;
  onEvent?: EventListener;
}

/** A run as the history lists it (`fluxgraph runs`), without its pipeline document. */
export type RunHistoryEntry = Omit<RunRecord, 'pipeline'>;

export interface Runner {
  readonly registry: NodeRegistry;
  readonly providers: ProviderSet;
  /** True when runs go to the embedded emulator (stand-in images, no cost). */
  readonly embedded: boolean;
  readonly cacheDir: string;
  /** Every problem at once, checked against the providers too; never throws for a bad document. */
  validate(pipeline: PipelineSource, options?: CheckOptions): Promise<ValidationResult>;
  /** What the run would cost (cached items at $0). Throws an EngineError for an invalid pipeline. */
  estimate(pipeline: PipelineSource, options?: EstimateCallOptions): Promise<Estimate>;
  /** Runs it with the ledger. Throws an EngineError for an invalid pipeline or a budget the estimate exceeds. */
  run(pipeline: PipelineSource, options?: RunCallOptions): Promise<RunSummary>;
  /** Continues an interrupted run without paying twice (`fluxgraph run --resume`). */
  resume(runId: string, options?: ResumeCallOptions): Promise<RunSummary>;
  /** Recent runs, newest first: CLI, editor and library runs alike. */
  runs(limit?: number): RunHistoryEntry[];
  /** Cancels runs still going, waits for them to record what they did, then releases everything. */
  close(): Promise<void>;
}

interface Loaded {
  input: unknown;
  file?: string;
  shown: string;
}

async function load(source: PipelineSource): Promise<Loaded> {
  if (typeof source !== 'string' && !(source instanceof URL)) return { input: source, shown: 'pipeline' };
  const file = resolve(source instanceof URL ? fileURLToPath(source) : source);
  try {
    return { input: await readFile(file, 'utf8'), file, shown: file };
  } catch (e) {
    throw new EngineError('io', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

function invalid(shown: string, issues: readonly ValidationIssue[]): EngineError {
  const errors = issues.filter((i) => i.severity === 'error');
  const lines = errors.map((i) => `  ${i.line ? `line ${i.line}:${i.column}: ` : ''}${i.message} [${i.code}]`);
  return new EngineError(errors[0]?.code ?? 'invalid_document', `${shown} is not a valid pipeline:\n${lines.join('\n')}`, { issues });
}

/** Both signals, or either alone. */
function eitherSignal(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  return a && b ? AbortSignal.any([a, b]) : (a ?? b);
}

export async function createRunner(options: RunnerOptions = {}): Promise<Runner> {
  const env = options.env ?? loadEnv(process.cwd());
  const cacheDir = resolve(options.cacheDir ?? env.FLUXGRAPH_CACHE_DIR ?? '.fluxgraph');
  const registry = options.registry ?? createRegistry();
  const notice = options.onNotice ?? ((line: string) => void process.stderr.write(line + '\n'));
  const ledger = Ledger.open(resolve(cacheDir, 'ledger.sqlite'));
  let host: HostProviders;
  try {
    host = await createProviders({ env, onNotice: notice, ...(options.emulator ? { emulator: options.emulator } : {}) });
  } catch (e) {
    ledger.close();
    throw e;
  }
  const store = new FileArtifactStore(resolve(cacheDir, 'store'));
  const active = new Set<Promise<unknown>>();
  const closing = new AbortController();
  let closed: Promise<void> | undefined;

  const check = async (source: PipelineSource, o: CheckOptions) => {
    const loaded = await load(source);
    const baseDir = resolve(o.baseDir ?? (loaded.file ? dirname(loaded.file) : process.cwd()));
    const result = validatePipeline(loaded.input, {
      registry,
      providers: host.providers,
      ...(o.provider ? { provider: o.provider } : {}),
      ...(o.variables ? { variables: o.variables } : {}),
      baseDir,
    });
    // The host checks a library caller gets too: reference files by header, keys (URLs are fetched by the run).
    if (result.ok && result.pipeline) {
      const pre = await runPreflight({ pipeline: result.pipeline, registry, host, purpose: 'validate', baseDir, ...(o.provider ? { provider: o.provider } : {}) }, [checkImageSources, checkProviderKeys]);
      if (pre.issues.length) Object.assign(result, { ok: pre.ok, issues: [...result.issues, ...pre.issues] });
    }
    return { loaded, baseDir, result };
  };

  const estimate = async (pipeline: Pipeline, runId: string, baseDir: string, o: EstimateCallOptions & { seedsFrom?: string }) =>
    estimatePipeline(pipeline, {
      registry,
      providers: host.providers,
      store,
      ...(o.cache === false ? {} : { tasks: ledger.hooks(runId) }),
      ...(o.seedsFrom ? { seeds: ledger.nodeSeedsOf(o.seedsFrom) } : {}),
      baseDir,
      ...(o.variables ? { variables: o.variables } : {}),
      ...(o.provider ? { provider: o.provider } : {}),
      ...(o.only ? { only: o.only } : {}),
    });

  /** The CLI's `run` after its pre-flight: budget check, ledger record, run, outcome recorded. */
  const execute = async (
    doc: Pipeline,
    pipeline: Pipeline,
    o: RunCallOptions & { runId: string; resumed: boolean; file?: string; baseDir: string; seedsFrom?: string; checked: ValidationResult },
  ): Promise<RunSummary> => {
    if (closed) throw new EngineError('usage', 'this runner is closed');
    const { runId } = o;
    if (o.budgetUsd !== undefined) {
      if (!Number.isFinite(o.budgetUsd) || o.budgetUsd < 0) throw new EngineError('usage', `budgetUsd ${o.budgetUsd}: expected an amount in USD, e.g. 2.5`);
      const e = await estimate(pipeline, runId, o.baseDir, { ...o, ...(o.resumed ? { seedsFrom: runId } : {}) });
      if (e.totalUsd > o.budgetUsd + 1e-9) {
        throw new EngineError('budget_exceeded', `the estimate is $${e.totalUsd.toFixed(4)}, over the budget of $${o.budgetUsd.toFixed(2)}; nothing was submitted`, { estimateUsd: e.totalUsd });
      }
    }
    const outDir = resolve(o.outDir ?? options.outDir ?? 'out');
    const cache = o.cache !== false;
    const { checked } = o;
    // Tasks of the embedded emulator die with the process that started it: remaking them is free.
    const hooks = ledger.hooks(runId, { cache, reattach: !host.embedded, ...(o.seedsFrom ? { seedsFrom: o.seedsFrom } : {}) });
    ledger.startRun({
      runId,
      pipeline: doc,
      ...(o.file ? { pipelinePath: o.file } : {}),
      options: {
        ...(o.variables ? { variables: o.variables } : {}),
        ...(o.provider ? { provider: o.provider } : {}),
        ...(o.concurrency ? { concurrency: o.concurrency } : {}),
        outDir,
        baseDir: o.baseDir,
        ...(o.only ? { only: o.only } : {}),
        ...(cache ? {} : { noCache: true }),
        ...(host.embedded ? { emulator: true } : {}),
      },
    });
    const signal = eitherSignal(closing.signal, eitherSignal(options.signal, o.signal));
    const listeners = [options.onEvent, o.onEvent].filter((l): l is EventListener => l !== undefined);
    let finished = false;
    const running = runPipeline(pipeline, {
      download: async (url, signal) => (await safeFetch(url, { signal, allowedOrigins: host.trustedOrigins })).bytes,
      registry,
      providers: host.providers,
      store,
      baseDir: o.baseDir,
      outDir,
      runId,
      ...(signal ? { signal } : {}),
      ...(o.variables ? { variables: o.variables } : {}),
      ...(o.provider ? { provider: o.provider } : {}),
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      ...(o.taskTimeoutMs ? { taskTimeoutMs: o.taskTimeoutMs } : {}),
      tasks: hooks,
      // Other processes on this ledger (the CLI, the editor) share each account's cap.
      ...(host.embedded ? {} : { slots: ledger.slots }),
      priceOf,
      ...(o.budgetUsd !== undefined ? { budgetUsd: o.budgetUsd } : {}),
      ...(o.only ? { only: o.only } : {}),
      // The pre-flight's result: the run does not validate the document again.
      checked,
      ...(listeners.length ? { onEvent: (e) => listeners.forEach((l) => l(e)) } : {}),
    })
      .then((summary) => {
        ledger.finishRun(summary);
        finished = true;
        return summary;
      })
      .finally(() => {
        if (!finished) ledger.markRun(runId, 'failed');
        active.delete(running);
      });
    active.add(running);
    return running;
  };

  const runner: Runner = {
    registry,
    providers: host.providers,
    embedded: host.embedded,
    cacheDir,

    async validate(source, o = {}) {
      return (await check(source, o)).result;
    },

    async estimate(source, o = {}) {
      const { loaded, baseDir, result } = await check(source, o);
      if (!result.ok) throw invalid(loaded.shown, result.issues);
      const runId = newRunId();
      const seedsFrom = o.only ? previousRun(loaded, result.pipeline!, runId) : undefined;
      return estimate(result.pipeline!, runId, baseDir, { ...o, ...(seedsFrom ? { seedsFrom } : {}) });
    },

    async run(source, o = {}) {
      const { loaded, baseDir, result } = await check(source, o);
      if (!result.ok) throw invalid(loaded.shown, result.issues);
      const runId = newRunId();
      // Run-to-here reuses the upstream results (and seeds) of the last run of the same pipeline.
      const seedsFrom = o.only ? previousRun(loaded, result.pipeline!, runId) : undefined;
      return execute(result.pipeline!, result.pipeline!, { ...o, runId, resumed: false, baseDir, checked: result, ...(loaded.file ? { file: loaded.file } : {}), ...(seedsFrom ? { seedsFrom } : {}) });
    },

    async resume(runId, o = {}) {
      const stored = ledger.getRun(runId);
      if (!stored) throw new EngineError('usage', `resume ${runId}: no such run in ${cacheDir}`);
      const s = stored.options;
      const baseDir = s.baseDir ?? (stored.pipelinePath ? dirname(stored.pipelinePath) : process.cwd());
      const result = validatePipeline(stored.pipeline, {
        registry,
        providers: host.providers,
        ...(s.provider ? { provider: s.provider } : {}),
        ...(s.variables ? { variables: s.variables } : {}),
        baseDir,
      });
      if (!result.ok) throw invalid(`run ${runId}`, result.issues);
      return execute(stored.pipeline, result.pipeline!, {
        ...s,
        ...o,
        concurrency: { ...s.concurrency, ...o.concurrency },
        // A run made with the cache off resumes with it off.
        ...(s.noCache ? { cache: false } : {}),
        runId,
        resumed: true,
        baseDir,
        checked: result,
        ...(stored.pipelinePath ? { file: stored.pipelinePath } : {}),
      });
    },

    runs(limit = 50) {
      return ledger.listRuns(limit).map(({ pipeline: _omit, ...r }) => r);
    },

    close() {
      closed ??= (async () => {
        closing.abort();
        await Promise.allSettled([...active]);
        await host.close();
        ledger.close();
      })();
      return closed;
    },
  };

  function previousRun(loaded: Loaded, pipeline: Pipeline, except: string): string | undefined {
    return ledger.latestRunOf({ ...(loaded.file ? { path: loaded.file } : {}), ...(pipeline.name ? { name: pipeline.name } : {}) }, except)?.runId;
  }

  return runner;
}
