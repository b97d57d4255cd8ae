/**
 * Kill -9 the CLI at several points of a run against an emulator it does not own, resume it, and
 * check that every image is produced and each unique request was submitted exactly once.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { cli, withoutProviderLines } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 300 });
});
afterAll(() => emulator.close());

const PIPELINE = {
  version: 1,
  name: 'resume-test',
  nodes: [
    { id: 'idea', type: 'prompt', params: { text: 'a harbour at night' } },
    // No seeds: a resume must reuse the seeds the interrupted run drew, or it would pay again.
    { id: 'drafts', type: 'flux-flex-generate', params: { width: 256, height: 256, count: 3, steps: 4 } },
    { id: 'refine', type: 'flux-max-refine', params: {} },
    { id: 'save', type: 'save-image', params: { template: 'final-{index}' } },
  ],
  edges: [
    { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
    { source: 'drafts', sourceHandle: 'images', target: 'refine', targetHandle: 'images' },
    { source: 'idea', sourceHandle: 'text', target: 'refine', targetHandle: 'prompt' },
    { source: 'refine', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
  ],
};

type KillWhen = (event: RunEvent, state: { submitted: number }) => boolean;

/** Drafts saved directly: once they are submitted, nothing else is ever on the wire. */
const DRAFTS_ONLY = {
  ...PIPELINE,
  nodes: [PIPELINE.nodes[0], PIPELINE.nodes[1], { id: 'save', type: 'save-image', params: { template: 'final-{index}' } }],
  edges: [PIPELINE.edges[0], { source: 'drafts', sourceHandle: 'images', target: 'save', targetHandle: 'images' }],
};

interface Scenario {
  name: string;
  latencyMs: number;
  pipeline: 'full' | 'drafts-only';
  faults?: Parameters<Emulator['setFaults']>[0];
  /** Decides from the CLI's events, or from what the emulator has seen, when to kill. */
  killOnEvent?: KillWhen;
  killWhenEmulator?: (e: Emulator) => boolean;
  /** Provider tasks the whole run needs. */
  tasks: number;
}

// A kill while a submit is on the wire is ambiguous by nature (it may have been paid), and a
// resume refuses to send it again; these kill points are chosen so that no submit is in flight.
const scenarios: Scenario[] = [
  // "Killed before anything was submitted" is now the pre-flight: URL references are fetched (and
  // checked) before the run is recorded, so a kill there leaves nothing to resume and nothing paid.
  {
    name: 'while every draft is pending',
    pipeline: 'full',
    latencyMs: 5000,
    killOnEvent: (e, s) => e.type === 'nodeProgress' && e.nodeId === 'drafts' && /: submitted$/.test(e.status ?? '') && ++s.submitted === 3,
    tasks: 6,
  },
  { name: 'after Ready but before the download', pipeline: 'full', latencyMs: 200, faults: { download: { delayMs: 10_000 } }, killWhenEmulator: (e) => e.stats().downloads.bfl > 0, tasks: 6 },
  { name: 'right after the first draft was downloaded', pipeline: 'drafts-only', latencyMs: 200, killOnEvent: (e) => e.type === 'itemDone' && e.nodeId === 'drafts', tasks: 3 },
];

describe('kill -9 and --resume', () => {
  it.each(scenarios)('$name: resumes, produces every image, pays each request once', async (sc) => {
    emulator.reset();
    emulator.setLatency(sc.latencyMs);
    emulator.setFaults(sc.faults ?? {});
    const cwd = tempDir();
    const pipeline = sc.pipeline === 'full' ? PIPELINE : DRAFTS_ONLY;
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(pipeline));
    const env = { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: 'resume-test-key' };
    let runId = '';
    const state = { submitted: 0 };
    let watcher: ReturnType<typeof setInterval> | undefined;
    const kill = (child: ChildProcess) => {
      clearInterval(watcher);
      child.kill('SIGKILL');
    };
    const first = await cli(['run', 'p.json', '--json', '--out', 'out'], {
      cwd,
      env,
      onLine: (line, child) => {
        const event = JSON.parse(line) as RunEvent;
        if (event.type === 'runStart') {
          runId = event.runId;
          if (sc.killWhenEmulator) watcher = setInterval(() => sc.killWhenEmulator!(emulator) && kill(child), 10);
        }
        if (sc.killOnEvent?.(event, state)) kill(child);
      },
    });
    expect(first.signal).toBe('SIGKILL');
    expect(runId).not.toBe('');

    emulator.setFaults({});
    emulator.setLatency(200);
    const resumed = await cli(['run', '--resume', runId, '--json'], { cwd, env });
    expect(withoutProviderLines(resumed.stderr)).toBe('');
    const done = resumed.stdout.trim().split('\n').map((l) => JSON.parse(l) as RunEvent).at(-1)!;
    expect(done).toMatchObject({ type: 'runDone', summary: { runId, failures: [], status: 'done' } });
    expect(resumed.code).toBe(0);
    expect(readdirSync(join(cwd, 'out')).filter((f) => f.endsWith('.jpg')).sort()).toEqual(['final-0.jpg', 'final-1.jpg', 'final-2.jpg']);
    expect(emulator.duplicateSubmissions()).toEqual([]);
    expect(emulator.stats().submissions.bfl).toBe(sc.tasks);
  });
});

describe('--resume on the embedded emulator', () => {
  it('remakes the tasks the stopped process was waiting on (they died with its emulator) and finishes', async () => {
    const cwd = tempDir();
    const doc = { ...DRAFTS_ONLY, nodes: DRAFTS_ONLY.nodes.map((n) => (n.id === 'drafts' ? { ...n, params: { ...n.params, count: 12 } } : n)) };
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(doc));
    let runId = '';
    const first = await cli(['run', 'p.json', '--json', '--out', 'out', '--concurrency', 'bfl=2'], {
      cwd,
      onLine: (line, child) => {
        const event = JSON.parse(line) as RunEvent;
        if (event.type === 'runStart') runId = event.runId;
        if (event.type === 'itemDone' && event.nodeId === 'drafts') child.kill('SIGINT');
      },
    });
    expect(first.code).toBe(130);
    const resumed = await cli(['run', '--resume', runId, '--json'], { cwd });
    const done = resumed.stdout.trim().split('\n').map((l) => JSON.parse(l) as RunEvent).at(-1)!;
    expect(done).toMatchObject({ type: 'runDone', summary: { runId, failures: [], status: 'done' } });
    expect(readdirSync(join(cwd, 'out')).filter((f) => f.endsWith('.jpg'))).toHaveLength(12);
  });

  it('refuses options that would change the requests of the run being resumed', async () => {
    const r = await cli(['run', '--resume', 'whatever', '--provider', 'kie']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--resume whatever: --provider cannot change a run being resumed/);
  });
});
