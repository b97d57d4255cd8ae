import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCycles } from '../../engine/core/graph';
import { pipelineSchema } from '../../engine/core/pipeline-schema';
import { runPipeline } from '../../engine/core/run-pipeline';
import { validatePipeline } from '../../engine/core/validate';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { createRegistry } from '../../nodes/index';
import { fakeProvider, providerSet } from '../helpers/fake-provider';
import { tempDir } from '../helpers/tmp';

const registry = createRegistry();
const N = 100_000;

/** prompt → 1 draft → N picks in a row → save: a chain deeper than any recursion could walk. */
function chain() {
  const nodes = [
    { id: 'idea', type: 'prompt', params: { text: 'a fox' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 64, height: 64, count: 1, seed: 1 } },
    ...Array.from({ length: N }, (_, i) => ({ id: `p${i}`, type: 'pick-images', params: { all: true } })),
    { id: 'save', type: 'save-image', params: {} },
  ];
  const edges = [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'p0', targetHandle: 'images' },
    ...Array.from({ length: N - 1 }, (_, i) => ({ source: `p${i}`, sourceHandle: 'images', target: `p${i + 1}`, targetHandle: 'images' })),
    { source: `p${N - 1}`, sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ];
  return { version: 1, nodes, edges };
}

describe('graphs of any depth', () => {
  it('finds the cycle at the end of a 100,000-node chain without overflowing the stack', () => {
    const ids = Array.from({ length: N }, (_, i) => `n${i}`);
    const edges = ids.slice(1).map((id, i) => ({ source: ids[i], target: id }));
    edges.push({ source: ids[N - 1], target: ids[N - 2] });
    const cycles = findCycles(ids, edges);
    expect(cycles).toHaveLength(1);
    expect(cycles[0].sort()).toEqual([ids[N - 2], ids[N - 1]].sort());
  });

  // Slow (about a minute on two cores: validation twice, 100,000 node tasks), but it is the depth users hit.
  it('validates and runs a 100,000-node chain', { timeout: 180_000 }, async () => {
    const doc = chain();
    const checked = validatePipeline(doc, { registry });
    expect(checked.issues).toEqual([]);
    const dir = tempDir();
    const provider = fakeProvider();
    const summary = await runPipeline(pipelineSchema.parse(doc), { registry, providers: providerSet(provider), store: new FileArtifactStore(join(dir, 'store')), baseDir: dir, outDir: join(dir, 'out'), runId: 'deep' });
    expect(summary.status).toBe('done');
    expect(summary.imagesWritten).toHaveLength(1);
    expect(provider.log.submits).toHaveLength(1);
  });
});
