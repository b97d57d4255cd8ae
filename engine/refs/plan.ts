/**
 * Pre-flight check of reference delivery (issue 10, way 5): a node whose provider only takes URLs
 * and whose references include a local file that no way can deliver is an error before anything
 * is spent. Images made by a provider in the same run are fine: their result URL is passed on.
 */
import type { AnyNodeDefinition } from '../core/define-node';
import { nodeLabel } from '../core/errors';
import type { Pipeline } from '../core/pipeline-schema';
import type { Provider, ProviderSet } from '../core/provider';
import type { NodeRegistry } from '../core/registry';
import type { ValidationIssue } from '../core/validate';
import { waysToDeliver, type RouteAvailability } from './delivery';

export interface ReferencePlanOptions {
  registry: NodeRegistry;
  providers: ProviderSet;
  /** Run-level provider (`--provider`). */
  provider?: string;
  /** Which ways a provider has for local images here. */
  availability(provider: Provider): RouteAvailability;
}

/** One local image that would reach a URL-only provider. */
interface LocalSource {
  nodeId: string;
  source?: string;
}

export function checkReferenceDelivery(pipeline: Pipeline, o: ReferencePlanOptions): ValidationIssue[] {
  const nodes = new Map(pipeline.nodes.map((n) => [n.id, n]));
  const defOf = (id: string): AnyNodeDefinition | undefined => {
    const n = nodes.get(id);
    return n ? o.registry.get(n.type) : undefined;
  };
  const paramsOf = (id: string): unknown => {
    const parsed = defOf(id)?.params.safeParse(nodes.get(id)!.params);
    return parsed?.success ? parsed.data : undefined;
  };
  const imageEdgesInto = (id: string) => {
    const def = defOf(id);
    return pipeline.edges.filter((e) => e.target === id && def?.inputs[e.targetHandle]?.kind === 'image');
  };

  /** Local files among the images flowing into `id`, through pass-through nodes. */
  const localSources = (id: string, seen = new Set<string>()): LocalSource[] => {
    const found: LocalSource[] = [];
    for (const e of imageEdgesInto(id)) {
      if (seen.has(e.source)) continue;
      seen.add(e.source);
      const def = defOf(e.source);
      if (!def || def.usesProvider) continue;
      const params = paramsOf(e.source);
      if (def.imageSource) {
        if (params !== undefined && def.imageSource(params as never) === 'local') {
          const source = (nodes.get(e.source)!.params as { source?: unknown }).source;
          found.push({ nodeId: e.source, ...(typeof source === 'string' ? { source } : {}) });
        }
        continue;
      }
      found.push(...localSources(e.source, seen));
    }
    return found;
  };

  const issues: ValidationIssue[] = [];
  for (const node of pipeline.nodes) {
    const def = defOf(node.id);
    const params = paramsOf(node.id);
    if (!def?.providerRequest || params === undefined) continue;
    const plan = def.providerRequest(params as never, Object.keys(node.params));
    const providerId = plan.provider ?? o.provider ?? pipeline.settings?.provider ?? o.providers.defaultId;
    const provider = o.providers.get(providerId);
    if (!provider?.capabilities.referencesMustBeUrls) continue;
    const can = o.availability(provider);
    if (can.upload || can.bucket || can.publicServer) continue;
    const local = localSources(node.id);
    if (local.length === 0) continue;
    const names = local.map((l) => `"${l.nodeId}"${l.source ? ` (${l.source})` : ''}`).join(', ');
    issues.push({
      code: 'needs_public_url',
      severity: 'error',
      message: `${nodeLabel(node.id, def.type)}: provider "${providerId}" takes reference images only as public URLs, and the local image of ${names} has none here. Ways to give it one: ${waysToDeliver(provider, can).join('; ')}`,
      nodeId: node.id,
      port: 'references',
    });
  }
  return issues;
}
