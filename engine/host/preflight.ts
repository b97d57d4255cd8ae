/**
 * The host's pre-flight, shared by `validate`, `estimate` and the start of `run` (CLI and
 * server): the checks that need the world outside the document (files, keys, folders, provider
 * balances, URL downloads), run after the document itself validated and before anything is spent.
 * Each check is one async function in `PREFLIGHT_CHECKS`; a host or another feature (reference
 * delivery routes) adds its own by passing a longer list.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { realpath } from 'node:fs/promises';
import { EngineError, nodeLabel } from '../core/errors';
import { readImageFileHeader } from '../core/image-file';
import { readImageInfo } from '../core/image-info';
import type { Pipeline } from '../core/pipeline-schema';
import type { NodeRegistry } from '../core/registry';
import { providerOfNodes, validatePipeline, type ValidationIssue } from '../core/validate';
import type { HostProviders } from './create-providers';
import { folderProblem } from './folders';
import { safeFetch, type Resolver } from './safe-fetch';

export type Purpose = 'validate' | 'estimate' | 'run';

export interface PreflightInput {
  /** A document that passed `validatePipeline`. */
  pipeline: Pipeline;
  registry: NodeRegistry;
  host: Pick<HostProviders, 'providers' | 'embedded' | 'keyed' | 'route' | 'trustedOrigins'>;
  purpose: Purpose;
  /** Relative file references resolve against this (the pipeline file's folder). */
  baseDir: string;
  /** The server: local references must lie inside this folder, and nothing outside it is touched. */
  confineTo?: string;
  /** `--out`, when the command has one. */
  outDir?: string;
  /** Run-level provider (`--provider`). */
  provider?: string;
  allowPrivateUrls?: boolean;
  resolver?: Resolver;
  /** The run's cost estimate in USD per provider id, for balance checks (computed only when a provider has a balance). */
  estimateByProvider?: () => Promise<Record<string, number>>;
  signal?: AbortSignal;
}

export interface PreflightContext extends PreflightInput {
  /** Provider of every node that calls one. */
  uses: Map<string, string>;
  /** URL references fetched at the start of a run, by URL: the run uses these bytes. */
  prefetched: Map<string, Buffer>;
}

export type PreflightCheck = (ctx: PreflightContext) => Promise<ValidationIssue[]>;

export interface PreflightResult {
  ok: boolean;
  issues: ValidationIssue[];
  prefetched: Map<string, Buffer>;
}

const isUrl = (s: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s);

function issue(code: ValidationIssue['code'], message: string, at: Partial<ValidationIssue> = {}, severity: ValidationIssue['severity'] = 'error'): ValidationIssue {
  return { code, severity, message, ...at };
}

