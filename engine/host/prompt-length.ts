/**
 * Pre-flight check of prompt lengths against providers that limit them (kie.ai: 3 to 5,000
 * characters, providers.md 9): a prompt known before the run (a prompt node, placeholders filled)
 * that the node's provider would refuse is an error before anything is spent.
 */
import { nodeLabel } from '../core/errors';
import type { Pipeline } from '../core/pipeline-schema';
import type { ProviderSet } from '../core/provider';
import type { NodeRegistry } from '../core/registry';
import type { ValidationIssue } from '../core/validate';

export interface PromptCheckOptions {
  registry: NodeRegistry;
  providers: ProviderSet;
  provider?: string;
  variables?: Record<string, string>;
}

export function checkPromptLengths(pipeline: Pipeline, o: PromptCheckOptions): ValidationIssue[] {
  const variables = { ...pipeline.settings?.variables, ...o.variables };
  const byId = new Map(pipeline.nodes.map((n) => [n.id, n]));
  const issues: ValidationIssue[] = [];
  for (const node of pipeline.nodes) {
    const def = o.registry.get(node.type);
    const params = def?.params.safeParse(node.params);
    if (!def?.providerRequest || !params?.success) continue;
    const plan = def.providerRequest(params.data as never, Object.keys(node.params));
    const providerId = plan.provider ?? o.provider ?? pipeline.settings?.provider ?? o.providers.defaultId;
    const limit = o.providers.get(providerId)?.capabilities.promptLength;
    if (!limit) continue;
    for (const e of pipeline.edges) {
      if (e.target !== node.id || def.inputs[e.targetHandle]?.kind !== 'text') continue;
      const src = byId.get(e.source);
      const srcDef = src ? o.registry.get(src.type) : undefined;
      const srcParams = srcDef?.params.safeParse(src!.params);
      if (!srcDef?.staticText || !srcParams?.success) continue;
      const text = srcDef.staticText(srcParams.data as never, variables);
      if (text === undefined || (text.length >= limit.min && text.length <= limit.max)) continue;
      issues.push({
        code: 'invalid_param',
        severity: 'error',
        message: `${nodeLabel(node.id, def.type)}: provider "${providerId}" takes prompts of ${limit.min} to ${limit.max.toLocaleString('en')} characters, and the prompt from "${e.source}" has ${text.length}`,
        nodeId: node.id,
        port: e.targetHandle,
      });
    }
  }
  return issues;
}
