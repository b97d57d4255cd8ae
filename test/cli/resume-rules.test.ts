/**
 * What `run --resume` and `runs` promise a user: runs made on the embedded emulator are marked;
 * a finished run is already done (exit 0, nothing started, nothing spent); a pipeline file next
 * to --resume is a usage error (the stored pipeline runs); a resume keeps the run's --no-cache;
 * a run another process still holds is not resumed twice. The CLI as a child process, the real
 * ledger, an emulator over HTTP (or the embedded one where that is the point).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { cli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 200 });
});
afterAll(() => emulator.close());
beforeEach(() => {
  emulator.reset();
  emulator.setLatency(200);
});
const env = () => ({ BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: 'resume-rules-key' });

const doc = (count = 2) => ({
  version: 1,
  name: 'rules',
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'a red door' } },
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, count, steps: 4, seed: 21 } },
    { id: 'save', type: 'save-image', params: { template: '{run}/{node}-{index}' } },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
});

function project(count = 2): string {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'p.json'), JSON.stringify(doc(count)));
  return cwd;
}
const runIdOf = (stdout: string) => (JSON.parse(stdout.split('\n')[0]) as { runId: string }).runId;

describe('fluxgraph runs', () => {
  it('marks the runs made on the embedded emulator, and only those', async () => {
    const cwd = project();
    const embedded = runIdOf((await cli(['run', 'p.json', '--json', '--out', 'out'], { cwd })).stdout);
    const real = runIdOf((await cli(['run', 'p.json', '--json', '--out', 'out', '--set', 'drafts.seed=5'], { cwd, env: env() })).stdout);
    const table = await cli(['runs'], { cwd });
    expect(table.code).toBe(0);
    const line = (id: string) => table.stdout.split('\n').find((l) => l.startsWith(id)) ?? '';
    expect(line(embedded)).toMatch(/\[emulator\]$/);
    expect(line(real)).not.toMatch(/emulator/);
    expect(table.stdout).toMatch(/\[emulator\]: made on the embedded emulator/);
    const listed = JSON.parse((await cli(['runs', '--json'], { cwd })).stdout) as { runId: string; emulator: boolean }[];
    expect(Object.fromEntries(listed.map((r) => [r.runId, r.emulator]))).toEqual({ [embedded]: true, [real]: false });
    expect((await cli(['runs', 'show', embedded], { cwd })).stdout).toMatch(/: done, on the embedded emulator, started/);
  });
});

describe('run --resume', () => {
  it('of a finished run says it is already done, exits 0 and starts nothing', async () => {
    const cwd = project();
    const runId = runIdOf((await cli(['run', 'p.json', '--json', '--out', 'out'], { cwd, env: env() })).stdout);
    const submitted = emulator.stats().submissions.bfl;
    const again = await cli(['run', '--resume', runId], { cwd, env: env() });
    expect(again.code).toBe(0);
    expect(again.stderr).toBe(`Run ${runId} is already done (2 images, cost $0.10); nothing to resume, nothing was spent.\n`);
    expect(again.stdout).toBe('');
    expect(emulator.stats().submissions.bfl).toBe(submitted);
    // Without keys: no embedded emulator is started for it either.
    const embedded = runIdOf((await cli(['run', 'p.json', '--json', '--out', 'out', '--set', 'drafts.seed=3'], { cwd })).stdout);
    const quiet = await cli(['run', '--resume', embedded], { cwd });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toMatch(/embedded emulator at/);
  });

  it('of a run another process is still working on is refused (exit 2), never run twice at once', async () => {
    const cwd = project();
    // Its tasks never finish while the resume is tried: the run is surely still live.
    emulator.setLatency(60_000);
    let answer: Awaited<ReturnType<typeof cli>> | undefined;
    const first = await cli(['run', 'p.json', '--json', '--out', 'out'], {
      cwd,
      env: env(),
      onLine: (line, child) => {
        const e = JSON.parse(line) as RunEvent;
        if (e.type === 'runStart')
          void cli(['run', '--resume', e.runId], { cwd, env: env() }).then((r) => {
            answer = r;
            child.kill('SIGINT');
          });
      },
    });
    expect(first.code).toBe(130);
    if (!answer) throw new Error('the resume never answered');
    expect(answer.code).toBe(2);
    expect(answer.stderr).toMatch(/the run is still running \(another fluxgraph process holds it\)/);
    expect(emulator.stats().submissions.bfl).toBe(2);
  });

  it('with a pipeline file is a usage error (exit 2), even when the file is the one the run started with', async () => {
    const cwd = project();
    const runId = runIdOf((await cli(['run', 'p.json', '--json', '--out', 'out'], { cwd, env: env() })).stdout);
    const r = await cli(['run', 'p.json', '--resume', runId], { cwd, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`--resume ${runId} runs the pipeline stored with that run: leave out "p.json"`));
  });

  it('keeps the --no-cache of the run it continues: the stored results of other runs are not taken', async () => {
    const cwd = project(3);
    // A first run stores the three drafts.
    expect((await cli(['run', 'p.json', '--json', '--out', 'out'], { cwd, env: env() })).code).toBe(0);
    expect(emulator.stats().submissions.bfl).toBe(3);
    // A --no-cache run is stopped after its first submit (one lane slot).
    emulator.setLatency(1_500);
    let stopped = false;
    const second = await cli(['run', 'p.json', '--json', '--out', 'out', '--no-cache', '--concurrency', 'bfl=1'], {
      cwd,
      env: env(),
      onLine: (line, child) => {
        const e = JSON.parse(line) as RunEvent;
        if (!stopped && e.type === 'nodeProgress' && /: submitted$/.test(e.status ?? '')) {
          stopped = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(second.code).toBe(130);
    expect(emulator.stats().submissions.bfl).toBe(4);
    emulator.setLatency(200);
    const resumed = await cli(['run', '--resume', runIdOf(second.stdout), '--json'], { cwd, env: env() });
    expect(resumed.code).toBe(0);
    // The other two drafts are made anew, not taken from the first run.
    expect(emulator.stats().submissions.bfl).toBe(6);
    const done = resumed.stdout.trim().split('\n').map((l) => JSON.parse(l) as RunEvent).at(-1)!;
    expect(done).toMatchObject({ type: 'runDone', summary: { status: 'done', shared: 0, providerCalls: 3 } });
  });
});