/** Inside `folder` by path alone (no file system access, so nothing is revealed about outside paths). */
function lexicallyInside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Reference images: local files by header (format, size), under the base folder in the server; URL references fetched at the start of a run. */
export const checkImageSources: PreflightCheck = async (ctx) => {
  const out: ValidationIssue[] = [];
  for (const node of ctx.pipeline.nodes) {
    const def = ctx.registry.get(node.type);
    if (!def?.imageSources) continue;
    const params = def.params.safeParse(node.params);
    if (!params.success) continue;
    for (const { param, source } of def.imageSources(params.data)) {
      const at = { nodeId: node.id, param };
      const label = `${nodeLabel(node.id, node.type)}: param "${param}"`;
      if (isUrl(source)) {
        if (!/^https?:\/\//i.test(source)) {
          out.push(issue('invalid_input', `${label}: ${source.split(':')[0]} URLs are not allowed; use an http(s) URL or a file path`, at));
          continue;
        }
        // validate and estimate never fetch: a URL costs nothing to leave unchecked until the run.
        if (ctx.purpose !== 'run' || ctx.prefetched.has(source)) continue;
        try {
          const got = await safeFetch(source, {
            ...(ctx.signal ? { signal: ctx.signal } : {}),
            allowPrivate: ctx.allowPrivateUrls === true,
            allowedOrigins: ctx.host.trustedOrigins,
            ...(ctx.resolver ? { resolver: ctx.resolver } : {}),
          });
          if (!readImageInfo(got.bytes)) throw new EngineError('invalid_input', `${source} did not answer with a JPEG, PNG or WebP image${got.contentType ? ` (Content-Type: ${got.contentType})` : ''}`);
          ctx.prefetched.set(source, got.bytes);
        } catch (e) {
          out.push(issue('invalid_input', `${label}: ${(e as Error).message}`, at));
        }
        continue;
      }
      const path = isAbsolute(source) ? source : resolve(ctx.baseDir, source);
      if (ctx.confineTo) {
        const outside = `${label}: "${source}" is outside the base folder ${ctx.confineTo} (serve --base-dir); the server reads only files inside it`;
        if (!lexicallyInside(ctx.confineTo, path)) {
          out.push(issue('invalid_input', outside, at));
          continue;
        }
        // A symbolic link inside the base folder must not lead out of it.
        const real = await realpath(path).catch(() => undefined);
        const base = await realpath(ctx.confineTo).catch(() => ctx.confineTo!);
        if (real && !lexicallyInside(base, real)) {
          out.push(issue('invalid_input', outside, at));
          continue;
        }
      }
      try {
        await readImageFileHeader(path);
      } catch (e) {
        out.push(issue('invalid_input', `${label}: ${(e as Error).message}`, at));
      }
    }
  }
  return out;
};

/** Every provider the pipeline uses must have a key, unless the embedded emulator serves them all. */
export const checkProviderKeys: PreflightCheck = async (ctx) => {
  // No key at all: a run uses the embedded emulator (validate does not start it to know that).
  if (ctx.host.embedded || ctx.host.keyed.length === 0) return [];
  const byProvider = new Map<string, string[]>();
  for (const [nodeId, provider] of ctx.uses) byProvider.set(provider, [...(byProvider.get(provider) ?? []), nodeId]);
  const out: ValidationIssue[] = [];
  for (const [provider, nodes] of byProvider) {
    const route = ctx.host.route(provider);
    if (!route || route.keySource) continue;
    const others = ctx.host.keyed.filter((k) => k !== provider);
    out.push(
      issue(
        'missing_key',
        `${nodes.map((n) => `node "${n}"`).join(', ')} use${nodes.length === 1 ? 's' : ''} provider "${provider}", which has no API key: set ${route.keyEnv} (in the environment or .env)` +
          (others.length
            ? `. A key is set for ${others.join(', ')}, so the embedded emulator is off for every provider; pick one with a key (--provider ${others[0]}), or set FLUXGRAPH_EMULATOR=always to use the emulator for all`
            : ''),
        { nodeId: nodes[0], param: 'provider' },
      ),
    );
  }
  return out;
};

/** `--out` must be a folder this process can create and write in. */
export const checkOutputFolder: PreflightCheck = async (ctx) => {
  if (!ctx.outDir) return [];
  const problem = await folderProblem(ctx.outDir);
  return problem ? [issue('unwritable_folder', `output folder (--out) ${problem}`, { param: 'out' })] : [];
};

/** Providers with a free balance endpoint (BFL): a run whose estimate is above the balance is refused. */
export const checkBalances: PreflightCheck = async (ctx) => {
  if (ctx.purpose === 'validate' || !ctx.estimateByProvider) return [];
  const used = [...new Set(ctx.uses.values())].filter((id) => ctx.host.providers.get(id)?.balanceUsd);
  if (!used.length) return [];
  const estimate = await ctx.estimateByProvider();
  const out: ValidationIssue[] = [];
  for (const id of used) {
    const need = estimate[id] ?? 0;
    if (need <= 0) continue;
    const provider = ctx.host.providers.get(id)!;
    let balance: number | undefined;
    try {
      balance = await provider.balanceUsd!(ctx.signal ?? AbortSignal.timeout(10_000));
    } catch (e) {
      out.push(issue('over_balance', `could not read the ${provider.title} balance (${(e as Error).message}); going on without it`, { param: 'provider' }, 'warning'));
      continue;
    }
    if (balance === undefined || need <= balance + 1e-9) continue;
    out.push(
      issue(
        'over_balance',
        `${provider.title}: this run is estimated at $${need.toFixed(2)}, but the account's balance is $${balance.toFixed(2)}; top up the account (or run fewer items) first`,
        { param: 'provider' },
        ctx.purpose === 'run' ? 'error' : 'warning',
      ),
    );
  }
  return out;
};

