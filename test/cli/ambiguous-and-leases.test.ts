/**
 * Runs that were cut off: a process holds a lease on its run (pid + heartbeat), so a dead run
 * reads as interrupted at once and its submits cut off on the wire are ambiguous at once; a
 * resume names them and exits 1; `--resubmit-ambiguous` sends exactly those again, with the
 * run's seeds, after saying how many and the worst case (and only with --yes off a terminal,
 * within --budget). Real ledger, the CLI as a child process, the emulator over HTTP.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../engine/core/errors';
import { pipelineSchema } from '../../engine/core/pipeline-schema';
import { runPipeline } from '../../engine/core/run-pipeline';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { createProviders, type HostProviders } from '../../engine/host/create-providers';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { Ledger } from '../../engine/store/ledger';
import { createRegistry } from '../../nodes/index';
import { priceOf } from '../../engine/providers/pricing';
import { cli } from '../helpers/cli';
import { cliOnPty } from '../helpers/pty';
import { tempDir } from '../helpers/tmp';

let emulator: Emulator;
let host: HostProviders;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 200 });
  host = await createProviders({ env: { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: 'lease-key' }, emulator: 'never', poll: { intervalMs: 20, maxIntervalMs: 80 } });
});
afterAll(async () => {
  await host.close();
  await emulator.close();
});
beforeEach(() => {
  emulator.reset();
  emulator.setFaults({});
});
const env = () => ({ BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: 'lease-key' });

const doc = (seed?: number) => ({
  version: 1,
  name: 'ambiguous',
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'a lantern' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, count: 2, steps: 4, ...(seed !== undefined ? { seed } : {}) } },
    { id: 'save', type: 'save-image', params: {} },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
});

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('leases', () => {
  it('a live run keeps its lease by heartbeat; once the heartbeat stops it reads as interrupted', async () => {
    const path = join(tempDir(), 'ledger.sqlite');
    const owner = Ledger.open(path, { leaseMs: 300 });
    owner.startRun({ runId: 'r', pipeline: pipelineSchema.parse(doc(1)), options: {} });
    const reader = Ledger.open(path, { leaseMs: 300 });
    await new Promise((r) => setTimeout(r, 700));
    expect(reader.getRun('r')).toMatchObject({ status: 'running', resumable: false });
    // The process stops beating without ending the run (it hangs, or its disk went away).
    owner.db.close();
    await new Promise((r) => setTimeout(r, 700));
    expect(reader.getRun('r')).toMatchObject({ status: 'interrupted', resumable: true });
    reader.close();
  });

  it("another run's submit cut off by a kill is ambiguous at once, not after a three-minute wait, and nothing is sent", async () => {
    const dir = tempDir();
    const path = join(dir, 'ledger.sqlite');
    const pipeline = pipelineSchema.parse(doc(5));
    // The run that died: its intent rows were committed, its process is gone.
    const first = Ledger.open(path);
    first.startRun({ runId: 'dead', pipeline, options: {} });
    const hooks = first.hooks('dead');
    const cutOff = { ...hooks, submitting: async (key: Parameters<NonNullable<typeof hooks.submitting>>[0]) => {
      await hooks.submitting!(key);
      // The process dies here, with the intent committed and the request maybe on the wire.
      throw new EngineError('ambiguous_submit', 'killed while sending');
    } };
    await runPipeline(pipeline, { registry: createRegistry(), providers: host.providers, store: new FileArtifactStore(join(dir, 'store')), baseDir: dir, outDir: join(dir, 'out'), runId: 'dead', tasks: cutOff, priceOf });
    first.db.prepare(`UPDATE runs SET lease_pid = ? WHERE run_id = 'dead'`).run(deadPid());
    first.db.close();
    expect(emulator.stats().submissions.bfl).toBe(0);

    const ledger = Ledger.open(path);
    expect(ledger.getRun('dead')).toMatchObject({ status: 'interrupted', unconfirmed: 2, unconfirmedMicros: 100_000 });
    const started = Date.now();
    ledger.startRun({ runId: 'next', pipeline, options: {} });
    const summary = await runPipeline(pipeline, { registry: createRegistry(), providers: host.providers, store: new FileArtifactStore(join(dir, 'store')), baseDir: dir, outDir: join(dir, 'out'), runId: 'next', tasks: ledger.hooks('next') });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(summary.failures.map((f) => f.code)).toEqual(['ambiguous_submit', 'ambiguous_submit']);
    expect(summary.failures[0].message).toMatch(/run dead was stopped while it was sending this same request to bfl/);
    expect(summary.status).toBe('failed');
    expect(emulator.stats().submissions.bfl).toBe(0);
    ledger.close();
  });

  it('kill -9 of the CLI: runs shows the run interrupted right away', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(doc()));
    emulator.setLatency(5_000);
    let runId = '';
    await cli(['run', 'p.json', '--json'], {
      cwd,
      env: env(),
      onLine: (line, child) => {
        const e = JSON.parse(line) as { type: string; runId: string; status?: string };
        if (e.type === 'runStart') runId = e.runId;
        if (e.type === 'nodeProgress' && /: submitted$/.test(e.status ?? '')) child.kill('SIGKILL');
      },
    });
    emulator.setLatency(200);
    const listed = await cli(['runs'], { cwd, env: env() });
    expect(listed.stdout).toMatch(new RegExp(`${runId}\\s+ambiguous\\s+interrupted\\*`));
  });
});

describe('ambiguous submits', () => {
  it('resume names them and exits 1; --resubmit-ambiguous needs --yes off a terminal, holds --budget, then sends only those', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(doc()));
    // Every submit is accepted (and charged), then its answer is lost on the wire.
    emulator.setFaults({ submit: { dropAfterAccept: 1 } });
    const first = await cli(['run', 'p.json', '--json', '--out', 'out'], { cwd, env: env() });
    expect(first.code).toBe(1);
    const runId = (JSON.parse(first.stdout.split('\n')[0]) as { runId: string }).runId;
    expect(first.stderr).toMatch(/2 submits were cut off on the wire and may or may not have been paid \(up to ≈ \$0\.10\); not sent again:/);
    expect(emulator.stats().submissions.bfl).toBe(2);
    emulator.setFaults({});

    const resumed = await cli(['run', '--resume', runId, '--json'], { cwd, env: env() });
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toMatch(/node "drafts" item 0: bfl (\(default\) )?flex, sent .* UTC, up to ≈ \$0\.05/);
    expect(resumed.stderr).toMatch(new RegExp(`fluxgraph run --resume ${runId} --resubmit-ambiguous`));
    expect(emulator.stats().submissions.bfl).toBe(2);

    const show = await cli(['runs', 'show', runId], { cwd, env: env() });
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/cost \$0 \+ up to ≈ \$0\.10 unconfirmed/);
    expect(show.stdout.match(/\(no answer\)\s+\S+ \S+\s+ambiguous\s+up to ≈ \$0\.05 unconfirmed/g)).toHaveLength(2);

    const unconfirmed = await cli(['run', '--resume', runId, '--resubmit-ambiguous'], { cwd, env: env() });
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/may pay up to ≈ \$0\.10 a second time: confirm with --yes/);
    const overBudget = await cli(['run', '--resume', runId, '--resubmit-ambiguous', '--yes', '--budget', '0.05'], { cwd, env: env() });
    expect(overBudget.code).toBe(2);
    expect(overBudget.stderr).toMatch(/over the budget of \$0\.05; nothing was (sent|submitted)/);
    expect(emulator.stats().submissions.bfl).toBe(2);

    const again = await cli(['run', '--resume', runId, '--resubmit-ambiguous', '--yes', '--json'], { cwd, env: env() });
    expect(again.stderr).toMatch(/Sending 2 ambiguous submits of run .* again, with the run's own seeds.*up to ≈ \$0\.10/);
    expect(again.code).toBe(0);
    const tasks = emulator.tasks();
    expect(tasks).toHaveLength(4);
    // The same requests, with the run's own seeds: the emulator sees each request twice.
    expect(emulator.duplicateSubmissions().map((d) => d.count)).toEqual([2, 2]);
    const runs = JSON.parse((await cli(['runs', '--json'], { cwd, env: env() })).stdout) as { runId: string; costMicros: number; unconfirmedMicros: number; images: number; status: string }[];
    expect(runs.find((r) => r.runId === runId)).toMatchObject({ status: 'done', costMicros: 100_000, unconfirmedMicros: 100_000, images: 2 });
  });
});

describe('--resubmit-ambiguous on a terminal', () => {
  it('asks y/N: "n" sends nothing (exit 1), "y" sends exactly the ambiguous submits again', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(doc()));
    emulator.setFaults({ submit: { dropAfterAccept: 1 } });
    const first = await cli(['run', 'p.json', '--json', '--out', 'out'], { cwd, env: env() });
    const runId = (JSON.parse(first.stdout.split('\n')[0]) as { runId: string }).runId;
    emulator.setFaults({});
    expect(emulator.stats().submissions.bfl).toBe(2);
    const answer = (reply: string) => {
      let typed = false;
      return cliOnPty(['run', '--resume', runId, '--resubmit-ambiguous', '--json'], {
        cwd,
        env: env(),
        onOutput: (output, send) => {
          if (typed || !output.includes('Send them again? [y/N] ')) return;
          typed = true;
          send(`${reply}\r`);
        },
      });
    };
    const no = await answer('n');
    expect(no.output).toMatch(/Sending 2 ambiguous submits of run .* up to ≈ \$0\.10/);
    expect(no.output).toMatch(/Nothing was sent\./);
    expect(no.code).toBe(1);
    expect(emulator.stats().submissions.bfl).toBe(2);
    const yes = await answer('y');
    expect(yes.code).toBe(0);
    expect(emulator.stats().submissions.bfl).toBe(4);
    expect(emulator.duplicateSubmissions().map((d) => d.count)).toEqual([2, 2]);
  });
});
