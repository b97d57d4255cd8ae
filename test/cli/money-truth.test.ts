/**
 * One truth about money and images. For the same run, the summary (the CLI's `runDone`, or the
 * editor server's), `fluxgraph runs --json`, the editor's run record, the sidecars and the
 * emulator's own charges all agree: for a finished run, a cancelled run with submits in flight,
 * a run killed and resumed, and two runs sharing tasks. The emulator is a separate server the
 * CLI reaches over HTTP; the ledger is the real SQLite file.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunEvent, RunSummary } from '../../engine/core/events';
import { toMicros } from '../../engine/core/money';
import { pipelineSchema } from '../../engine/core/pipeline-schema';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { createProviders, type HostProviders } from '../../engine/host/create-providers';
import { RunRegistry } from '../../engine/server/runs';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { Ledger } from '../../engine/store/ledger';
import { createRegistry } from '../../nodes/index';
import type { RunRecord as EditorRecord } from '../../editor/api/types';
import { cli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

/** BFL: 1 credit = $0.01 = 10,000 micro-dollars. */
const MICROS_PER_BFL_CREDIT = 10_000;

let emulator: Emulator;
let host: HostProviders;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 300 });
  host = await createProviders({ env: { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: 'money-test-key' }, emulator: 'never', poll: { intervalMs: 30, maxIntervalMs: 100 } });
});
afterAll(async () => {
  await host.close();
  await emulator.close();
});
beforeEach(() => {
  emulator.reset();
  emulator.setFaults({});
  emulator.setLatency(300);
});

const env = () => ({ BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: 'money-test-key' });

