/**
 * The image of a finished (paid) task is downloaded until it arrives: failures are retried with
 * backoff, honouring Retry-After, until the task's deadline. The emulator's deterministic
 * `failFirst` download fault answers each result URL's first N downloads with 503 + Retry-After.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pipelineSchema } from '../../engine/core/pipeline-schema';
import { runPipeline } from '../../engine/core/run-pipeline';
import type { RunEvent } from '../../engine/core/events';
import { createProviders, type HostProviders } from '../../engine/host/create-providers';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { Ledger } from '../../engine/store/ledger';
import { createRegistry } from '../../nodes/index';
import { tempDir } from '../helpers/tmp';

let host: HostProviders;
beforeAll(async () => {
  host = await createProviders({ env: {}, emulator: 'always', poll: { intervalMs: 10, maxIntervalMs: 40, maxRetryAfterMs: 200 } });
});
afterAll(() => host.close());
beforeEach(() => host.emulator!.reset());

const doc = pipelineSchema.parse({
  version: 1,
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'download faults' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, count: 4, steps: 4, seed: 3 } },
    { id: 'save', type: 'save-image', params: {} },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
});

function workspace() {
  const dir = tempDir();
  return { dir, ledger: Ledger.open(join(dir, 'ledger.sqlite')), store: new FileArtifactStore(join(dir, 'store')) };
}

describe('downloads of finished tasks', () => {
  it('a result URL that fails five times with Retry-After is retried until the image arrives; nothing is paid twice', async () => {
    host.emulator!.setFaults({ download: { failFirst: 5, retryAfterSec: 0.02 } });
    const w = workspace();
    w.ledger.startRun({ runId: 'r', pipeline: doc, options: {} });
    const statuses: string[] = [];
    const onEvent = (e: RunEvent) => void (e.type === 'nodeProgress' && e.status && statuses.push(e.status));
    const summary = await runPipeline(doc, { registry: createRegistry(), providers: host.providers, store: w.store, baseDir: w.dir, outDir: join(w.dir, 'out'), runId: 'r', tasks: w.ledger.hooks('r'), onEvent });
    const stats = host.emulator!.stats();
    // Each retry says why and which attempt it is.
    expect(statuses.some((s) => /download retrying in \d+ ms \(attempt 2\): HTTP 503$/.test(s))).toBe(true);
    expect(statuses.some((s) => /download retrying in \d+ ms \(attempt 6\)/.test(s))).toBe(true);
    expect(summary.failures).toEqual([]);
    expect(summary.imagesWritten).toHaveLength(4);
    expect(stats.submissions.bfl).toBe(4);
    expect(stats.injected.download.failedFirst).toBe(20);
    expect(stats.downloads.bfl).toBe(24);
    w.ledger.close();
  });

  it('a download that keeps failing stops at the task deadline, and the paid task stays resumable', async () => {
    host.emulator!.setFaults({ download: { failFirst: 1_000_000, retryAfterSec: 0.02 } });
    const w = workspace();
    w.ledger.startRun({ runId: 'r', pipeline: doc, options: {} });
    const summary = await runPipeline(doc, {
      registry: createRegistry(),
      providers: host.providers,
      store: w.store,
      baseDir: w.dir,
      outDir: join(w.dir, 'out'),
      runId: 'r',
      taskTimeoutMs: 1_500,
      tasks: w.ledger.hooks('r'),
    });
    expect(summary.failures).toHaveLength(4);
    expect(summary.failures[0].message).toMatch(/gave up after \d+ download attempts \(deadline reached\)/);
    // Paid for, not failed: a resume downloads them again instead of paying again.
    expect(w.ledger.tasksOf('r').map((t) => t.state)).toEqual(['submitted', 'submitted', 'submitted', 'submitted']);
    expect(summary.costUsd).toBe(0.2);
    expect(host.emulator!.stats().downloads.bfl).toBeGreaterThan(4 * 3);
    w.ledger.close();
  });
});
