/**
 * The server's pre-flight of validate, estimate and the start of a run: the CLI's checks (the
 * document, reference delivery, prompt lengths, keys, reference files by header, `--out`, URL
 * references fetched at the start of a run, the batch's row sources), with every local path
 * first confined to the base folder. Its result is what the run and the estimate then use: they
 * do not validate again.
 */
import type { BatchCheck } from '../core/batch-check';
import { checkBatch } from '../core/batch-check';
import type { Pipeline } from '../core/pipeline-schema';
import type { ProviderSet } from '../core/provider';
import type { NodeRegistry } from '../core/registry';
import { onlyUpTo } from '../core/run-pipeline';
import { validatePipeline, type ValidationIssue, type ValidationResult } from '../core/validate';
import type { HostProviders } from '../host/create-providers';
import { checkImageSources, checkOutputFolder, checkProviderKeys, runPreflight, type PreflightResult, type Purpose } from '../host/preflight';
import { checkPromptLengths } from '../host/prompt-length';
import type { ReferenceDelivery } from '../refs/delivery';
import { checkReferenceDelivery } from '../refs/plan';
import { confinementIssues } from './confine';

export type CheckHost = Pick<HostProviders, 'providers' | 'embedded' | 'keyed' | 'route' | 'trustedOrigins'>;

export interface ServerCheckInput {
  pipeline: unknown;
  provider?: string;
  variables?: Record<string, string>;
  only?: string[];
  /** Where relative paths resolve (the opened file's folder). */
  folder: string;
  /** Nothing outside this folder is read (the base folder; the examples folder for a template). */
  confineTo: string;
  /** Run only: where save-image writes. */
  outDir?: string;
  allowPrivateUrls?: boolean;
}

export interface ServerCheckDeps {
  registry: NodeRegistry;
  providers: ProviderSet;
  host: CheckHost;
  references?: () => ReferenceDelivery;
}

export interface ServerChecked {
  ok: boolean;
  issues: ValidationIssue[];
  /** The validated document (absent when it could not be read). */
  pipeline?: Pipeline;
  /** What `runPipeline` takes as `checked`: the run does not validate again. */
  checked: ValidationResult;
  /** Row sources scanned: rows per node, columns for results.csv, previews for the editor. */
  batch?: BatchCheck;
  /** URL references a run's pre-flight downloaded. */
  prefetched?: PreflightResult;
}

/** The document's own checks: what `validatePipeline` finds, plus delivery routes and prompt lengths. */
function documentChecks(input: ServerCheckInput, deps: ServerCheckDeps): ValidationResult {
  const where = { registry: deps.registry, providers: deps.providers, ...(input.provider ? { provider: input.provider } : {}) };
  const checked = validatePipeline(input.pipeline, { ...where, ...(input.variables ? { variables: input.variables } : {}), baseDir: input.folder });
  if (!checked.pipeline) return checked;
  // Way 5 of issue 10: a local reference no way can deliver is refused before anything is spent.
  const target = input.only ? onlyUpTo(checked.pipeline, input.only) : checked.pipeline;
  const delivery = deps.references?.();
  const more = [
    ...(delivery ? checkReferenceDelivery(target, { ...where, availability: (p) => delivery.availability(p) }) : []),
    ...checkPromptLengths(target, { ...where, ...(input.variables ? { variables: input.variables } : {}) }),
  ];
  return more.length ? { ...checked, ok: checked.ok && !more.some((i) => i.severity === 'error'), issues: [...checked.issues, ...more] } : checked;
}

const withIssues = (r: ServerChecked, more: readonly ValidationIssue[]): ServerChecked => {
  if (!more.length) return r;
  const issues = [...r.issues, ...more];
  const ok = r.ok && !more.some((i) => i.severity === 'error');
  return { ...r, ok, issues, checked: { ...r.checked, ok, issues } };
};

export async function serverPreflight(input: ServerCheckInput, purpose: Purpose, deps: ServerCheckDeps): Promise<ServerChecked> {
  const checked = documentChecks(input, deps);
  let result: ServerChecked = { ok: checked.ok, issues: checked.issues, checked, ...(checked.pipeline ? { pipeline: checked.pipeline } : {}) };
  const pipeline = checked.pipeline;
  if (!pipeline) return result;
  // Paths outside the base folder are refused by their text: nothing below touches them.
  const outside = await confinementIssues(pipeline, { registry: deps.registry, folder: input.folder, confineTo: input.confineTo });
  if (outside.length) return withIssues(result, outside);
  const checks = purpose === 'run' ? [checkOutputFolder, checkProviderKeys, checkImageSources] : [checkProviderKeys, checkImageSources];
  const host = await runPreflight(
    {
      pipeline,
      registry: deps.registry,
      host: deps.host,
      purpose,
      baseDir: input.folder,
      confineTo: input.confineTo,
      ...(input.outDir ? { outDir: input.outDir } : {}),
      ...(input.provider ? { provider: input.provider } : {}),
      allowPrivateUrls: input.allowPrivateUrls === true,
    },
    checks,
  );
  result = { ...withIssues(result, host.issues), prefetched: host };
  if (!result.ok) return result;
  const batch = await checkBatch(pipeline, { registry: deps.registry, baseDir: input.folder, confineTo: input.confineTo, ...(input.variables ? { variables: input.variables } : {}) });
  return { ...withIssues(result, batch.issues), batch };
}
