/**
 * The pre-flight `run`, `validate` and `estimate` share: load the pipeline (a file, or the stored
 * document of a run being resumed), apply `--set`, and check it against the providers, before
 * anything is spent. Each step that finds a problem prints it and yields an exit code.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { EngineError } from '../core/errors';
import { formatCost } from '../core/money';
import type { Pipeline } from '../core/pipeline-schema';
import { parsePipeline, validatePipeline, type ValidationIssue, type ValidationResult } from '../core/validate';
import { onlyUpTo } from '../core/run-pipeline';
import { createReferenceDelivery, referenceSettings, referenceUrlsOf } from '../refs/host';
import { checkCachedReferences } from '../refs/cached-plan';
import { checkReferenceDelivery } from '../refs/plan';
import { checkPromptLengths } from '../host/prompt-length';
import { estimatePipeline } from '../host/estimate';
import { preflightPipeline, withChecks, type PreflightResult } from '../host/preflight';
import { FileArtifactStore } from '../store/artifacts';
import type { StoredRunOptions } from '../store/ledger';
import { checkBatch, type BatchCheck } from '../core/batch-check';
import { loadInputs, type BatchInputs } from './batch-inputs';
import { applySets } from './args';
import { withProviders, type CliHost, type ProviderHost } from './cli-host';
import { EXIT, fail } from './exit';
import type { PipelineArgs } from './pipeline-args';
import { printIssues } from './print';
import { defaultProviderNote, providersInUse } from './provider-lines';

export interface LoadedPipeline {
  /** The document to run, after `--set` (or as stored, on resume). */
  doc: Pipeline;
  variables: Record<string, string>;
  /** The pipeline file's absolute path, when there is one. */
  file?: string;
  /** How to name the pipeline in messages: the path as given, or the run id. */
  shown: string;
  /** The options a resumed run started with. */
  stored: StoredRunOptions;
}

export interface Preflight extends LoadedPipeline {
  /** The result of the full check; `ok` false means errors were found. */
  checked: ValidationResult;
  /** URL references the pre-flight of a run downloaded (the run uses these bytes). */
  host: PreflightResult;
  provider?: string;
  baseDir: string;
  only?: string[];
  /** `--inputs` rows, when the run binds rows to variables. */
  inputs?: BatchInputs;
  /** The batch pre-flight (row sources scanned, zip lengths, fields); rows per node for the estimate. */
  batch?: BatchCheck;
  /** `--out` resolved (run: also the stored or default folder). */
  outDir?: string;
  allowPrivateUrls: boolean;
  /** Providers the run calls, in the order of their first node. */
  providersUsed: string[];
  /** Said when nodes naming no provider go to the only provider with a key (not BFL). */
  providerNote?: string;
}