/** In order: what is cheapest and most certain first, the balance (a network call and a dry run) last. */
export const PREFLIGHT_CHECKS: readonly PreflightCheck[] = [checkOutputFolder, checkProviderKeys, checkImageSources, checkBalances];

/**
 * The standard checks with a host's own added before the balance check (reference delivery,
 * engine/refs/plan.ts, is one: it knows the routes this host has).
 */
export function withChecks(...extra: PreflightCheck[]): PreflightCheck[] {
  return [...PREFLIGHT_CHECKS.filter((c) => c !== checkBalances), ...extra, checkBalances];
}

export async function runPreflight(input: PreflightInput, checks: readonly PreflightCheck[] = PREFLIGHT_CHECKS): Promise<PreflightResult> {
  const ctx: PreflightContext = {
    ...input,
    uses: providerOfNodes(input.pipeline, input.registry, input.host.providers, input.provider),
    prefetched: new Map(),
  };
  const issues: ValidationIssue[] = [];
  for (const check of checks) {
    // The balance is only worth asking about when nothing else is wrong.
    if (check === checkBalances && issues.some((i) => i.severity === 'error')) continue;
    issues.push(...(await check(ctx)));
  }
  return { ok: !issues.some((i) => i.severity === 'error'), issues, prefetched: ctx.prefetched };
}

/** The download a run uses: what the pre-flight fetched, else a fresh safe fetch. */
export function runDownloader(pre: PreflightResult, opts: { allowPrivateUrls?: boolean; trustedOrigins: readonly string[]; resolver?: Resolver }): (url: string, signal: AbortSignal) => Promise<Buffer> {
  return async (url, signal) =>
    pre.prefetched.get(url) ??
    (await safeFetch(url, { signal, allowPrivate: opts.allowPrivateUrls === true, allowedOrigins: opts.trustedOrigins, ...(opts.resolver ? { resolver: opts.resolver } : {}) })).bytes;
}

export interface PreflightPipelineInput extends Omit<PreflightInput, 'pipeline'> {
  /** The document: its text (as read from a file) or parsed JSON. */
  document: unknown;
  variables?: Record<string, string>;
  /** Names given with `--set name=value`. */
  setVariables?: readonly string[];
  checks?: readonly PreflightCheck[];
}

/**
 * The whole pre-flight: the document against the registry and the providers, then, if that
 * holds, the host checks. What `validate`, `estimate` and the start of `run` call, in the CLI
 * and in the server.
 */
export async function preflightPipeline(input: PreflightPipelineInput): Promise<PreflightResult & { pipeline?: Pipeline }> {
  const checked = validatePipeline(input.document, {
    registry: input.registry,
    providers: input.host.providers,
    ...(input.provider ? { provider: input.provider } : {}),
    ...(input.variables ? { variables: input.variables } : {}),
    ...(input.setVariables ? { setVariables: input.setVariables } : {}),
    baseDir: input.baseDir,
  });
  if (!checked.ok || !checked.pipeline) return { ok: false, issues: checked.issues, prefetched: new Map(), ...(checked.pipeline ? { pipeline: checked.pipeline } : {}) };
  const host = await runPreflight({ ...input, pipeline: checked.pipeline }, input.checks);
  return { ...host, issues: [...checked.issues, ...host.issues], pipeline: checked.pipeline };
}
