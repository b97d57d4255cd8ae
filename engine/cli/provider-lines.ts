/**
 * Where a run's money goes, said before it is spent: one line per provider the run uses (its
 * endpoint and where its key comes from, never the key), and a note when nodes that name no
 * provider go to one other than BFL because it is the only provider with a key.
 *
 * Decided: with only (say) a kie key set, a pipeline without `settings.provider` runs on kie, the
 * account the user configured, rather than failing for want of a BFL key; but never silently:
 * `validate`, `estimate` and the start of `run` say so, and how to choose another.
 */
import type { Pipeline } from '../core/pipeline-schema';
import type { NodeRegistry } from '../core/registry';
import { onlyUpTo } from '../core/run-pipeline';
import { providerOfNodes } from '../core/validate';
import type { HostProviders } from '../host/create-providers';

type Host = Pick<HostProviders, 'providers' | 'embedded' | 'keyed' | 'route'>;

/** Providers the (part of the) pipeline calls, in the order of their first node. */
export function providersInUse(pipeline: Pipeline, registry: NodeRegistry, host: Host, runProvider?: string, only?: readonly string[]): string[] {
  const target = only?.length ? onlyUpTo(pipeline, [...only]) : pipeline;
  return [...new Set(providerOfNodes(target, registry, host.providers, runProvider).values())];
}

/** Set when nodes without a provider go to a provider other than the documented default (BFL). */
export function defaultProviderNote(pipeline: Pipeline, host: Host, used: readonly string[], runProvider?: string): string | undefined {
  const fallback = host.providers.defaultId;
  if (runProvider || pipeline.settings?.provider || fallback === 'bfl' || !used.includes(fallback)) return undefined;
  return `nodes that name no provider run on ${fallback}, the only provider with a key, not on bfl (the default); choose with --provider or settings.provider`;
}

/** "bfl: https://api.bfl.ai, key from BFL_API_KEY (.env)", one per provider in use. */
export function providerLines(used: readonly string[], host: Host, note?: string): string[] {
  return used.map((id) => {
    const route = host.route(id);
    if (!route) return `Provider ${id}`;
    const where = host.embedded ? `the embedded emulator at ${route.endpoint} (no key; stand-in images, nothing paid)` : `${route.endpoint}, key from ${route.keySource ?? `${route.keyEnv} (not set)`}`;
    return `Provider ${id}: ${where}${note && id === host.providers.defaultId ? `; ${note}` : ''}`;
  });
}
