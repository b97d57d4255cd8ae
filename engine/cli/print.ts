/** How the pipeline commands print validation issues and cost estimates. */
import type { ValidationIssue } from '../core/validate';
import type { Estimate } from '../host/estimate';
import { formatUsd, toMicros } from '../core/money';
import { isJsonOutput } from './exit';

export function printIssues(issues: readonly ValidationIssue[], file: string): void {
  if (isJsonOutput()) {
    const ok = !issues.some((i) => i.severity === 'error');
    process.stdout.write(JSON.stringify({ ok, ...(ok ? {} : { error: { code: 'invalid_pipeline', message: `${file}: the pipeline is invalid` } }), issues }) + '\n');
  }
  for (const i of issues) {
    const where = i.line ? `${file}:${i.line}:${i.column}: ` : `${file}: `;
    process.stderr.write(`${where}${i.severity}: ${i.message} [${i.code}]\n`);
  }
}

export function formatEstimate(e: Estimate): string {
  const lines = e.nodes.map(
    (n) => `  ${n.nodeId.padEnd(16)} ${String(n.calls).padStart(4)} call${n.calls === 1 ? ' ' : 's'}${n.cached ? `, ${n.cached} cached` : ''}  ${formatUsd(toMicros(n.usd), true)}${n.unpriced ? ` (+${n.unpriced} unpriced)` : ''}  [${n.providers.join(', ') || 'cache'}]`,
  );
  lines.push(`  total: ${formatUsd(toMicros(e.totalUsd), true)} for ${e.calls} provider call${e.calls === 1 ? '' : 's'}${e.cached ? ` (${e.cached} more served from cache at $0)` : ''}`);
  for (const w of e.warnings) lines.push(`  warning: ${w}`);
  if (e.assumed?.length) lines.push(`  (assumed: ${e.assumed.length} URL reference${e.assumed.length === 1 ? '' : 's'} priced as 1 MP; the run downloads and checks them)`);
  return lines.join('\n');
}
