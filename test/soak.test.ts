/**
 * Soak: 200 drafts through the real BFL adapter and the emulator with 20% 429s, 5% 5xx, 5%
 * dropped connections and 2% moderation. Every item that was not moderated ends saved, every
 * moderated one is reported as moderated, nothing is submitted twice, the lane cap holds.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineSchema } from '../engine/core/pipeline-schema';
import { runPipeline } from '../engine/core/run-pipeline';
import { createProviders, type HostProviders } from '../engine/host/create-providers';
import { FileArtifactStore } from '../engine/store/artifacts';
import { Ledger } from '../engine/store/ledger';
import { createRegistry } from '../nodes/index';
import { tempDir } from './helpers/tmp';

const CAP = 16;
let host: HostProviders;

beforeAll(async () => {
  // Callbacks on (as with the embedded emulator), so callbacks and polls race for every task.
  host = await createProviders({ env: {}, emulator: 'always', poll: { intervalMs: 20, maxIntervalMs: 100, jitter: 0.2 } });
});
afterAll(() => host.close());

describe('soak', () => {
  it('200 drafts under 429s, 5xx, dropped connections and moderation: all saved or reported, none paid twice, cap held', async () => {
    const emulator = host.emulator!;
    emulator.setLatency(60);
    emulator.setFaults({
      activeTaskCap: CAP,
      // 429 is safe to retry on submit (not accepted); 5xx and drops on submit would be ambiguous,
      // so those hit the polls and downloads, which are retried.
      submit: { rate429: 0.2, retryAfterSec: 0 },
      poll: { rate429: 0.2, retryAfterSec: 0, error5xx: 0.05, drop: 0.05 },
      download: { error5xx: 0.05, drop: 0.05 },
      outcome: { moderateContent: 0.02 },
    });
    const drafts = (id: string, seed: number) => ({ id, type: 'flux-flex-generate', params: { width: 64, height: 64, steps: 1, count: 50, seed } });
    const doc = pipelineSchema.parse({
      version: 1,
      name: 'soak',
      settings: { concurrency: { bfl: CAP } },
      nodes: [{ id: 'idea', type: 'prompt', params: { text: 'soak test' } }, drafts('a', 0), drafts('b', 1000), drafts('c', 2000), drafts('d', 3000), { id: 'save', type: 'save-image', params: { template: '{source}-{index}' } }],
      edges: [
        ...['a', 'b', 'c', 'd'].map((id) => ({ source: 'idea', sourceHandle: 'text', target: id, targetHandle: 'prompt' })),
        ...['a', 'b', 'c', 'd'].map((id) => ({ source: id, sourceHandle: 'images', target: 'save', targetHandle: 'images' })),
      ],
    });
    const dir = tempDir();
    const ledger = Ledger.open(join(dir, 'ledger.sqlite'));
    const summary = await runPipeline(doc, {
      registry: createRegistry(),
      providers: host.providers,
      store: new FileArtifactStore(join(dir, 'store')),
      baseDir: dir,
      outDir: join(dir, 'out'),
      runId: 'soak',
      tasks: ledger.hooks('soak'),
    });
    const rows = ledger.tasksOf('soak');
    expect(rows.filter((r) => r.state === 'done')).toHaveLength(200 - emulator.stats().outcomes.content_moderated);
    expect(rows.filter((r) => r.state === 'submitting' || r.state === 'submitted')).toEqual([]);

    const stats = emulator.stats();
    const moderated = stats.outcomes.content_moderated;
    expect(moderated).toBeGreaterThan(0);
    expect(stats.injected.submit.rate429 + stats.injected.poll.rate429).toBeGreaterThan(20);
    expect(stats.injected.poll.error5xx + stats.injected.download.error5xx).toBeGreaterThan(0);
    expect(stats.injected.poll.drop + stats.injected.download.drop).toBeGreaterThan(0);
    expect(summary.failures.map((f) => f.code)).toEqual(Array(moderated).fill('moderated'));
    expect(readdirSync(join(dir, 'out')).filter((f) => f.endsWith('.jpg'))).toHaveLength(200 - moderated);
    expect(emulator.duplicateSubmissions()).toEqual([]);
    expect(stats.submissions.bfl).toBe(200);
    expect(stats.capRejections.bfl).toBe(0);
    expect(Math.max(...Object.values(stats.peakActive.bfl))).toBeLessThanOrEqual(CAP);
  });
});
