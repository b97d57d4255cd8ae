/**
 * Quiet, exact output of skips: one line per node (how many items, why), never the nested
 * "skipped: … (skipped: …)" chains of a long pipeline, and nothing listed for items a pick would
 * never have passed on. The run is real (the engine with an in-process provider that moderates
 * chosen seeds); the lines are the CLI summary's.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PipelineInput } from '../../engine/core/pipeline-schema';
import { pipelineSchema } from '../../engine/core/pipeline-schema';
import { runPipeline } from '../../engine/core/run-pipeline';
import { formatSkips, formatSummary } from '../../engine/cli/progress';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { createRegistry } from '../../nodes/index';
import { fakeProvider, providerSet } from '../helpers/fake-provider';
import { tempDir } from '../helpers/tmp';

const e = (source: string, sourceHandle: string, target: string, targetHandle: string) => ({ source, sourceHandle, target, targetHandle });

/** drafts (seeds 100..103) → pick [0, 2] → refine → save, and every draft saved on its own too. */
const DOC: PipelineInput = {
  version: 1,
  name: 'skips',
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'a fox' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 64, height: 64, count: 4, seed: 100 } },
    { id: 'save-drafts', type: 'save-image', params: { template: 'd-{index}' } },
    { id: 'pick', type: 'pick-images', params: { indices: [0, 2] } },
    { id: 'refine', type: 'flux-max-refine', params: { seed: 5 } },
    { id: 'save', type: 'save-image', params: { template: 'r-{index}' } },
  ],
  edges: [
    e('idea', 'text', 'drafts', 'prompt'),
    e('drafts', 'images', 'save-drafts', 'images'),
    e('drafts', 'images', 'pick', 'images'),
    e('pick', 'images', 'refine', 'images'),
    e('idea', 'text', 'refine', 'prompt'),
    e('refine', 'images', 'save', 'images'),
  ],
};

async function run(moderateSeeds: number[]) {
  const dir = tempDir();
  return runPipeline(pipelineSchema.parse(DOC), {
    registry: createRegistry(),
    providers: providerSet(fakeProvider({ moderateSeeds })),
    store: new FileArtifactStore(join(dir, 'store')),
    baseDir: dir,
    outDir: join(dir, 'out'),
    runId: 'r1',
  });
}

describe('skips in the summary', () => {
  it('items a pick would never pass on are not listed, downstream of the pick or in it', async () => {
    // Draft 1 fails: the pick keeps 0 and 2, so only save-drafts misses an item.
    const summary = await run([101]);
    expect(summary.failures.map((f) => [f.nodeId, f.item])).toEqual([['drafts', 1]]);
    expect(summary.skipped.map((k) => [k.nodeId, k.item])).toEqual([['save-drafts', 1]]);
    expect(summary.nodes.refine.status).toBe('done');
  });

  it('a failure carried down a chain is one reason, not a nested "skipped: … (skipped: …)"', async () => {
    // Draft 0 fails: the pick, the refine and the final save each skip item 0.
    const summary = await run([100]);
    expect(summary.skipped.map((k) => k.nodeId).sort()).toEqual(['pick', 'refine', 'save', 'save-drafts']);
    for (const k of summary.skipped) {
      expect(k.reason).not.toMatch(/skipped/);
      expect(k.reason).toMatch(/^input item 0 failed upstream \(content moderated/);
    }
  });

  it('the CLI prints one line per node: how many items and why', async () => {
    const summary = await run([100, 102]);
    const lines = formatSkips(summary.skipped);
    expect(lines[0]).toBe('Skipped (nothing was sent for these):');
    expect(lines.slice(1)).toHaveLength(4);
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}- node "refine": 2 items skipped, their input failed upstream \(content moderated \(task task-\d\); try raising safetyTolerance; content moderated/));
    const text = formatSummary(summary, '/out');
    expect(text).not.toMatch(/skipped: .*\(skipped/);
    expect(text.match(/node "save"/g)).toHaveLength(1);
  });

  it('a node skipped as a whole says its own reason once', () => {
    expect(formatSkips([{ nodeId: 'save', reason: 'input "images" is missing: refine failed' }])).toEqual(['Skipped (nothing was sent for these):', '  - node "save": skipped as a whole: input "images" is missing: refine failed']);
  });
});
