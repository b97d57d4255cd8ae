import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineNode } from '../../engine/core/define-node';
import { EngineError } from '../../engine/core/errors';
import type { RunEvent } from '../../engine/core/events';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import type { ProviderSet } from '../../engine/core/provider';
import { NodeRegistry } from '../../engine/core/registry';
import { runPipeline } from '../../engine/core/run-pipeline';
import type { ArtifactStore } from '../../engine/core/store';
import { validatePipeline } from '../../engine/core/validate';
import { createRegistry } from '../../nodes/index';

// Graph checks and the scheduler must not recurse per node: depth is bounded by memory, not the stack.
const append = defineNode({
  type: 'append',
  title: 'Append',
  description: 'Appends its param to the text it gets.',
  version: 1,
  category: 'select',
  inputs: { text: { kind: 'text', required: true } },
  outputs: { text: { kind: 'text' } },
  params: z.strictObject({ add: z.string(), fail: z.boolean().optional() }),
  eachItemOf: 'text',
  async run({ inputs, params }) {
    if (params.fail) throw new EngineError('invalid_input', 'this item fails');
    return { text: inputs.text[0] + params.add };
  },
});
const registry = new NodeRegistry([...createRegistry().all(), append as never]);
const providers: ProviderSet = { get: () => undefined, ids: () => [], defaultId: 'none' };
const store = {} as ArtifactStore;

function chain(length: number, closeLoop = false): Pipeline {
  const nodes: Pipeline['nodes'] = [{ id: 'src', type: 'prompt', params: { text: 'x' } }];
  const edges: Pipeline['edges'] = [];
  for (let i = 1; i <= length; i++) {
    nodes.push({ id: `n${i}`, type: 'append', params: { add: i % 1000 === 0 ? '!' : '' } });
    edges.push({ source: i === 1 ? 'src' : `n${i - 1}`, sourceHandle: 'text', target: `n${i}`, targetHandle: 'text' });
  }
  // Closing the loop: n1 takes its text from the last node instead of the prompt.
  if (closeLoop) edges[0] = { source: `n${length}`, sourceHandle: 'text', target: 'n1', targetHandle: 'text' };
  return { version: 1, name: 'chain', nodes, edges } as Pipeline;
}

describe('large graphs', () => {
  it('validates and runs a 100,000-node chain', async () => {
    const doc = chain(100_000);
    const checked = validatePipeline(doc, { registry, providers });
    expect(checked.issues).toEqual([]);
    const done: string[] = [];
    let last: RunEvent | undefined;
    const summary = await runPipeline(checked.pipeline!, {
      registry,
      providers,
      store,
      baseDir: '/',
      outDir: '/',
      checked,
      onEvent: (e) => {
        if (e.type === 'nodeDone') done.push(e.nodeId);
        if (e.type === 'itemDone' && e.nodeId === 'n100000') last = e;
      },
    });
    expect(summary.status).toBe('done');
    expect(done).toHaveLength(100_001);
    expect(last).toMatchObject({ value: { kind: 'text', text: `x${'!'.repeat(100)}` } });
  });

  it('names a cycle through 100,000 nodes by its ends, on each of its nodes', () => {
    const checked = validatePipeline(chain(100_000, true), { registry, providers });
    expect(checked.ok).toBe(false);
    const cycles = checked.issues.filter((i) => i.code === 'cycle');
    expect(cycles).toHaveLength(100_000);
    expect(cycles[0].message).toMatch(/is on a cycle: "n\d+" → "n\d+" → "n\d+" → … 99995 more … → "n\d+" → "n\d+" → "n\d+"; pipelines must flow one way/);
  });

  it('skips the item all along a 100,000-node chain when it fails at the start', async () => {
    const doc = chain(100_000);
    doc.nodes[1].params = { add: '', fail: true };
    const summary = await runPipeline(doc, { registry, providers, store, baseDir: '/', outDir: '/' });
    expect(summary.status).toBe('partial');
    expect(summary.failures).toEqual([expect.objectContaining({ nodeId: 'n1', item: 0, message: 'node "n1" (append) item 0: this item fails' })]);
    expect(summary.skipped).toHaveLength(99_999);
    expect(summary.skipped.at(-1)).toEqual({ nodeId: 'n100000', item: 0, reason: expect.stringContaining('input item 0 failed upstream') });
    expect(summary.nodes.n100000.status).toBe('failed');
  });
});
