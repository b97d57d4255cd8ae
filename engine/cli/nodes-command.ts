/** `fluxgraph nodes`: node types with their ports and params, derived from the declarations. */
import { parseArgs } from 'node:util';
import { describeRegistry, type ParamDescriptor } from '../core/describe';
import type { NodeRegistry } from '../core/registry';
import { createRegistry } from '../../nodes/index';

function paramLine(p: ParamDescriptor): string {
  const range =
    p.minimum !== undefined && p.maximum !== undefined ? ` ${p.minimum}..${p.maximum}` : p.minimum !== undefined ? ` >= ${p.minimum}` : p.maximum !== undefined ? ` <= ${p.maximum}` : '';
  const type = p.enum ? p.enum.map((v) => JSON.stringify(v)).join('|') : p.type;
  const step = p.multipleOf ? `, multiple of ${p.multipleOf}` : '';
  const def = p.default !== undefined ? `, default ${JSON.stringify(p.default)}` : p.required ? ', required' : ', optional';
  return `    ${p.name}: ${type}${range}${step}${def}${p.description ? `  (${p.description})` : ''}`;
}

export function printNodes(registry: NodeRegistry, json: boolean): number {
  const descriptors = describeRegistry(registry);
  if (json) {
    process.stdout.write(JSON.stringify(descriptors, null, 2) + '\n');
    return 0;
  }
  const out: string[] = [];
  for (const d of descriptors) {
    out.push(`${d.type}  (${d.title})`, `  ${d.description}`);
    if (d.inputs.length) out.push('  inputs:');
    for (const i of d.inputs) out.push(`    ${i.name}: ${i.kind}${i.multiple ? `[]${i.max ? ` (up to ${i.max})` : ''}` : ''}${i.required ? ', required' : ''}${d.eachItemOf === i.name ? ', runs once per item' : ''}`);
    if (d.outputs.length) out.push('  outputs:');
    for (const o of d.outputs) out.push(`    ${o.name}: ${o.kind}${o.list ? ' list' : ''}`);
    if (d.params.length) out.push('  params:');
    for (const p of d.params) out.push(paramLine(p));
    out.push('');
  }
  process.stdout.write(out.join('\n'));
  return 0;
}

/** `fluxgraph nodes [--json]`; any other argument is a usage error. */
export function commandNodes(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' } }, strict: true, allowPositionals: false });
  return printNodes(createRegistry(), values.json === true);
}