function pipeline(count: number, seed: number | undefined, text = 'a kite over dunes') {
  return {
    version: 1,
    name: 'money',
    settings: { concurrency: { bfl: 8 } },
    nodes: [
      { id: 'idea', type: 'prompt', params: { text } },
      { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, count, steps: 4, ...(seed !== undefined ? { seed } : {}) } },
      { id: 'pick', type: 'pick-images', params: { all: true } },
      { id: 'save', type: 'save-image', params: { template: '{run}/{node}-{index}' } },
    ],
    edges: [
      { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
      { source: 'drafts', sourceHandle: 'images', target: 'pick', targetHandle: 'images' },
      { source: 'pick', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
    ],
  };
}

/** What the emulator charged, in micro-dollars. */
const charged = () => emulator.tasks().reduce((sum, t) => sum + t.charged * MICROS_PER_BFL_CREDIT, 0);

/** Cost and count of the sidecars a run wrote. */
function sidecars(out: string, runId: string): { micros: number; count: number } {
  let dir: string[];
  try {
    dir = readdirSync(join(out, runId)).filter((f) => f.endsWith('.json'));
  } catch {
    return { micros: 0, count: 0 };
  }
  const records = dir.map((f) => JSON.parse(readFileSync(join(out, runId, f), 'utf8')) as { costUsd: number | null; runId: string });
  return { micros: records.reduce((sum, r) => sum + toMicros(r.costUsd ?? 0), 0), count: records.length };
}

async function runsJson(cwd: string): Promise<Record<string, { costMicros: number; images: number; calls: number; shared: number; status: string; unconfirmedMicros: number }>> {
  const r = await cli(['runs', '--json'], { cwd, env: env() });
  expect(r.code).toBe(0);
  return Object.fromEntries((JSON.parse(r.stdout) as { runId: string }[]).map((x) => [x.runId, x])) as never;
}

function lastSummary(stdout: string): RunSummary {
  const done = stdout.trim().split('\n').map((l) => JSON.parse(l) as RunEvent).findLast((e) => e.type === 'runDone');
  return (done as Extract<RunEvent, { type: 'runDone' }>).summary;
}

/** The summary and the ledger (`runs`) agree on every figure. */
function expectSame(summary: RunSummary, listed: { costMicros: number; images: number; calls: number; shared: number; unconfirmedMicros: number }) {
  expect({ costMicros: summary.costMicros, images: summary.images, calls: summary.providerCalls, shared: summary.shared, unconfirmedMicros: summary.unconfirmedMicros }).toEqual({
    costMicros: listed.costMicros,
    images: listed.images,
    calls: listed.calls,
    shared: listed.shared,
    unconfirmedMicros: listed.unconfirmedMicros,
  });
}

describe('every place that shows a cost shows the same number', () => {
  it('a finished run and a cancelled run of the editor: record, summary, runs, sidecars and the emulator agree', async () => {
    const cwd = tempDir();
    const cacheDir = join(cwd, '.fluxgraph');
    const out = join(cwd, 'out');
    const ledger = Ledger.open(join(cacheDir, 'ledger.sqlite'));
    const runs = new RunRegistry({ registry: createRegistry(), providers: host.providers, store: new FileArtifactStore(join(cacheDir, 'store')), outDir: out, baseDir: cwd, ledger });
    try {
      const follow = (runId: string) =>
        new Promise<RunSummary>((resolve) => {
          runs.follow(runId, 0, (_seq, e) => e.type === 'runDone' && resolve(e.summary), () => undefined);
        });
      // Finished: 5 drafts of $0.05, passed through a pick (not images written) and saved.
      const { runId: done } = await runs.start({ pipeline: pipeline(5, 1) });
      const doneSummary = await follow(done);
      await runs.settled(done);
      const record = runs.get(done) as EditorRecord;
      const listed = (await runsJson(cwd))[done];
      expect(doneSummary.status).toBe('done');
      expectSame(doneSummary, listed);
      expect({ costMicros: record.costMicros, images: record.imageCount, calls: record.providerCalls }).toEqual({ costMicros: listed.costMicros, images: listed.images, calls: listed.calls });
      expect(listed).toMatchObject({ costMicros: 250_000, images: 5, calls: 5 });
      expect(sidecars(out, done)).toEqual({ micros: 250_000, count: 5 });
      expect(charged()).toBe(250_000);

      // Cancelled while submits are on the wire: they finish, are recorded and counted.
      emulator.reset();
      emulator.setFaults({ submit: { delayMs: 600 } });
      emulator.setLatency(5_000);
      const { runId: stopped } = await runs.start({ pipeline: pipeline(4, 100) });
      const stoppedSummary = follow(stopped);
      while (emulator.stats().submitRequests.bfl < 4) await new Promise((r) => setTimeout(r, 10));
      runs.cancel(stopped);
      const summary = await stoppedSummary;
      await runs.settled(stopped);
      const rec = runs.get(stopped) as EditorRecord;
      const row = (await runsJson(cwd))[stopped];
      expect(summary.status).toBe('cancelled');
      expect(row.status).toBe('cancelled');
      expectSame(summary, row);
      expect(rec.costMicros).toBe(row.costMicros);
      expect(emulator.stats().submissions.bfl).toBe(4);
      expect(row.costMicros).toBe(charged());
      expect(row).toMatchObject({ costMicros: 200_000, calls: 4, images: 0 });
      // Downstream of the cancel is cancelled, not failed.
      expect(summary.nodes.save?.status ?? 'cancelled').toBe('cancelled');
      expect(summary.failures).toEqual([]);
    } finally {
      await runs.close();
      ledger.close();
    }
  });

  it('a CLI run cancelled with Ctrl-C while submits are on the wire counts them in the summary and in runs alike', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(pipeline(6, 3)));
    emulator.setFaults({ submit: { delayMs: 700 } });
    emulator.setLatency(5_000);
    let sent = false;
    const first = await cli(['run', 'p.json', '--json', '--out', 'out'], {
      cwd,
      env: env(),
      onLine: (line, child) => {
        const e = JSON.parse(line) as RunEvent;
        if (!sent && e.type === 'nodeProgress' && /submitting$/.test(e.status ?? '')) {
          sent = true;
          // Every submit is on the wire (the emulator delays its answers) when the user presses Ctrl-C.
          const wait = setInterval(() => {
            if (emulator.stats().submitRequests.bfl >= 6) {
              clearInterval(wait);
              child.kill('SIGINT');
            }
          }, 5);
        }
      },
    });
    expect(first.code).toBe(130);
    const summary = lastSummary(first.stdout);
    const row = (await runsJson(cwd))[summary.runId];
    expectSame(summary, row);
    expect(row.costMicros).toBe(charged());
    expect(row).toMatchObject({ status: 'cancelled', costMicros: 300_000, calls: 6 });
  });

  it('a run killed while its tasks were pending and then resumed counts what it paid once, across both', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(pipeline(3, undefined)));
    emulator.setLatency(2_000);
    let runId = '';
    let submitted = 0;
    const first = await cli(['run', 'p.json', '--json', '--out', 'out'], {
      cwd,
      env: env(),
      onLine: (line, child) => {
        const e = JSON.parse(line) as RunEvent;
        if (e.type === 'runStart') runId = e.runId;
        if (e.type === 'nodeProgress' && /: submitted$/.test(e.status ?? '') && ++submitted === 3) child.kill('SIGKILL');
      },
    });
    expect(first.signal).toBe('SIGKILL');
    // The lease of the dead process has lapsed at once: interrupted, resumable, its charges known.
    const killed = (await runsJson(cwd))[runId];
    expect(killed).toMatchObject({ status: 'interrupted', costMicros: 150_000, images: 0 });
    emulator.setLatency(200);
    const resumed = await cli(['run', '--resume', runId, '--json'], { cwd, env: env() });
    expect(resumed.code).toBe(0);
    const summary = lastSummary(resumed.stdout);
    const row = (await runsJson(cwd))[runId];
    expectSame(summary, row);
    expect(row).toMatchObject({ status: 'done', costMicros: 150_000, images: 3, calls: 3 });
    expect(sidecars(join(cwd, 'out'), runId)).toEqual({ micros: 150_000, count: 3 });
    expect(charged()).toBe(150_000);
    // Resumed again: nothing new is written or paid, and the images are still counted once.
    const again = await cli(['run', '--resume', runId, '--json'], { cwd, env: env() });
    expect(again.code).toBe(0);
    expect((await runsJson(cwd))[runId]).toMatchObject({ images: 3, costMicros: 150_000 });
    expect(readdirSync(join(cwd, 'out', runId)).filter((f) => f.endsWith('.jpg'))).toHaveLength(3);
    expect(emulator.stats().submissions.bfl).toBe(3);
  });

  it('two runs sharing tasks pay once: each task counts in the run that submitted it, and as shared at $0 in the other', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(pipeline(4, 7)));
    emulator.setLatency(1_500);
    const [a, b] = await Promise.all([
      cli(['run', 'p.json', '--json', '--out', 'out'], { cwd, env: env() }),
      cli(['run', 'p.json', '--json', '--out', 'out'], { cwd, env: env() }),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const sa = lastSummary(a.stdout);
    const sb = lastSummary(b.stdout);
    const listed = await runsJson(cwd);
    expectSame(sa, listed[sa.runId]);
    expectSame(sb, listed[sb.runId]);
    expect(emulator.stats().submissions.bfl).toBe(4);
    expect(sa.costMicros! + sb.costMicros!).toBe(charged());
    expect(charged()).toBe(200_000);
    // Every request was submitted by one run and shared by the other.
    expect(sa.providerCalls + sb.providerCalls).toBe(4);
    expect(sa.cached! + sb.cached!).toBe(4);
    expect(sa.shared! + sb.shared!).toBe(4);
    const side = [sidecars(join(cwd, 'out'), sa.runId), sidecars(join(cwd, 'out'), sb.runId)];
    expect(side[0].micros + side[1].micros).toBe(200_000);
    expect(side[0].micros).toBe(sa.costMicros);
  });

  it("a later run served from a finished run's tasks shows each as shared at $0 in its summary and in runs", async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(pipeline(3, 11)));
    emulator.setLatency(200);
    const first = await cli(['run', 'p.json', '--json', '--out', 'out'], { cwd, env: env() });
    expect(first.code).toBe(0);
    const later = await cli(['run', 'p.json', '--json', '--out', 'out'], { cwd, env: env() });
    expect(later.code).toBe(0);
    const summary = lastSummary(later.stdout);
    const listed = await runsJson(cwd);
    expectSame(summary, listed[summary.runId]);
    expect(summary).toMatchObject({ shared: 3, providerCalls: 0, costMicros: 0, images: 3 });
    expect(emulator.stats().submissions.bfl).toBe(3);
    const table = await cli(['runs'], { cwd, env: env() });
    expect(table.stdout).toMatch(new RegExp(`${summary.runId} .* \\$0 \\(3 shared at \\$0\\)`));
  });
});

// Keep the schema import honest: the pipeline above is valid.
void pipelineSchema.parse(pipeline(1, 1));
