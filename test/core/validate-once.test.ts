import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineNode } from '../../engine/core/define-node';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import type { ProviderSet } from '../../engine/core/provider';
import { NodeRegistry } from '../../engine/core/registry';
import { runPipeline } from '../../engine/core/run-pipeline';
import type { ArtifactStore } from '../../engine/core/store';
import { validatePipeline } from '../../engine/core/validate';
import { createRegistry } from '../../nodes/index';

// A host validates in its pre-flight and hands the result to the run, which does not check again.
let checks = 0;
const noted = defineNode({
  type: 'noted',
  title: 'Noted',
  description: 'Passes its text on; its check counts calls and warns.',
  version: 1,
  category: 'select',
  inputs: { text: { kind: 'text', required: true } },
  outputs: { text: { kind: 'text' } },
  params: z.strictObject({ note: z.string() }),
  eachItemOf: 'text',
  check(params) {
    checks++;
    return [{ code: 'unsupported_param', severity: 'warning', message: params.note }];
  },
  async run({ inputs }) {
    return { text: inputs.text[0] };
  },
});
const registry = new NodeRegistry([...createRegistry().all(), noted as never]);
const providers: ProviderSet = { get: () => undefined, ids: () => [], defaultId: 'none' };
const base = { registry, providers, store: {} as ArtifactStore, baseDir: '/', outDir: '/' };

function doc(): Pipeline {
  return {
    version: 1,
    nodes: [
      { id: 'src', type: 'prompt', params: { text: 'x' } },
      { id: 'a', type: 'noted', params: { note: 'about a' } },
      { id: 'b', type: 'noted', params: { note: 'about b' } },
    ],
    edges: [
      { source: 'src', sourceHandle: 'text', target: 'a', targetHandle: 'text' },
      { source: 'a', sourceHandle: 'text', target: 'b', targetHandle: 'text' },
    ],
  } as Pipeline;
}

describe('validate once per run', () => {
  it('runs a pre-flighted document without checking it again, and reports the pre-flight warnings', async () => {
    checks = 0;
    const checked = validatePipeline(doc(), { registry, providers });
    expect(checks).toBe(2);
    const summary = await runPipeline(checked.pipeline!, { ...base, checked });
    expect(checks).toBe(2);
    expect(summary.status).toBe('done');
    expect(summary.warnings).toEqual([
      { nodeId: 'a', message: 'node "a" (noted): about a' },
      { nodeId: 'b', message: 'node "b" (noted): about b' },
    ]);
  });

  it('keeps only the warnings of the nodes it runs when running part of the document', async () => {
    const checked = validatePipeline(doc(), { registry, providers });
    const summary = await runPipeline(checked.pipeline!, { ...base, checked, only: ['a'] });
    expect(Object.keys(summary.nodes).sort()).toEqual(['a', 'src']);
    expect(summary.warnings).toEqual([{ nodeId: 'a', message: 'node "a" (noted): about a' }]);
  });

  it('checks the document itself when the pre-flight was of another document', async () => {
    const checked = validatePipeline(doc(), { registry, providers });
    const other = doc();
    other.edges.pop();
    checks = 0;
    await expect(runPipeline(other, { ...base, checked })).rejects.toMatchObject({ code: 'invalid_document', message: expect.stringContaining('required input "text"') });
    expect(checks).toBe(2);
  });

  it('refuses a pre-flight that found errors', async () => {
    const bad = doc();
    bad.edges.pop();
    const checked = validatePipeline(bad, { registry, providers });
    expect(checked.ok).toBe(false);
    await expect(runPipeline(checked.pipeline!, { ...base, checked })).rejects.toMatchObject({ code: 'invalid_document' });
  });
});
