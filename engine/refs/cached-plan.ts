/**
 * Pre-flight check of images that come from the cache (issue 10, way 1): a URL-only provider gets
 * an image a provider made as that provider's result URL, but an image taken from the cache (or
 * from an earlier attempt of a resumed run) may carry a URL that has expired, or one served by an
 * embedded emulator that is gone. With no other way to deliver it, the run would fail at that
 * submit; making the image again would pay for it again. So a dry run of the scheduler (the
 * estimate's) walks the graph with the cache, and each such reference is an error before anything
 * is spent, listing the ways to give it a URL.
 */
import { nodeLabel } from '../core/errors';
import type { FailureRecord } from '../core/events';
import type { Pipeline } from '../core/pipeline-schema';
import type { Provider, ProviderSet, ReferenceImage } from '../core/provider';
import type { NodeRegistry } from '../core/registry';
import type { DeliveredReference, ReferenceResolver } from '../core/references';
import type { ArtifactStore } from '../core/store';
import type { ValidationIssue } from '../core/validate';
import { EngineError } from '../core/errors';
import type { TaskHooks } from '../core/run-options';
import { estimatePipeline } from '../host/estimate';
import type { ReferenceUrlStore } from '../store/reference-urls';
import { waysToDeliver, type RouteAvailability } from './delivery';

export interface CachedPlanOptions {
  /** The ledger's URL table. */
  urls: ReferenceUrlStore;
  /** The real artifact store: an image the cache holds is in it (a task still in flight is not). */
  store: Pick<ArtifactStore, 'has'>;
  /** A URL must stay valid this long after the submit to be passed on. */
  minValidMs: number;
  /** The embedded emulator's session: URLs of earlier ones are dead. */
  session?: string;
  availability(provider: Provider): RouteAvailability;
}

/**
 * The resolver of the dry run: every reference that would reach its provider is accepted; one
 * from the cache with no URL left and no other way is refused with `needs_public_url`, which the
 * dry run records as that item's failure.
 */
export class CachedReferencePlan implements ReferenceResolver {
  constructor(private readonly o: CachedPlanOptions) {}

  produced(): void {}

  async resolve(provider: Provider, refs: readonly ReferenceImage[]): Promise<{ refs: ReferenceImage[]; delivered: DeliveredReference[] }> {
    for (const [i, ref] of refs.entries()) {
      const problem = await this.problem(provider, ref);
      if (problem) {
        throw new EngineError('needs_public_url', `provider "${provider.id}" takes reference images only as public URLs, and reference ${i + 1}, ${problem}. Ways to give it one: ${this.ways(provider)}`, {
          provider: provider.id,
          param: 'references',
          item: i,
          retryable: false,
        });
      }
    }
    // Stand-ins: the dry run's providers never fetch them.
    return { refs: refs.map((r) => ({ ...r, url: r.url ?? `https://planned.invalid/${r.asset.hash}` })), delivered: [] };
  }

