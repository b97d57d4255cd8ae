/**
 * A task the provider accepted is never turned into "failed" because recording it failed: a full
 * store (writes fail past a given byte) or a full database (SQLite `max_page_count`). It stays
 * resumable with its task id, the summary shows what was charged, and the message names what is
 * full. Real ledger, real files, the emulator over HTTP.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pipelineSchema } from '../../engine/core/pipeline-schema';
import { runPipeline } from '../../engine/core/run-pipeline';
import type { TaskHooks } from '../../engine/core/run-options';
import { createProviders, type HostProviders } from '../../engine/host/create-providers';
import { priceOf } from '../../engine/providers/pricing';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { Ledger } from '../../engine/store/ledger';
import { createRegistry } from '../../nodes/index';
import { QuotaStore } from '../helpers/quota-store';
import { tempDir } from '../helpers/tmp';

let host: HostProviders;
beforeAll(async () => {
  host = await createProviders({ env: {}, emulator: 'always', poll: { intervalMs: 20, maxIntervalMs: 80 } });
});
afterAll(() => host.close());
beforeEach(() => host.emulator!.reset());

const doc = pipelineSchema.parse({
  version: 1,
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'a full disk' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, count: 4, steps: 4, seed: 21 } },
    { id: 'save', type: 'save-image', params: {} },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
});

const charged = () => host.emulator!.tasks().reduce((sum, t) => sum + t.charged * 10_000, 0);
const registry = createRegistry();

describe('recording fails after the provider accepted', () => {
  it('a full store: the paid tasks stay resumable, the summary shows the charge, a resume finishes without paying again', async () => {
    const dir = tempDir();
    const ledger = Ledger.open(join(dir, 'ledger.sqlite'));
    const root = join(dir, 'store');
    // Room for one image of the four.
    const store = new QuotaStore(root, 12_000);
    ledger.startRun({ runId: 'r', pipeline: doc, options: {} });
    const opts = { registry, providers: host.providers, baseDir: dir, outDir: join(dir, 'out'), runId: 'r', priceOf };
    const first = await runPipeline(doc, { ...opts, store, tasks: ledger.hooks('r') });
    expect(first.imagesWritten.length).toBeGreaterThan(0);
    expect(first.imagesWritten.length).toBeLessThan(4);
    const failed = first.failures;
    expect(failed.length).toBe(4 - first.imagesWritten.length);
    for (const f of failed) {
      expect(f.code).toBe('io');
      expect(f.message).toContain(`the folder ${root} is full or read-only (ENOSPC)`);
      expect(f.message).toMatch(/task \S+ at bfl finished \(and was paid for\)/);
    }
    expect(ledger.tasksOf('r').filter((t) => t.state === 'failed')).toEqual([]);
    expect(first.costMicros).toBe(200_000);
    expect(first.costMicros).toBe(charged());
    ledger.finishRun(first);

    // Space freed: the resume downloads what was paid for, and pays nothing more.
    const resumed = await runPipeline(doc, { ...opts, store: new FileArtifactStore(root), tasks: ledger.hooks('r') });
    expect(resumed.failures).toEqual([]);
    expect(resumed.status).toBe('done');
    expect(host.emulator!.stats().submissions.bfl).toBe(4);
    expect(resumed.costMicros).toBe(200_000);
    expect(resumed.images).toBe(4);
    ledger.close();
  });

  it('a full database (max_page_count): accepted tasks finish and are saved, the summary shows the charge, the warning names the ledger', async () => {
    const dir = tempDir();
    const path = join(dir, 'ledger.sqlite');
    const ledger = Ledger.open(path);
    ledger.startRun({ runId: 'r', pipeline: doc, options: {} });
    const hooks = ledger.hooks('r');
    let submitted = 0;
    // Once every task is recorded as submitted, the database is full: nothing more fits.
    const full: TaskHooks = {
      ...hooks,
      submitted: async (key, task) => {
        await hooks.submitted(key, task);
        if (++submitted < 4) return;
        ledger.db.exec('CREATE TABLE ballast (b BLOB)');
        ledger.db.pragma(`max_page_count = ${ledger.db.pragma('page_count', { simple: true }) as number}`);
        try {
          for (;;) ledger.db.prepare('INSERT INTO ballast VALUES (randomblob(512))').run();
        } catch {
          // SQLITE_FULL: the database is at its size limit.
        }
      },
    };
    const summary = await runPipeline(doc, { registry, providers: host.providers, store: new FileArtifactStore(join(dir, 'store')), baseDir: dir, outDir: join(dir, 'out'), runId: 'r', priceOf, tasks: full });
    expect(summary.failures).toEqual([]);
    expect(summary.imagesWritten).toHaveLength(4);
    expect(summary.warnings.some((w) => w.message.includes(`the ledger ${path} is full`))).toBe(true);
    expect(summary.costMicros).toBe(charged());
    ledger.close();
  });
});