async function readPipelineText(file: string, shown: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new EngineError('usage', `cannot read ${shown}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/**
 * Reads and parses the pipeline (its shape only: the nodes are checked once, after `--set`, by
 * `checkPipeline`), before the providers start, so a file that does not parse starts nothing.
 */
export async function loadPipeline(args: PipelineArgs, cli: CliHost): Promise<LoadedPipeline | number> {
  const { values, positionals, resumeId } = args;
  if (resumeId) {
    // These would change the requests, and so abandon the tasks the run already paid for.
    for (const flag of ['provider', 'only', 'set'] as const) {
      if (values[flag] !== undefined) {
        return fail(`--resume ${resumeId}: --${flag} cannot change a run being resumed (it would abandon the tasks it already paid for); start a new run instead`);
      }
    }
    const run = cli.ledger!.getRun(resumeId);
    if (!run) return fail(`--resume ${resumeId}: no such run in ${cli.cacheDir} (fluxgraph runs lists them)`);
    if (run.status === 'running') return fail(`--resume ${resumeId}: the run is still running (another fluxgraph process holds it); wait for it, or stop it first`);
    // A finished run has nothing to resume: say so, and start nothing (no emulator, no provider call).
    if (run.status === 'done' && !values['retry-failed'] && cli.ledger!.ambiguousOf(resumeId).length === 0) {
      process.stderr.write(`Run ${resumeId} is already done (${run.images} image${run.images === 1 ? '' : 's'}, cost ${formatCost(run)}); nothing to resume, nothing was spent.\n`);
      return EXIT.ok;
    }
    const stored = run.options;
    const doc = run.pipeline;
    const file = run.pipelinePath ?? undefined;
    return { doc, variables: stored.variables ?? {}, ...(file ? { file } : {}), shown: file ?? resumeId, stored };
  }
  const file = resolve(positionals[0]);
  const shown = positionals[0];
  const first = parsePipeline(await readPipelineText(file, shown));
  if (!first.pipeline) {
    printIssues(first.issues, shown);
    return EXIT.invalid;
  }
  const { doc, variables } = applySets(first.pipeline, values.set ?? []);
  return { doc, variables, file, shown, stored: {} };
}

/**
 * Checks the loaded pipeline against the providers and the world outside it (files, keys, folders,
 * balances): flags first, then the whole document. With
 * `--inputs`, the rows' columns count as variables (each row fills them).
 */
export async function checkPipeline(args: PipelineArgs, cli: CliHost, host: ProviderHost, loaded: LoadedPipeline, inputs?: BatchInputs): Promise<Preflight | number> {
  const { values } = args;
  const { doc, stored, file } = loaded;
  const variables = { ...Object.fromEntries((inputs?.columns ?? []).map((c) => [c, ''])), ...loaded.variables };
  const provider = values.provider ?? stored.provider;
  if (provider && !host.providers.get(provider)) return fail(`--provider ${provider}: unknown provider (known: ${host.providers.ids().join(', ')})`);
  const baseDir = stored.baseDir ?? (file ? dirname(file) : process.cwd());
  const only = values.only?.length ? values.only : stored.only;
  const unknownOnly = (only ?? []).filter((id) => !doc.nodes.some((n) => n.id === id));
  if (unknownOnly.length) return fail(`--only ${unknownOnly.join(', ')}: no such node (nodes: ${doc.nodes.map((n) => n.id).join(', ')})`);
  const outDir = values.out !== undefined ? resolve(values.out) : args.command === 'run' ? resolve(stored.outDir ?? 'out') : undefined;
  const allowPrivateUrls = values['allow-private-urls'] === true || doc.settings?.allowPrivateUrls === true;
  const setVariables = (values.set ?? []).map((s) => s.slice(0, Math.max(0, s.indexOf('=')))).filter((k) => k && !k.includes('.'));
  const result = await preflightPipeline({
    document: doc,
    registry: cli.registry,
    host,
    purpose: args.command,
    baseDir,
    ...(outDir ? { outDir } : {}),
    ...(provider ? { provider } : {}),
    variables,
    setVariables,
    allowPrivateUrls,
    // Way 5 of issue 10: a local reference no way can deliver to its URL-only provider is refused here.
    checks: withChecks(async (ctx) => {
      const delivery = createReferenceDelivery({ env: cli.env, host, ...(cli.ledger ? { ledger: cli.ledger } : {}) });
      const target = only ? onlyUpTo(ctx.pipeline, only) : ctx.pipeline;
      return checkReferenceDelivery(target, { registry: cli.registry, providers: host.providers, ...(provider ? { provider } : {}), availability: (p) => delivery.availability(p) });
    }, async (ctx) => {
      // Way 1 of issue 10 for cached images: one whose provider URL is gone and that no other way
      // can deliver is refused here, never made again (that would pay again). Needs the ledger.
      if (!cli.ledger || ctx.purpose === 'validate' || values['no-cache'] === true || (inputs?.columns.length ?? 0) > 0) return [];
      const settings = referenceSettings(cli.env);
      const delivery = createReferenceDelivery({ env: cli.env, host, ledger: cli.ledger });
      const seedsFrom = args.resumeId ?? (only ? cli.ledger.latestRunOf({ ...(file ? { path: file } : {}), ...(doc.name ? { name: doc.name } : {}) })?.runId : undefined);
      return checkCachedReferences(ctx.pipeline, {
        registry: cli.registry,
        providers: host.providers,
        store: new FileArtifactStore(resolve(cli.cacheDir, 'store')),
        tasks: cli.ledger.hooks('reference-check', { reattach: !host.embedded }),
        urls: referenceUrlsOf(cli.ledger),
        minValidMs: settings.minValidMs,
        ...(host.session ? { session: host.session } : {}),
        availability: (p) => delivery.availability(p),
        ...(seedsFrom ? { seeds: cli.ledger.nodeSeedsOf(seedsFrom) } : {}),
        baseDir,
        variables,
        ...(provider ? { provider } : {}),
        ...(only ? { only } : {}),
        severity: ctx.purpose === 'run' ? 'error' : 'warning',
      });
    }, async (ctx) => checkPromptLengths(only ? onlyUpTo(ctx.pipeline, only) : ctx.pipeline, { registry: cli.registry, providers: host.providers, ...(provider ? { provider } : {}), variables })),
    // The balance check prices the run the way `estimate` does (cache hits at $0).
    ...(cli.ledger
      ? {
          estimateByProvider: async () => {
            const estimate = await estimatePipeline(doc, {
              registry: cli.registry,
              providers: host.providers,
              store: new FileArtifactStore(resolve(cli.cacheDir, 'store')),
              tasks: cli.ledger!.hooks('balance-check'),
              baseDir,
              variables,
              ...(provider ? { provider } : {}),
              ...(only ? { only } : {}),
              // The whole batch against the balance: every --inputs row (list nodes are counted by the estimate itself).
              ...(inputs && !inputs.issues.length ? { inputs } : {}),
            });
            const by: Record<string, number> = {};
            for (const n of estimate.nodes) for (const p of n.providers) by[p] = (by[p] ?? 0) + n.usd / n.providers.length;
            return by;
          },
        }
      : {}),
  });
  const checked: ValidationResult = { ok: result.ok, issues: result.issues, ...(result.pipeline ? { pipeline: result.pipeline } : {}) };
  return { ...loaded, checked, host: result, ...(provider ? { provider } : {}), baseDir, ...(only ? { only } : {}), ...(outDir ? { outDir } : {}), allowPrivateUrls, providersUsed: [] };
}

/**
 * The whole pre-flight: load, start the providers, check. `use` gets the result (valid or not:
 * `validate` reports the issues itself); the providers close when it is done.
 */
export async function preflight(args: PipelineArgs, cli: CliHost, use: (pre: Preflight, host: ProviderHost) => Promise<number>): Promise<number> {
  const loaded = await loadPipeline(args, cli);
  if (typeof loaded === 'number') return loaded;
  const inputs = await loadInputs(args, loaded);
  if (typeof inputs === 'number') return inputs;
  return withProviders(cli, args, async (host) => {
    const pre = await checkPipeline(args, cli, host, loaded, inputs);
    if (typeof pre === 'number') return pre;
    if (inputs) pre.inputs = inputs;
    pre.providersUsed = providersInUse(pre.doc, cli.registry, host, pre.provider, pre.only);
    const note = defaultProviderNote(pre.doc, host, pre.providersUsed, pre.provider);
    if (note) pre.providerNote = note;
    await checkRows(pre, cli);
    return use(pre, host);
  });
}

/**
 * The batch part of the pre-flight: malformed `--inputs` rows always, the row sources once the
 * document is known to be valid. Its issues come first: a broken rows file explains the rest.
 */
async function checkRows(pre: Preflight, cli: CliHost): Promise<void> {
  const { inputs } = pre;
  let batchIssues: ValidationIssue[] = [];
  if (pre.checked.ok) {
    const batch = await checkBatch(pre.checked.pipeline!, {
      registry: cli.registry,
      baseDir: pre.baseDir,
      variables: pre.variables,
      ...(inputs ? { inputs: { count: inputs.count, columns: inputs.columns } } : {}),
    });
    pre.batch = batch;
    batchIssues = batch.issues;
  }
  const issues = [...(inputs?.issues ?? []), ...batchIssues];
  if (!issues.length) return;
  pre.checked = { ...pre.checked, ok: pre.checked.ok && !issues.some((i) => i.severity === 'error'), issues: [...issues, ...pre.checked.issues] };
}

/** For `run` and `estimate`: the validated pipeline, or the issues printed and exit 2. */
export function validOrPrint(pre: Preflight): Pipeline | undefined {
  if (pre.checked.ok) return pre.checked.pipeline!;
  printIssues(pre.checked.issues, pre.shown);
  printProviderNote(pre);
  return undefined;
}

/** The default-provider note, where people read (the provider errors above may be its doing). */
export function printProviderNote(pre: Preflight): void {
  if (pre.providerNote) process.stderr.write(`note: ${pre.providerNote}\n`);
}