  /** Why this reference cannot reach the provider, or undefined when it can. */
  private async problem(provider: Provider, ref: ReferenceImage): Promise<string | undefined> {
    const meta = ref.asset.meta;
    if (ref.url && /^https?:\/\//i.test(ref.url)) return undefined;
    // Local files are the static check's (plan.ts); an image made in this run brings a fresh URL.
    if (!meta?.provider || !meta.cached) return undefined;
    // Not in the store: a task still in flight, which the run waits for and so gets a fresh URL.
    if (!(await this.o.store.has(ref.asset.hash))) return undefined;
    if (this.o.urls.find(ref.asset.hash, Date.now() + this.o.minValidMs, this.o.session).length > 0) return undefined;
    const can = this.o.availability(provider);
    if (can.upload || can.bucket || can.publicServer) return undefined;
    const known = this.o.urls.find(ref.asset.hash, 0, this.o.session);
    const last = Math.max(0, ...known.map((u) => u.expiresAt));
    const margin = Math.round(this.o.minValidMs / 60_000);
    const why =
      last === 0
        ? `its ${meta.provider} result URL is not known here (it was made before fluxgraph recorded URLs, or by an embedded emulator that has stopped)`
        : last <= Date.now()
          ? `its ${meta.provider} result URL expired at ${new Date(last).toISOString()}`
          : `its ${meta.provider} result URL expires at ${new Date(last).toISOString()}, less than ${margin} minute${margin === 1 ? '' : 's'} from now (FLUXGRAPH_REFERENCE_MIN_VALID_SEC)`;
    return `the image of node "${meta.nodeId ?? '?'}" taken from the cache, has no URL left: ${why}; making it again would pay for it again`;
  }

  private ways(provider: Provider): string {
    const ways = waysToDeliver(provider, this.o.availability(provider));
    return [...ways, 'or run with --no-cache to make the image again (paid again, except on the emulator)'].join('; ');
  }
}

/** The dry run's refusals as pre-flight issues: one per node, naming how many items it hits. */
export function cachedReferenceIssues(failures: readonly FailureRecord[], pipeline: Pipeline, severity: ValidationIssue['severity']): ValidationIssue[] {
  const byNode = new Map<string, FailureRecord[]>();
  for (const f of failures) if (f.code === 'needs_public_url') byNode.set(f.nodeId, [...(byNode.get(f.nodeId) ?? []), f]);
  return [...byNode].map(([nodeId, list]) => {
    const type = pipeline.nodes.find((n) => n.id === nodeId)?.type;
    const items = list.length > 1 ? `, ${list.length} items` : `, item ${list[0].item ?? 0}`;
    // The run's failure message starts with the node and item: said once, here.
    const said = list[0].message.replace(/^node "[^"]*"[^:]*: /, '');
    return { code: 'needs_public_url', severity, nodeId, port: 'references', message: `${nodeLabel(nodeId, type)}${items}: ${said}` };
  });
}

/**
 * Whether the dry run is worth making: some node on a URL-only provider with no upload, bucket or
 * public server takes images that providers made (which the cache may hold).
 */
export function mayNeedCachedUrls(pipeline: Pipeline, o: { registry: NodeRegistry; providers: ProviderSet; provider?: string; availability(provider: Provider): RouteAvailability }): boolean {
  const made = new Set(pipeline.nodes.filter((n) => o.registry.get(n.type)?.usesProvider).map((n) => n.id));
  if (made.size === 0) return false;
  // Everything downstream of a provider node may carry a provider-made image.
  const carries = new Set<string>();
  const queue = [...made];
  while (queue.length) {
    const id = queue.pop()!;
    for (const e of pipeline.edges) {
      if (e.source !== id || carries.has(e.target)) continue;
      carries.add(e.target);
      queue.push(e.target);
    }
  }
  return pipeline.nodes.some((node) => {
    if (!carries.has(node.id) || !made.has(node.id)) return false;
    const def = o.registry.get(node.type);
    const parsed = def?.params.safeParse(node.params);
    const plan = parsed?.success && def?.providerRequest ? def.providerRequest(parsed.data as never, Object.keys(node.params)) : undefined;
    const provider = o.providers.get(plan?.provider ?? o.provider ?? pipeline.settings?.provider ?? o.providers.defaultId);
    if (!provider?.capabilities.referencesMustBeUrls) return false;
    const can = o.availability(provider);
    return !can.upload && !can.bucket && !can.publicServer;
  });
}

export interface CachedCheckOptions extends Omit<CachedPlanOptions, 'store'> {
  registry: NodeRegistry;
  providers: ProviderSet;
  /** The real store (its images are the cache's). */
  store: ArtifactStore;
  /** The ledger, read only: which requests the cache or a resumed run already holds. */
  tasks: TaskHooks;
  /** The seeds a resumed (or `--only`) run reuses: with them its requests are the cached ones. */
  seeds?: Record<string, number>;
  baseDir: string;
  variables?: Record<string, string>;
  provider?: string;
  only?: string[];
  /** `run` refuses; `estimate` warns. */
  severity: ValidationIssue['severity'];
}

/** The check itself: a dry run with the cache, only when the pipeline could need it. */
export async function checkCachedReferences(pipeline: Pipeline, o: CachedCheckOptions): Promise<ValidationIssue[]> {
  if (!mayNeedCachedUrls(pipeline, o)) return [];
  const plan = new CachedReferencePlan(o);
  const estimate = await estimatePipeline(pipeline, {
    registry: o.registry,
    providers: o.providers,
    store: o.store,
    tasks: o.tasks,
    baseDir: o.baseDir,
    references: plan,
    ...(o.seeds ? { seeds: o.seeds } : {}),
    ...(o.variables ? { variables: o.variables } : {}),
    ...(o.provider ? { provider: o.provider } : {}),
    ...(o.only ? { only: o.only } : {}),
  });
  return cachedReferenceIssues(estimate.failures ?? [], pipeline, o.severity);
}
